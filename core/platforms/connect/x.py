"""X: OAuth 2.0 with PKCE; the account is the user the token belongs to."""

from __future__ import annotations

from urllib.parse import urlencode

from core.platforms import http as h
from core.platforms import x
from core.platforms.connect.base import Grant, NewAccount


def authorization_url(grant: Grant, params: dict[str, str], challenge: str) -> str:
    s = grant.settings
    params |= {
        "client_id": s.x_client_id or "",
        "scope": x.SCOPES,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{s.x_auth_url}?{urlencode(params)}"


def exchange(grant: Grant, code: str, verifier: str) -> list[NewAccount]:
    s = grant.settings
    tokens = x.token_request(
        s,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": grant.redirect,
            "code_verifier": verifier,
        },
    )
    creds = x.tokens_to_credentials(tokens, {})
    with h.client(
        s.x_api_url, headers={"Authorization": f"Bearer {creds['access_token']}"}
    ) as http:
        me = h.body(h.send(http, "X", "GET", "/2/users/me"))["data"]
    return [NewAccount(str(me["id"]), f"@{me['username']}", creds, x.expiry(tokens, grant.now))]
