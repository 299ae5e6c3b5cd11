"""iCloud's CalDAV front door for tests and the demo: sign-in and discovery, calendars on a "partition" server.

Real iCloud answers ``https://caldav.icloud.com/`` with the user's ``current-user-principal``
and sends the calendars to a partition host (``pNN-caldav.icloud.com``) named by the
principal's ``calendar-home-set``. ``IcloudFrontDoor`` plays caldav.icloud.com on its own
127.0.0.1 port; the partition is any CalDAV server on another port (the tests use Radicale),
which to the client is another host. Like iCloud it accepts only Basic auth with the Apple ID
and an *app-specific* password: the normal Apple ID password, or anything else, gets 401.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .emulator import Emulator

_MULTISTATUS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">{body}</multistatus>'
)


def _response(href: str, props: str) -> str:
    return (
        f"<response><href>{escape(href)}</href><propstat><prop>{props}</prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></response>"
    )


class IcloudFrontDoor(Emulator):
    """caldav.icloud.com on 127.0.0.1: discovery points at ``partition_url`` + ``/{user}/``.

    ``partition_url`` is the CalDAV server holding the calendars (no trailing slash), ``user``
    the collection owner there whose home set holds them. The front door serves ``/`` (and
    ``/.well-known/caldav``, redirecting to ``/``) with ``current-user-principal``. By default
    the principal is on the front door (``/{dsid}/principal/``, as on iCloud) and its
    ``calendar-home-set`` is the absolute partition URL; with ``principal_on_partition`` the
    principal itself is the partition's ``/{user}/``. ``requests`` counts answered requests by
    path, ``refused`` the 401s. ``apple_id``/``app_password`` sign in; ``account_password`` is
    the "normal" Apple ID password, which is refused like any other.
    """

    def __init__(
        self,
        partition_url: str,
        user: str,
        *,
        apple_id: str = "recruiter@icloud.example",
        app_password: str = "abcd-efgh-ijkl-mnop",
        account_password: str = "Correct-Horse-1",
        dsid: str = "10000001",
        principal_on_partition: bool = False,
        port: int = 0,
    ) -> None:
        super().__init__(port=port, subject=apple_id)
        self.partition_url = partition_url.rstrip("/")
        self.user = user
        self.apple_id = apple_id
        self.app_password = app_password
        self.account_password = account_password
        self.dsid = dsid
        self.principal_on_partition = principal_on_partition
        self.requests: Counter[str] = Counter()
        self.refused = 0

    @property
    def url(self) -> str:
        """Where discovery starts (like ``https://caldav.icloud.com/``)."""
        return self.base_url + "/"

    @property
    def home_url(self) -> str:
        return f"{self.partition_url}/{self.user}/"

    @property
    def principal_path(self) -> str:
        return f"/{self.dsid}/principal/"

    def routes(self) -> list[BaseRoute]:
        methods = ["PROPFIND", "OPTIONS", "GET"]
        return [
            Route("/", self._root, methods=methods),
            Route("/.well-known/caldav", self._well_known, methods=methods),
            Route("/{dsid}/principal/", self._principal, methods=methods),
        ]

    # ----------------------------------------------------------------- sign-in

    def _signed_in(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.apple_id and password == self.app_password

    def unauthorized(self, request: Request) -> Response:
        with self.lock:
            self.refused += 1
        return Response(
            "<html><body>Unauthorized</body></html>",
            401,
            media_type="text/html",
            headers={"WWW-Authenticate": 'Basic realm="p00-caldav.icloud.com"'},
        )

    async def _gate(self, request: Request) -> Response | None:
        """None to go on; the 401 for a bad sign-in or the OPTIONS answer otherwise."""
        if not self._signed_in(request):
            return self.unauthorized(request)
        with self.lock:
            self.requests[request.url.path] += 1
        if request.method == "OPTIONS":
            dav = {"DAV": "1, 3, access-control, calendar-access", "Allow": "OPTIONS, PROPFIND"}
            return Response(status_code=200, headers=dav)
        if request.method != "PROPFIND":
            return Response(status_code=405, headers={"Allow": "OPTIONS, PROPFIND"})
        return None

    # ----------------------------------------------------------------- routes

    async def _well_known(self, request: Request) -> Response:
        return RedirectResponse("/", status_code=301)

    async def _root(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        principal = f"{self.partition_url}/{self.user}/" if self.principal_on_partition else self.principal_path
        props = (
            "<resourcetype><collection/></resourcetype>"
            f"<current-user-principal><href>{escape(principal)}</href></current-user-principal>"
        )
        return _multistatus(_response("/", props))

    async def _principal(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        if request.path_params["dsid"] != self.dsid:
            return Response(status_code=403)
        props = (
            "<resourcetype><principal/><collection/></resourcetype>"
            f"<displayname>{escape(self.apple_id)}</displayname>"
            f"<current-user-principal><href>{escape(self.principal_path)}</href></current-user-principal>"
            f"<C:calendar-home-set><href>{escape(self.home_url)}</href></C:calendar-home-set>"
        )
        return _multistatus(_response(self.principal_path, props))


def _multistatus(body: str) -> Response:
    return Response(_MULTISTATUS.format(body=body), 207, media_type="application/xml; charset=utf-8")
