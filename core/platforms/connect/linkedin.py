"""LinkedIn: OAuth 2.0; the account is the member, or an organization they administer."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from core.platforms import http as h
from core.platforms import linkedin
from core.platforms.connect.base import Grant, NewAccount


def authorization_url(grant: Grant, params: dict[str, str], challenge: str) -> str:
    s = grant.settings
    scope = linkedin.ORG_SCOPES if grant.extra.get("organization") else linkedin.SCOPES
    params |= {"client_id": s.linkedin_client_id or "", "scope": scope}
    return f"{s.linkedin_auth_url.rstrip('/')}/authorization?{urlencode(params)}"


def exchange(grant: Grant, code: str, verifier: str) -> list[NewAccount]:
    s = grant.settings
    tokens = linkedin.token_request(
        s, {"grant_type": "authorization_code", "code": code, "redirect_uri": grant.redirect}
    )
    token = str(tokens["access_token"])
    with h.client(s.linkedin_api_url, headers=linkedin.headers(token)) as http:
        me = h.body(h.send(http, "LinkedIn", "GET", "/v2/userinfo"))
    org = grant.extra.get("organization")
    author = f"urn:li:organization:{org}" if org else f"urn:li:person:{me['sub']}"
    name = f"{me.get('name', 'member')} (organization {org})" if org else str(me.get("name"))
    creds = {
        "access_token": token,
        "refresh_token": tokens.get("refresh_token"),
        "author": author,
    }
    seconds = tokens.get("expires_in")
    expires = grant.now + timedelta(seconds=int(seconds)) if seconds else None
    return [NewAccount(author, name, creds, expires)]
