"""Mastodon: OAuth 2.0 with PKCE against the person's own instance, where Herald registers
itself as an app on first use (the flow keeps the app, sealed)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from core.platforms import http as h
from core.platforms import mastodon as masto
from core.platforms.connect.base import Grant, NewAccount, OAuthError
from core.settings import Settings
from core.ssrf import SafeFetcher


def register_app(
    fetcher: SafeFetcher, settings: Settings, instance: str, redirect: str
) -> tuple[str, str]:
    """Register Herald on `instance`: its client id and secret."""
    form = {
        "client_name": "Herald",
        "redirect_uris": redirect,
        "scopes": masto.SCOPES,
        "website": settings.public_url,
    }
    with h.client(instance, guard=fetcher) as http:
        response = h.send(http, "Mastodon", "POST", "/api/v1/apps", data=form)
    if not response.is_success:
        raise OAuthError(f"{instance} refused to register Herald (HTTP {response.status_code}).")
    data = h.body(response)
    if not data.get("client_id") or not data.get("client_secret"):
        raise OAuthError(f"{instance} did not answer as a Mastodon server does; check the address.")
    return str(data["client_id"]), str(data["client_secret"])


def authorization_url(grant: Grant, params: dict[str, str], challenge: str) -> str:
    client_id, _ = grant.client
    params |= {
        "client_id": client_id,
        "scope": masto.SCOPES,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{grant.extra['instance']}/oauth/authorize?{urlencode(params)}"


def exchange(grant: Grant, code: str, verifier: str) -> list[NewAccount]:
    instance = str(grant.extra["instance"])
    client_id, client_secret = grant.client
    with h.client(instance, guard=grant.fetcher) as http:
        response = h.send(
            http,
            "Mastodon",
            "POST",
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": grant.redirect,
                "code_verifier": verifier,
                "scope": masto.SCOPES,
            },
        )
        if not response.is_success:
            raise OAuthError(f"{instance} refused the authorization code.")
        token = str(response.json()["access_token"])
        me = h.body(
            h.send(
                http,
                "Mastodon",
                "GET",
                "/api/v1/accounts/verify_credentials",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
    host = urlsplit(instance).netloc
    handle = f"@{me['username']}@{host}"
    creds = {"instance": instance, "access_token": token, "id": str(me["id"])}
    return [NewAccount(handle.lstrip("@"), handle, creds, None)]
