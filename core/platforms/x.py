"""X (Twitter) API v2: posts, threads, media upload, OAuth 2.0 token refresh.

Requests follow the OpenAPI spec in shared/contracts/specs/x (`CreatePostsRequest` has
`additionalProperties: false`, so nothing but `text`, `reply` and `media` is sent). A thread is
post N replying to post N-1; if it stops half way, the next attempt finds the parts already on
the account's timeline and goes on from there instead of posting them twice.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.errors import ContentRejected, Duplicate, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import FiguresRequest, Published, PublishRequest, Reading

log = logging.getLogger(__name__)

CHUNK = 4 * 1024 * 1024
PAGE = 100  # the most posts a timeline read returns at once
LOOKUP = 100  # the most ids GET /2/tweets takes at once
SCOPES = "tweet.read tweet.write users.read media.write offline.access"
# X tells a post's non-public metrics (link and profile clicks) only to its author, and only
# for this long after it was posted; older posts are read with public metrics alone.
PRIVATE_FOR = timedelta(days=30)
PUBLIC = "public_metrics"
PRIVATE = "public_metrics,non_public_metrics"
# X's ids are snowflakes: milliseconds since X's epoch, shifted left by 22 bits.
_TWEPOCH_MS = 1288834974657


class XPublisher(AccountPublisher):
    network = "x"

    # --- wire helpers ----------------------------------------------------------------------

    def _headers(self, account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credentials['access_token']}"}

    def _check(self, account: Account, response: httpx.Response) -> dict[str, Any]:
        now = self.hub.clock()
        self._remember_limits(account, response, now)
        if response.is_success:
            return h.body(response)
        data = h.body(response)
        detail = str(data.get("detail") or data.get("title") or "")
        errors = data.get("errors") or []
        if errors and isinstance(errors, list) and isinstance(errors[0], dict):
            detail = str(errors[0].get("message") or detail)
        status = response.status_code
        if status == 401:
            raise TokenExpired("the X access token expired or was revoked; reconnect X")
        if status == 429:
            raise RateLimited("X is rate limiting this account", self._reset(response, now))
        if status == 403 and "duplicate" in detail.lower():
            raise Duplicate(
                "X refuses duplicate posts: this exact text is already on the account. "
                "Edit the text and retry"
            )
        if status == 403:
            raise ContentRejected(f"X refused the post: {h.plain(detail)}")
        if status == 400:
            raise ContentRejected(f"X found the request invalid: {h.plain(detail)}")
        h.generic("X", response, now, h.plain(detail))
        raise Transient(f"X answered HTTP {status}")

    def _reset(self, response: httpx.Response, now: datetime) -> datetime:
        headers = response.headers
        daily = None
        if headers.get("x-user-limit-24hour-remaining") == "0":
            daily = h.epoch(headers.get("x-user-limit-24hour-reset"))
        return h.later_of(now, h.epoch(headers.get("x-rate-limit-reset")), daily)

    def _remember_limits(self, account: Account, response: httpx.Response, now: datetime) -> None:
        # The last allowed call of a window succeeds; the next target should not even try.
        if response.status_code == 429:
            return
        headers = response.headers
        if (
            headers.get("x-rate-limit-remaining") == "0"
            or headers.get("x-user-limit-24hour-remaining") == "0"
        ):
            until = self._reset(response, now)
            self.hub.note_limit(account.id, until, "X's posting limit for this account is used up")

    def _url(self, account: Account, post_id: str) -> str:
        handle = account.display_name.lstrip("@")
        return f"https://x.com/{handle or 'i'}/status/{post_id}"

    # --- media -----------------------------------------------------------------------------

    def _upload(self, http: httpx.Client, account: Account, item: dict[str, Any]) -> str:
        data = self.hub.media.get(str(item["key"]))
        ctype = str(item.get("content_type") or "application/octet-stream")
        if ctype.startswith("video/"):
            media_id = self._upload_chunked(http, account, data, ctype)
        else:
            category = "tweet_gif" if ctype == "image/gif" else "tweet_image"
            response = h.send(
                http,
                "X",
                "POST",
                "/2/media/upload",
                files={"media": ("media", data, ctype)},
                data={"media_category": category},
            )
            media_id = str(self._media_check(account, response)["data"]["id"])
        alt = item.get("alt")
        if alt:
            response = h.send(
                http,
                "X",
                "POST",
                "/2/media/metadata",
                json={"id": media_id, "metadata": {"alt_text": {"text": str(alt)[:1000]}}},
            )
            self._media_check(account, response)
        return media_id

    def _media_check(self, account: Account, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (400, 413, 415):
            detail = h.body(response).get("detail") or "the file was not accepted"
            raise ContentRejected(f"X refused the media: {h.plain(detail)}")
        return self._check(account, response)

    def _upload_chunked(self, http: httpx.Client, account: Account, data: bytes, ctype: str) -> str:
        init = h.send(
            http,
            "X",
            "POST",
            "/2/media/upload/initialize",
            json={"media_type": ctype, "total_bytes": len(data), "media_category": "tweet_video"},
        )
        media_id = str(self._media_check(account, init)["data"]["id"])
        for index, start in enumerate(range(0, len(data), CHUNK)):
            part = h.send(
                http,
                "X",
                "POST",
                f"/2/media/upload/{media_id}/append",
                files={"media": ("chunk", data[start : start + CHUNK], "application/octet-stream")},
                data={"segment_index": str(index)},
            )
            self._media_check(account, part)
        done = self._media_check(
            account, h.send(http, "X", "POST", f"/2/media/upload/{media_id}/finalize")
        )
        info = (done.get("data") or {}).get("processing_info") or {}
        for _ in range(10):
            state = info.get("state")
            if state in (None, "succeeded"):
                return media_id
            if state == "failed":
                error = (info.get("error") or {}).get("message") or "processing failed"
                raise ContentRejected(f"X could not process the video: {h.plain(error)}")
            # X asks us to wait a few seconds while it transcodes; bounded, then give up.
            time.sleep(min(float(info.get("check_after_secs") or 1), 5.0))
            status = h.send(
                http,
                "X",
                "GET",
                "/2/media/upload",
                params={"media_id": media_id, "command": "STATUS"},
            )
            info = (self._media_check(account, status).get("data") or {}).get(
                "processing_info"
            ) or {}
        raise Transient("X is still processing the video")

    # --- posting ---------------------------------------------------------------------------

    def post(self, account: Account, request: PublishRequest) -> Published:
        texts = [request.text, *request.parts]
        with h.client(self.hub.settings.x_api_url, headers=self._headers(account)) as http:
            done: list[str] = []
            if request.parts:
                done = self._posted_prefix(http, account, texts, request.since, bool(request.media))
            media_ids: list[str] = []
            if request.media and not done:
                with h.client(
                    self.hub.settings.x_upload_url, headers=self._headers(account)
                ) as upload:
                    media_ids = [self._upload(upload, account, m) for m in request.media[:4]]
            for index in range(len(done), len(texts)):
                payload: dict[str, Any] = {"text": texts[index]}
                if index > 0:
                    payload["reply"] = {"in_reply_to_tweet_id": done[index - 1]}
                if index == 0 and media_ids:
                    payload["media"] = {"media_ids": media_ids}
                try:
                    response = h.send(http, "X", "POST", "/2/tweets", json=payload)
                    data = self._check(account, response)
                except (Transient, RateLimited) as exc:
                    if not done:
                        raise
                    # Part of the thread is out: reconcile and go on, never start over.
                    raise Transient(
                        f"the thread stopped after part {len(done)} of {len(texts)} ({exc.reason})"
                    ) from exc
                done.append(str(data["data"]["id"]))
        return Published(external_id=done[0], url=self._url(account, done[0]))

    def _recent(
        self, http: httpx.Client, account: Account, since: datetime | None
    ) -> dict[str, str]:
        """Comparable text → id of the account's posts since `since` (or the newest page)."""
        params = {"max_results": str(PAGE), "tweet.fields": "created_at"}
        if since is not None:
            params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found: dict[str, str] = {}
        for _ in range(h.MAX_LOOKUP_PAGES if since else 1):
            response = h.send(
                http, "X", "GET", f"/2/users/{account.account_id}/tweets", params=params
            )
            data = self._check(account, response)
            for item in data.get("data") or []:
                # Newest first: a text posted twice keeps its newest id.
                found.setdefault(h.comparable(str(item.get("text", ""))), str(item["id"]))
            token = (data.get("meta") or {}).get("next_token")
            if not token or since is None:
                return found
            params["pagination_token"] = str(token)
        raise h.LookupIncomplete("X")

    def _posted_prefix(
        self,
        http: httpx.Client,
        account: Account,
        texts: list[str],
        since: datetime | None,
        media: bool = False,
    ) -> list[str]:
        recent = self._recent(http, account, since)
        ids: list[str] = []
        for index, text in enumerate(texts):
            wanted = h.comparable(text)
            post_id = recent.get(wanted)
            if post_id is None and media and index == 0:
                # X ends the text of a post with media with a t.co link to the media.
                post_id = recent.get(f"{wanted} {h.LINK}".strip())
            if post_id is None:
                break
            ids.append(post_id)
        return ids

    def lookup(self, account: Account, request: PublishRequest) -> Published | None:
        texts = [request.text, *request.parts]
        with h.client(self.hub.settings.x_api_url, headers=self._headers(account)) as http:
            ids = self._posted_prefix(http, account, texts, request.since, bool(request.media))
        if len(ids) < len(texts):
            return None  # not there, or a thread half out: publish() finishes it
        return Published(external_id=ids[0], url=self._url(account, ids[0]))

    # --- figures ---------------------------------------------------------------------------

    def figures(self, account: Account, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """`GET /2/tweets?ids=…` (100 ids a request). Posts younger than 30 days are asked
        with their non-public metrics (clicks); where X refuses those fields for a post, it
        is asked again with public metrics alone. A post X cannot find is gone."""
        now = self.hub.clock()
        young = [r for r in requests if _recent(r.external_id, now)]
        old = [r for r in requests if not _recent(r.external_id, now)]
        read: dict[int, Reading] = {}
        with h.client(self.hub.settings.x_api_url, headers=self._headers(account)) as http:
            refused: list[FiguresRequest] = []
            for batch in h.batches(young, LOOKUP):
                refused += self._lookup(http, batch, PRIVATE, read)
            for batch in h.batches(old + refused, LOOKUP):
                self._lookup(http, batch, PUBLIC, read)
        return read

    def _lookup(
        self,
        http: httpx.Client,
        batch: Sequence[FiguresRequest],
        fields: str,
        read: dict[int, Reading],
    ) -> list[FiguresRequest]:
        """Read one batch into `read`; the requests X refused a field for (to ask again)."""
        ids = ",".join(dict.fromkeys(r.external_id for r in batch))
        response = h.send(
            http, "X", "GET", "/2/tweets", params={"ids": ids, "tweet.fields": fields}
        )
        data = self._read_check(response)
        found = {str(item.get("id")): item for item in data.get("data") or []}
        gone: set[str] = set()
        refused: set[str] = set()
        for error in data.get("errors") or []:
            kind = str(error.get("type") or "")
            post_id = str(error.get("resource_id") or error.get("value") or "")
            if kind.endswith("/resource-not-found"):
                gone.add(post_id)
            elif kind.endswith(("/not-authorized-for-field", "/field-unauthorized")):
                refused.add(post_id)
            else:  # suspended, protected, …: not readable now, maybe later
                log.info("X did not give the figures of post %s: %s", post_id, kind)
        again = []
        for request in batch:
            post_id = request.external_id
            if post_id in found:
                read[request.target_id] = _reading(found[post_id])
            elif post_id in gone:
                read[request.target_id] = Reading(gone=True)
            elif post_id in refused and fields != PUBLIC:
                again.append(request)
        return again

    def _read_check(self, response: httpx.Response) -> dict[str, Any]:
        """A read's answer, or the error it means. Unlike a publish, a read never notes a
        limit on the account: read and post limits are separate buckets at X."""
        if response.is_success:
            return h.body(response)
        now = self.hub.clock()
        if response.status_code == 401:
            raise TokenExpired("the X access token expired or was revoked; reconnect X")
        if response.status_code == 429:
            until = h.later_of(now, h.epoch(response.headers.get("x-rate-limit-reset")))
            raise RateLimited("X is rate limiting reads for this account", until)
        data = h.body(response)
        raise h.read_refused("X", response, data.get("detail") or data.get("title"))

    # --- tokens ----------------------------------------------------------------------------

    def can_renew(self, account: Account) -> bool:
        return bool(account.credentials.get("refresh_token"))

    def renew(self, credentials: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
        tokens = token_request(
            self.hub.settings,
            {"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
        )
        return tokens_to_credentials(tokens, credentials), expiry(tokens, self.hub.clock())


def posted_at(post_id: str) -> datetime | None:
    """When X made a post, read from its id; None for an id that is not a snowflake."""
    if not post_id.isdigit():
        return None
    millis = (int(post_id) >> 22) + _TWEPOCH_MS
    return datetime.fromtimestamp(millis / 1000, UTC)


def _recent(post_id: str, now: datetime) -> bool:
    """Whether X still tells this post's non-public metrics (an unknown age: ask, and fall
    back if X refuses)."""
    when = posted_at(post_id)
    return when is None or now - when < PRIVATE_FOR


def _count(metrics: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int):
            return value
    return None


def _reading(item: dict[str, Any]) -> Reading:
    """One post of `GET /2/tweets` as figures. Spec v2.167 says `repost_count` where X's
    answers (and older specs) say `retweet_count`: both are read."""
    public = item.get("public_metrics") or {}
    private = item.get("non_public_metrics") or {}
    reposts = _count(public, "retweet_count", "repost_count") or 0
    clicks = None
    if private:
        # Clicks anywhere on the post X reports: on its link and on the author's profile.
        clicks = (_count(private, "url_link_clicks") or 0) + (
            _count(private, "user_profile_clicks") or 0
        )
    impressions = _count(public, "impression_count")
    if impressions is None:
        impressions = _count(private, "impression_count")
    raw = {
        name: value
        for name, value in {
            "like_count": _count(public, "like_count"),
            "retweet_count": reposts,
            "reply_count": _count(public, "reply_count"),
            "quote_count": _count(public, "quote_count"),
            "impression_count": impressions,
            "url_link_clicks": _count(private, "url_link_clicks"),
            "user_profile_clicks": _count(private, "user_profile_clicks"),
        }.items()
        if value is not None
    }
    return Reading(
        likes=_count(public, "like_count") or 0,
        reposts=reposts,
        replies=_count(public, "reply_count") or 0,
        quotes=_count(public, "quote_count") or 0,
        impressions=impressions,
        clicks=clicks,
        raw=raw,
    )


def client_auth(settings: Any) -> dict[str, str]:
    """Confidential X clients authenticate the token call with HTTP Basic."""
    secret = settings.x_client_secret
    if secret is None:
        return {}
    pair = f"{settings.x_client_id}:{secret.get_secret_value()}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def token_request(settings: Any, form: dict[str, str]) -> dict[str, Any]:
    """POST /2/oauth2/token (code exchange or refresh). Failures mean: reconnect."""
    with h.client(settings.x_api_url, headers=client_auth(settings)) as http:
        response = h.send(
            http,
            "X",
            "POST",
            "/2/oauth2/token",
            data={**form, "client_id": settings.x_client_id or ""},
        )
    if response.status_code in (400, 401):
        raise TokenExpired("X refused to renew the access token; reconnect X")
    if not response.is_success:
        raise Transient(f"X's token endpoint answered HTTP {response.status_code}")
    return h.body(response)


def tokens_to_credentials(tokens: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    return {
        "access_token": tokens["access_token"],
        # X rotates refresh tokens: the old one stops working once used.
        "refresh_token": tokens.get("refresh_token") or old.get("refresh_token"),
        "scope": tokens.get("scope", old.get("scope", "")),
    }


def expiry(tokens: dict[str, Any], now: datetime) -> datetime | None:
    seconds = tokens.get("expires_in")
    return now + timedelta(seconds=int(seconds)) if seconds else None
