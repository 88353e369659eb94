"""Mastodon: statuses with an `Idempotency-Key`, media upload, on the account's own instance.

The instance URL comes with the account (Herald registers an app on each instance on the fly
when someone connects). The key is the same on every attempt of a target, so a repeated POST
within the instance's window returns the first status instead of a second one.

Figures are the counts on the Status entity (favourites, reblogs, replies, and quotes from
Mastodon 4.5). Mastodon 4.3 and later answer up to 20 statuses at once (`GET /api/v1/statuses`
with `id[]`); an instance without that endpoint answers 404 there and is then read one status at
a time (`GET /api/v1/statuses/:id`) for as long as this process runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from core.errors import ContentRejected, PublishError, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher, Hub
from core.ports import FiguresRequest, Published, PublishRequest, Reading

SCOPES = "read write:statuses write:media"
PAGE = 40  # the most statuses Mastodon lists at once
BATCH = 20  # the most ids `GET /api/v1/statuses` takes (more is a 422)
COUNTS = ("favourites_count", "reblogs_count", "replies_count", "quotes_count")


def _reset(response: httpx.Response, now: datetime) -> datetime:
    """When a 429 says to come back: `X-RateLimit-Reset` (ISO 8601, Mastodon's own), or a
    `Retry-After` a proxy in front of the instance added; the later of the two."""
    headers = response.headers
    return h.later_of(
        now, h.iso(headers.get("x-ratelimit-reset")), h.retry_after(headers.get("retry-after"), now)
    )


def reading(status: dict[str, Any]) -> Reading:
    """A Status entity's counts; `quotes_count` is absent before Mastodon 4.5 (then 0)."""
    counts = {key: int(status.get(key) or 0) for key in COUNTS}
    return Reading(
        likes=counts["favourites_count"],
        reposts=counts["reblogs_count"],
        replies=counts["replies_count"],
        quotes=counts["quotes_count"],
        raw={key: status[key] for key in COUNTS if key in status},
    )


class MastodonPublisher(AccountPublisher):
    network = "mastodon"

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        # Instances that answered 404 to `GET /api/v1/statuses` (before Mastodon 4.3).
        self._one_by_one: set[str] = set()

    def _client(self, account: Account) -> Any:
        return h.client(
            str(account.credentials["instance"]),
            headers={"Authorization": f"Bearer {account.credentials['access_token']}"},
            guard=self.hub.fetcher,
        )

    def _check(self, account: Account, response: httpx.Response, what: str) -> dict[str, Any]:
        now = self.hub.clock()
        if response.is_success:
            if response.headers.get("x-ratelimit-remaining") == "0":
                until = h.later_of(now, h.iso(response.headers.get("x-ratelimit-reset")))
                self.hub.note_limit(account.id, until, "the Mastodon instance's limit is used up")
            return h.body(response)
        message = h.plain(h.body(response).get("error") or "")
        status = response.status_code
        if status in (401, 403):
            raise TokenExpired("the Mastodon access token was revoked; reconnect Mastodon")
        if status == 429:
            raise RateLimited(
                "the Mastodon instance is rate limiting this account", _reset(response, now)
            )
        if status == 422:
            raise ContentRejected(f"Mastodon refused the {what}: {message or 'invalid'}")
        if status == 413:
            raise ContentRejected(f"Mastodon refused the {what}: the file is too large")
        h.generic("Mastodon", response, now, message)
        raise Transient(f"Mastodon answered HTTP {status}")

    def _upload(self, http: httpx.Client, account: Account, item: dict[str, Any]) -> str:
        data = self.hub.media.get(str(item["key"]))
        ctype = str(item.get("content_type") or "application/octet-stream")
        form = {"description": str(item["alt"])} if item.get("alt") else {}
        response = h.send(
            http,
            "Mastodon",
            "POST",
            "/api/v2/media",
            files={"file": ("media", data, ctype)},
            data=form,
        )
        media = self._check(account, response, "media")
        media_id = str(media["id"])
        # 202: still processing (video); the status can only attach it once it has a URL.
        for _ in range(20):
            if media.get("url"):
                return media_id
            time.sleep(0.5)
            media = self._check(
                account, h.send(http, "Mastodon", "GET", f"/api/v1/media/{media_id}"), "media"
            )
        raise Transient("Mastodon is still processing the media")

    def post(self, account: Account, request: PublishRequest) -> Published:
        with self._client(account) as http:
            media_ids = [self._upload(http, account, m) for m in request.media[:4]]
            payload: dict[str, Any] = {"status": request.text, "visibility": "public"}
            if media_ids:
                payload["media_ids"] = media_ids
            response = h.send(
                http,
                "Mastodon",
                "POST",
                "/api/v1/statuses",
                json=payload,
                headers={"Idempotency-Key": request.idempotency_key},
            )
            status = self._check(account, response, "post")
        return Published(external_id=str(status["id"]), url=str(status.get("url") or ""))

    def lookup(self, account: Account, request: PublishRequest) -> Published | None:
        """Our status among the account's own, newest first, back to `request.since`."""
        wanted = h.comparable(request.text)
        params = {"limit": str(PAGE), "exclude_replies": "true"}
        with self._client(account) as http:
            for _ in range(h.MAX_LOOKUP_PAGES if request.since else 1):
                response = h.send(
                    http,
                    "Mastodon",
                    "GET",
                    f"/api/v1/accounts/{account.credentials['id']}/statuses",
                    params=params,
                )
                page = response.json() if response.is_success else None
                if not isinstance(page, list):
                    self._check(account, response, "lookup")
                    raise Transient("Mastodon did not list the account's statuses")
                for status in page:
                    if h.comparable(str(status.get("content", "")), markup=True) == wanted:
                        return Published(str(status["id"]), str(status.get("url") or ""))
                if len(page) < PAGE or h.older_than(page[-1].get("created_at"), request.since):
                    return None
                params["max_id"] = str(page[-1]["id"])
        raise h.LookupIncomplete("Mastodon")

    # --- figures ---------------------------------------------------------------------------

    def figures(self, account: Account, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        targets: dict[str, list[int]] = {}
        for request in requests:
            targets.setdefault(request.external_id, []).append(request.target_id)
        instance = str(account.credentials["instance"])
        found: dict[str, Reading] = {}
        with self._client(account) as http:
            ids = list(targets)
            if instance not in self._one_by_one:
                for start in range(0, len(ids), BATCH):
                    batch = self._read_batch(http, ids[start : start + BATCH])
                    if batch is None:
                        self._one_by_one.add(instance)
                        break
                    found.update(batch)
            # Left out of a batch: deleted, or hidden from this token. Asking for it alone
            # tells which (404 is gone), so a server that leaves things out never buries a post.
            for status_id in ids:
                if status_id not in found:
                    found[status_id] = self._read_one(http, status_id)
        return {target: found[sid] for sid, of_sid in targets.items() for target in of_sid}

    def _read_batch(self, http: httpx.Client, ids: list[str]) -> dict[str, Reading] | None:
        """Readings of the statuses Mastodon returned; None when it has no such endpoint."""
        params = [("id[]", status_id) for status_id in ids]
        response = h.send(http, "Mastodon", "GET", "/api/v1/statuses", params=params)
        if response.status_code in (404, 405):
            return None
        self._read_check(response)
        page = response.json()
        if not isinstance(page, list):
            raise Transient("Mastodon did not answer with a list of statuses")
        return {str(s["id"]): reading(s) for s in page if isinstance(s, dict) and "id" in s}

    def _read_one(self, http: httpx.Client, status_id: str) -> Reading:
        response = h.send(http, "Mastodon", "GET", f"/api/v1/statuses/{status_id}")
        if response.status_code == 404:
            return Reading(gone=True)
        return reading(self._read_check(response))

    def _read_check(self, response: httpx.Response) -> dict[str, Any]:
        """A read's answer. Unlike `_check`, a spent limit is not noted on the account: the
        reader's limit is its own business and must never hold back a post."""
        if response.is_success:
            return h.body(response)
        status = response.status_code
        if status in (401, 403):
            raise TokenExpired("the Mastodon access token was revoked; reconnect Mastodon")
        if status == 429:
            until = _reset(response, self.hub.clock())
            raise RateLimited("the Mastodon instance is rate limiting this account", until)
        if status >= 500 or status in (408, 425):
            raise Transient(f"Mastodon had a problem on its side (HTTP {status})")
        message = h.plain(h.body(response).get("error") or "")
        raise PublishError(f"Mastodon refused to show the post's figures: {message or status}")
