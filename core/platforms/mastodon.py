"""Mastodon: statuses with an `Idempotency-Key`, media upload, on the account's own instance.

The instance URL comes with the account (Herald registers an app on each instance on the fly
when someone connects). The key is the same on every attempt of a target, so a repeated POST
within the instance's window returns the first status instead of a second one.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from core.errors import ContentRejected, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import Published, PublishRequest

SCOPES = "read write:statuses write:media"
PAGE = 40  # the most statuses Mastodon lists at once


class MastodonPublisher(AccountPublisher):
    network = "mastodon"

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
            until = h.later_of(now, h.iso(response.headers.get("x-ratelimit-reset")))
            raise RateLimited("the Mastodon instance is rate limiting this account", until)
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
