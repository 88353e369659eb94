"""LinkedIn Posts API (versioned `/rest`): member and organization authors, images.

LinkedIn's commentary is "little text": reserved characters must be backslash-escaped or the
post is silently cut at the first one. Herald escapes everything but hashtags (`#word`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.errors import (
    CannotCheck,
    ContentRejected,
    Duplicate,
    RateLimited,
    TokenExpired,
    Transient,
)
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import Published, PublishRequest

VERSION = "202605"
SCOPES = "openid profile w_member_social"
ORG_SCOPES = "openid profile w_member_social w_organization_social"
PAGE = 100  # the most posts LinkedIn lists at once
_RESERVED = re.compile(r"[|{}@\[\]()<>\\*_~]|#(?!\w)")


def escape(text: str) -> str:
    """Backslash-escape LinkedIn's reserved characters; `#tag` stays a hashtag."""
    return _RESERVED.sub(lambda m: "\\" + m.group(0), text)


# LinkedIn returns hashtags in its template form, `{hashtag|\#|word}`.
_HASHTAG = re.compile(r"\{hashtag\|\\?#\|([^}]*)\}")
_ESCAPED = re.compile(r"\\(.)")


def unescape(commentary: str) -> str:
    """Commentary as LinkedIn returns it, back to the text a person wrote."""
    return _ESCAPED.sub(r"\1", _HASHTAG.sub(r"#\1", commentary))


def post_url(urn: str) -> str:
    """The same link whether Herald posted it or found it (LinkedIn's own form, URN as is)."""
    return f"https://www.linkedin.com/feed/update/{urn}/"


def headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": VERSION,
        "X-Restli-Protocol-Version": "2.0.0",
    }


def _next_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)


class LinkedInPublisher(AccountPublisher):
    network = "linkedin"

    def _client(self, account: Account) -> Any:
        return h.client(
            self.hub.settings.linkedin_api_url,
            headers=headers(str(account.credentials["access_token"])),
        )

    def _check(self, account: Account, response: httpx.Response, what: str) -> dict[str, Any]:
        now = self.hub.clock()
        data = h.body(response)
        if response.is_success:
            return data
        message = h.plain(data.get("message") or "")
        status = response.status_code
        if status == 401:
            raise TokenExpired("the LinkedIn access token expired or was revoked; reconnect")
        if status == 403:
            raise TokenExpired(
                "LinkedIn did not allow posting as this author (missing permission); reconnect"
            )
        if status == 429:
            # Daily quotas reset at midnight UTC when LinkedIn does not say otherwise.
            until = h.retry_after(response.headers.get("retry-after"), now) or _next_midnight(
                now.astimezone(UTC)
            )
            raise RateLimited("LinkedIn's daily limit for this app or member is used up", until)
        if status == 422 and "duplicate" in message.lower():
            raise Duplicate("LinkedIn refuses duplicate posts: this text is already there")
        if status in (400, 413, 422):
            raise ContentRejected(f"LinkedIn refused the {what}: {message or 'invalid'}")
        h.generic("LinkedIn", response, now, message)
        raise Transient(f"LinkedIn answered HTTP {status}")

    def _upload(self, http: httpx.Client, account: Account, item: dict[str, Any]) -> str:
        author = account.credentials["author"]
        response = h.send(
            http,
            "LinkedIn",
            "POST",
            "/rest/images",
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": author}},
        )
        value = self._check(account, response, "image")["value"]
        data = self.hub.media.get(str(item["key"]))
        put = h.send(
            http,
            "LinkedIn",
            "PUT",
            str(value["uploadUrl"]),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._check(account, put, "image")
        return str(value["image"])

    def post(self, account: Account, request: PublishRequest) -> Published:
        author = account.credentials["author"]
        payload: dict[str, Any] = {
            "author": author,
            "commentary": escape(request.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        with self._client(account) as http:
            if request.media:
                item = request.media[0]
                image = self._upload(http, account, item)
                payload["content"] = {"media": {"id": image, "altText": str(item.get("alt") or "")}}
            response = h.send(http, "LinkedIn", "POST", "/rest/posts", json=payload)
            self._check(account, response, "post")
        urn = response.headers.get("x-restli-id")
        if not urn:
            raise Transient("LinkedIn accepted the post but did not say its id")
        return Published(external_id=urn, url=post_url(urn))

    def lookup(self, account: Account, request: PublishRequest) -> Published | None:
        """Our post among the author's, newest first, back to `request.since`."""
        author = str(account.credentials["author"])
        if author.startswith("urn:li:person:"):
            # Reading a member's own posts needs r_member_social, which LinkedIn grants to
            # few apps: Herald asks a person instead of posting again blindly.
            raise CannotCheck("LinkedIn doesn't let Herald read a member's posts")
        wanted = h.comparable(request.text)
        params = {
            "author": author,
            "q": "author",
            "count": str(PAGE),
            "sortBy": "CREATED",
        }
        with self._client(account) as http:
            for page in range(h.MAX_LOOKUP_PAGES if request.since else 1):
                params["start"] = str(page * PAGE)
                response = h.send(http, "LinkedIn", "GET", "/rest/posts", params=params)
                elements = self._check(account, response, "lookup").get("elements") or []
                for element in elements:
                    if h.comparable(unescape(str(element.get("commentary") or ""))) == wanted:
                        urn = str(element["id"])
                        return Published(urn, post_url(urn))
                last = elements[-1].get("createdAt") if elements else None
                if len(elements) < PAGE or h.older_than(last, request.since):
                    return None
        raise h.LookupIncomplete("LinkedIn")

    def can_renew(self, account: Account) -> bool:
        return bool(account.credentials.get("refresh_token"))

    def renew(self, credentials: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
        tokens = token_request(
            self.hub.settings,
            {"grant_type": "refresh_token", "refresh_token": str(credentials["refresh_token"])},
        )
        fresh = {
            **credentials,
            "access_token": tokens["access_token"],
            "refresh_token": tokens.get("refresh_token") or credentials.get("refresh_token"),
        }
        seconds = tokens.get("expires_in")
        return fresh, self.hub.clock() + timedelta(seconds=int(seconds)) if seconds else None


def token_request(settings: Any, form: dict[str, str]) -> dict[str, Any]:
    """POST {linkedin_auth_url}/accessToken: code exchange or refresh."""
    secret = settings.linkedin_client_secret
    with h.client(settings.linkedin_auth_url) as http:
        response = h.send(
            http,
            "LinkedIn",
            "POST",
            "/accessToken",
            data={
                **form,
                "client_id": settings.linkedin_client_id or "",
                "client_secret": secret.get_secret_value() if secret else "",
            },
        )
    if response.status_code in (400, 401):
        raise TokenExpired("LinkedIn refused the token request; reconnect LinkedIn")
    if not response.is_success:
        raise Transient(f"LinkedIn's token endpoint answered HTTP {response.status_code}")
    return h.body(response)
