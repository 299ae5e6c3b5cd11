"""A push receiver for the Graph emulator's subscriptions: echoes validation tokens, records notifications."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from mirrorcal.testing.emulator import Emulator


class Receiver(Emulator):
    """Serves ``/notify`` (and ``/lifecycle``); ``echo=False`` makes it fail the validation handshake."""

    def __init__(self) -> None:
        super().__init__()
        self.echo = True
        self.validations = 0
        self.received: list[dict[str, Any]] = []

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/notify", self._notify, methods=["POST"]),
            Route("/lifecycle", self._notify, methods=["POST"]),
        ]

    async def _notify(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.validations += 1
            return PlainTextResponse(token if self.echo else "nope")
        body = await request.json()
        with self.lock:
            self.received.extend(body.get("value") or [])
        return Response(status_code=202)

    def url(self, path: str = "/notify") -> str:
        return self.base_url + path
