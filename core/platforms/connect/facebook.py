"""Facebook: OAuth 2.0; one account per Page the person shared, each with a lasting Page token."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from core.platforms import http as h
from core.platforms.connect.base import Grant, NewAccount, OAuthError
from core.platforms.facebook import SCOPES


def authorization_url(grant: Grant, params: dict[str, str], challenge: str) -> str:
    s = grant.settings
    params |= {"client_id": s.facebook_app_id or "", "scope": SCOPES}
    return f"{s.facebook_auth_url}?{urlencode(params)}"


def exchange(grant: Grant, code: str, verifier: str) -> list[NewAccount]:
    s = grant.settings
    secret = s.facebook_app_secret.get_secret_value() if s.facebook_app_secret else ""
    app = {"client_id": s.facebook_app_id or "", "client_secret": secret}
    with h.client(s.facebook_api_url) as http:
        code_grant = {**app, "redirect_uri": grant.redirect, "code": code}
        user_token = _access_token(http, code_grant, "Facebook refused the authorization code.")
        # Page tokens read with a short-lived user token expire within hours; with a
        # long-lived one they do not expire, which is what a scheduler needs.
        extend = {**app, "grant_type": "fb_exchange_token", "fb_exchange_token": user_token}
        refusal = "Facebook refused to extend the login; try connecting again."
        user_token = _access_token(http, extend, refusal)
        pages = (
            h.body(
                h.send(
                    http,
                    "Facebook",
                    "GET",
                    "/me/accounts",
                    headers={"Authorization": f"Bearer {user_token}"},
                )
            ).get("data")
            or []
        )
    if not pages:
        raise OAuthError("No Facebook Page was shared with Herald; pick at least one Page.")
    return [
        NewAccount(
            str(p["id"]), str(p.get("name") or p["id"]), {"page_token": p["access_token"]}, None
        )
        for p in pages
    ]


def _access_token(http: httpx.Client, params: dict[str, str], refusal: str) -> str:
    response = h.send(http, "Facebook", "GET", "/oauth/access_token", params=params)
    if not response.is_success:
        raise OAuthError(refusal)
    return str(response.json()["access_token"])
