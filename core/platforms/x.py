"""X (Twitter) API v2: posts, threads, media upload, OAuth 2.0 token refresh.

Requests follow the OpenAPI spec in shared/contracts/specs/x (`CreatePostsRequest` has
`additionalProperties: false`, so nothing but `text`, `reply` and `media` is sent). A thread is
post N replying to post N-1; if it stops half way, the next attempt finds the parts already on
the account's timeline and goes on from there instead of posting them twice.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.errors import ContentRejected, Duplicate, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import Published, PublishRequest

CHUNK = 4 * 1024 * 1024
PAGE = 100  # the most posts a timeline read returns at once
SCOPES = "tweet.read tweet.write users.read media.write offline.access"


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

    # --- tokens ----------------------------------------------------------------------------

    def can_renew(self, account: Account) -> bool:
        return bool(account.credentials.get("refresh_token"))

    def renew(self, credentials: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
        tokens = token_request(
            self.hub.settings,
            {"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
        )
        return tokens_to_credentials(tokens, credentials), expiry(tokens, self.hub.clock())


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
