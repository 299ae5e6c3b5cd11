"""OAuth 2 sign-in, refresh and bearer auth against the emulators' shared authority on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mirrorcal.errors import AuthError, NeedsReauthError
from mirrorcal.oauth import (
    BearerAuth,
    OAuthClient,
    TokenSource,
    authorization_request,
    endpoints_for,
    exchange_code,
    sign_in_via_loopback,
)
from mirrorcal.testing.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator

CLIENT = OAuthClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)


class TinyProvider(Emulator):
    """The shared authority at Microsoft's paths plus one protected API route."""

    def routes(self) -> list[BaseRoute]:
        async def me(request: Request) -> Response:
            return await self.authorize(request) or JSONResponse({"mail": self.oauth.subject})

        return [
            Route("/common/oauth2/v2.0/authorize", self.oauth.authorize_endpoint),
            Route("/common/oauth2/v2.0/token", self.oauth.token_endpoint, methods=["POST"]),
            Route("/v1.0/me", me),
        ]


@pytest.fixture(scope="module")
def provider() -> Iterator[TinyProvider]:
    with TinyProvider() as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def browser(http: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    """A browser that follows the sign-in URL to the loopback redirect (the user consents)."""

    async def open_url(url: str) -> None:
        response = await http.get(url, follow_redirects=True)
        assert response.status_code == 200, response.text
        assert "Signed in" in response.text

    return open_url


async def test_loopback_sign_in_with_pkce(provider: TinyProvider, http: httpx.AsyncClient) -> None:
    endpoints = endpoints_for("microsoft", provider.base_url)
    tokens = await sign_in_via_loopback(http, endpoints, CLIENT, browser(http), wait_seconds=10)
    assert tokens.refresh_token and tokens.access_token
    me = await http.get(f"{provider.base_url}/v1.0/me", headers={"Authorization": f"Bearer {tokens.access_token}"})
    assert me.json() == {"mail": provider.oauth.subject}


async def test_sign_in_url_carries_pkce_and_scopes(provider: TinyProvider) -> None:
    request = authorization_request(endpoints_for("google", provider.base_url), CLIENT, "http://127.0.0.1:1/callback")
    query = httpx.URL(request.url).params
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["access_type"] == "offline" and "calendar.events" in query["scope"]
    assert query["state"] == request.state and request.code_verifier not in request.url


async def test_wrong_verifier_and_wrong_state_are_refused(provider: TinyProvider, http: httpx.AsyncClient) -> None:
    endpoints = endpoints_for("microsoft", provider.base_url)
    request = authorization_request(endpoints, CLIENT, "http://127.0.0.1:9/callback")
    redirect = (await http.get(request.url)).headers["location"]
    with pytest.raises(AuthError, match="invalid callback"):
        await exchange_code(http, endpoints, CLIENT, request, redirect.replace(request.state, "forged"))
    tampered = type(request)(request.url, request.state, "x" * 64, request.redirect_uri)
    with pytest.raises(AuthError, match="PKCE"):
        await exchange_code(http, endpoints, CLIENT, tampered, redirect)


async def test_refused_consent_is_a_clear_error(provider: TinyProvider, http: httpx.AsyncClient) -> None:
    provider.oauth.deny = True
    try:
        with pytest.raises(AuthError, match="access_denied"):

            async def open_url(url: str) -> None:
                await http.get(url, follow_redirects=True)

            await sign_in_via_loopback(http, endpoints_for("microsoft", provider.base_url), CLIENT, open_url, wait_seconds=10)
    finally:
        provider.oauth.deny = False


async def test_bearer_refreshes_after_401_and_stores_rotated_tokens(provider: TinyProvider) -> None:
    endpoints = endpoints_for("microsoft", provider.base_url)
    provider.oauth.rotate_refresh_tokens = True
    rotated: list[str] = []
    source = TokenSource(
        endpoints=endpoints, client=CLIENT, refresh_token=provider.oauth.issue_refresh_token(), on_rotated=rotated.append
    )
    try:
        async with httpx.AsyncClient(auth=BearerAuth(source), timeout=10) as api:
            assert (await api.get(f"{provider.base_url}/v1.0/me")).status_code == 200
            provider.oauth.expire_access_tokens()  # e.g. the provider restarted
            assert (await api.get(f"{provider.base_url}/v1.0/me")).status_code == 200
        assert source.refreshes == 2 and len(rotated) == 2 and source.refresh_token == rotated[-1]
    finally:
        provider.oauth.rotate_refresh_tokens = False
        await source.aclose()


async def test_revoked_refresh_token_needs_reauthorisation(provider: TinyProvider) -> None:
    told: list[str] = []
    source = TokenSource(
        endpoints=endpoints_for("microsoft", provider.base_url),
        client=CLIENT,
        refresh_token=provider.oauth.issue_refresh_token(),
        on_revoked=told.append,
        name="client-a",
    )
    try:
        async with httpx.AsyncClient(auth=BearerAuth(source), timeout=10) as api:
            assert (await api.get(f"{provider.base_url}/v1.0/me")).status_code == 200
            provider.oauth.expire_access_tokens()
            provider.oauth.revoke_refresh_tokens()
            with pytest.raises(NeedsReauthError, match="sign in again"):
                await api.get(f"{provider.base_url}/v1.0/me")
            calls = provider.oauth.requests["token:refresh_token"]
            with pytest.raises(NeedsReauthError):  # no second attempt at the provider
                await api.get(f"{provider.base_url}/v1.0/me")
            assert provider.oauth.requests["token:refresh_token"] == calls
        assert len(told) == 1 and "sign in again" in told[0]
    finally:
        await source.aclose()


async def test_fixed_access_token_gets_no_refresh(provider: TinyProvider) -> None:
    source = TokenSource(access_token="at-bogus")
    async with httpx.AsyncClient(auth=BearerAuth(source), timeout=10) as api:
        response = await api.get(f"{provider.base_url}/v1.0/me")
    assert response.status_code == 401 and source.refreshes == 0
