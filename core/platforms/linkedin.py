"""LinkedIn Posts API (versioned `/rest`): member and organization authors, images, and an
organization's posts' figures read back.

LinkedIn's commentary is "little text": reserved characters must be backslash-escaped or the
post is silently cut at the first one. Herald escapes everything but hashtags (`#word`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

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
from core.ports import FiguresRequest, Published, PublishRequest, Reading

log = logging.getLogger(__name__)

VERSION = "202605"
SCOPES = "openid profile w_member_social"
# r_organization_social reads the page's likes and comments (socialActions);
# rw_organization_admin its posts' impressions and clicks (organizationalEntityShareStatistics).
ORG_SCOPES = (
    "openid profile w_member_social w_organization_social r_organization_social "
    "rw_organization_admin"
)
PAGE = 100  # the most posts LinkedIn lists at once
BATCH = 50  # the most posts one figures read names (the URL stays well under 4 KB)
# Share statistics name a post by its kind: `shares=List(…)` or `ugcPosts=List(…)`.
STATISTICS_KINDS = {
    "urn:li:share:": ("shares", "share"),
    "urn:li:ugcPost:": ("ugcPosts", "ugcPost"),
}
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

    # --- figures ---------------------------------------------------------------------------

    def figures(self, account: Account, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """An organization's posts: impressions, clicks, likes, comments and reposts from its
        share statistics (50 posts a request); posts those leave out (older than LinkedIn's
        12 months, a refused `rw_organization_admin`, a deleted post) get likes and comments
        from `socialActions`, where a post LinkedIn no longer has is gone. A member's posts
        are not read: that needs `r_member_social`, which LinkedIn grants to few apps."""
        author = str(account.credentials["author"])
        if not author.startswith("urn:li:organization:"):
            return {}
        read: dict[int, Reading] = {}
        with self._client(account) as http:
            stats = self._statistics(http, account, author, [r.external_id for r in requests])
            others = [r.external_id for r in requests if r.external_id not in stats]
            social = self._social_actions(http, account, others)
            gone = {urn for urn, reading in social.items() if reading.gone}
            # A batch with a deleted post in it is refused whole: read the rest again.
            retry = [urn for urn in others if urn not in gone and urn in social]
            if gone and retry:
                stats.update(self._statistics(http, account, author, retry))
        for request in requests:
            reading = stats.get(request.external_id) or social.get(request.external_id)
            if reading is not None:
                read[request.target_id] = reading
        return read

    def _statistics(
        self, http: httpx.Client, account: Account, org: str, urns: list[str]
    ) -> dict[str, Reading]:
        """`organizationalEntityShareStatistics` for these posts (lifetime, organic)."""
        read: dict[str, Reading] = {}
        for prefix, (parameter, key) in STATISTICS_KINDS.items():
            kind = list(dict.fromkeys(u for u in urns if u.startswith(prefix)))
            for batch in h.batches(kind, BATCH):
                query = (
                    f"q=organizationalEntity&organizationalEntity={quote(org, safe='')}"
                    f"&{parameter}=List({','.join(quote(u, safe='') for u in batch)})"
                )
                response = h.send(
                    http, "LinkedIn", "GET", f"/rest/organizationalEntityShareStatistics?{query}"
                )
                if response.status_code in (400, 403):
                    # Without rw_organization_admin, or a post LinkedIn won't tell about.
                    log.info(
                        "LinkedIn share statistics refused for account %s: HTTP %s",
                        account.id,
                        response.status_code,
                    )
                    continue
                for element in self._read_check(response).get("elements") or []:
                    urn = str(element.get(key) or "")
                    if urn in batch:
                        read[urn] = _statistics_reading(element.get("totalShareStatistics") or {})
        return read

    def _social_actions(
        self, http: httpx.Client, account: Account, urns: list[str]
    ) -> dict[str, Reading]:
        """`socialActions` batch get: likes and comments; a post answered 404 is gone."""
        read: dict[str, Reading] = {}
        for batch in h.batches(list(dict.fromkeys(urns)), BATCH):
            ids = ",".join(quote(u, safe="") for u in batch)
            response = h.send(http, "LinkedIn", "GET", f"/rest/socialActions?ids=List({ids})")
            if response.status_code == 403:  # without r_organization_social
                log.info("LinkedIn social actions refused for account %s", account.id)
                continue
            data = self._read_check(response)
            results = {unquote(k): v for k, v in (data.get("results") or {}).items()}
            errors = {unquote(k): v for k, v in (data.get("errors") or {}).items()}
            statuses = {unquote(k): v for k, v in (data.get("statuses") or {}).items()}
            for urn in batch:
                if isinstance(results.get(urn), dict):
                    read[urn] = _social_reading(results[urn])
                elif statuses.get(urn) == 404 or (errors.get(urn) or {}).get("status") == 404:
                    read[urn] = Reading(gone=True)
        return read

    def _read_check(self, response: httpx.Response) -> dict[str, Any]:
        """A read's answer, or the error it means; a refused permission is not an expired
        token here (the account still posts)."""
        if response.is_success:
            return h.body(response)
        now = self.hub.clock()
        if response.status_code == 401:
            raise TokenExpired("the LinkedIn access token expired or was revoked; reconnect")
        if response.status_code == 429:
            until = h.retry_after(response.headers.get("retry-after"), now) or _next_midnight(
                now.astimezone(UTC)
            )
            raise RateLimited("LinkedIn's daily limit for reading is used up", until)
        raise h.read_refused("LinkedIn", response, h.body(response).get("message"))

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


def _number(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    return value if isinstance(value, int) else None


def _statistics_reading(stats: dict[str, Any]) -> Reading:
    """`totalShareStatistics` as figures (organic only: LinkedIn leaves sponsored out)."""
    names = ("impressionCount", "clickCount", "likeCount", "commentCount", "shareCount")
    raw = {n: v for n in names if (v := _number(stats, n)) is not None}
    return Reading(
        likes=raw.get("likeCount", 0),
        replies=raw.get("commentCount", 0),
        reposts=raw.get("shareCount", 0),
        impressions=raw.get("impressionCount"),
        clicks=raw.get("clickCount"),
        raw=raw,
    )


def _social_reading(actions: dict[str, Any]) -> Reading:
    """A `socialActions` summary as figures: likes and comments, nothing more."""
    likes = _number(actions.get("likesSummary") or {}, "totalLikes")
    comments = actions.get("commentsSummary") or {}
    replies = _number(comments, "aggregatedTotalComments")
    if replies is None:
        replies = _number(comments, "totalFirstLevelComments")
    raw = {"totalLikes": likes, "aggregatedTotalComments": replies}
    return Reading(
        likes=likes or 0,
        replies=replies or 0,
        raw={k: v for k, v in raw.items() if v is not None},
    )


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
