"""Facebook Pages (Graph API): text to `/{page}/feed`, photos to `/{page}/photos`.

Posts use a Page access token (from `/me/accounts` at connect time). Graph errors carry a
numeric `code`; throttling codes become a later slot using the Business Use Case header's
`estimated_time_to_regain_access` (minutes) when Facebook gives it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx

from core.errors import ContentRejected, Duplicate, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import Published, PublishRequest

SCOPES = "pages_show_list,pages_manage_posts,pages_read_engagement"
THROTTLED = {4, 17, 32, 613, 80001}
PERMISSION = {10, *range(200, 300)}
PAGE = 100  # the most posts the Graph API lists at once


def _regain(headers: httpx.Headers, now: datetime) -> datetime | None:
    """Minutes until access returns, from X-Business-Use-Case-Usage."""
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = max(
            int(entry.get("estimated_time_to_regain_access") or 0)
            for entries in usage.values()
            for entry in entries
        )
    except (ValueError, TypeError, AttributeError):
        return None
    return now + timedelta(minutes=minutes) if minutes else None


class FacebookPublisher(AccountPublisher):
    network = "facebook"

    def _client(self, account: Account) -> Any:
        # The token goes in a header, never in the URL: URLs end up in logs.
        return h.client(
            self.hub.settings.facebook_api_url,
            headers={"Authorization": f"Bearer {account.credentials['page_token']}"},
        )

    def _check(self, account: Account, response: httpx.Response, what: str) -> dict[str, Any]:
        now = self.hub.clock()
        data = h.body(response)
        if response.is_success and "error" not in data:
            return data
        error = data.get("error") or {}
        code = int(error.get("code") or 0)
        message = h.plain(error.get("error_user_msg") or error.get("message") or "")
        if code == 190 or response.status_code == 401:
            raise TokenExpired("the Facebook Page token expired or was revoked; reconnect")
        if code in THROTTLED or response.status_code == 429:
            until = h.later_of(now, _regain(response.headers, now))
            raise RateLimited("Facebook is throttling this Page", until)
        if code in PERMISSION:
            raise TokenExpired(
                "Facebook says Herald may not post to this Page (permission missing); reconnect"
            )
        if code == 506:
            raise Duplicate("Facebook refuses duplicate posts: this text is already there")
        if code == 368:
            raise ContentRejected(f"Facebook temporarily blocked posting: {message}")
        if code in (1, 2) or response.status_code >= 500:
            raise Transient(f"Facebook had a problem on its side ({message or code})")
        raise ContentRejected(f"Facebook refused the {what}: {message or 'invalid'}")

    def _photo(
        self, http: httpx.Client, account: Account, item: dict[str, Any], extra: dict[str, str]
    ) -> dict[str, Any]:
        data = self.hub.media.get(str(item["key"]))
        ctype = str(item.get("content_type") or "image/jpeg")
        response = h.send(
            http,
            "Facebook",
            "POST",
            f"/{account.account_id}/photos",
            files={"source": ("photo", data, ctype)},
            data=extra,
        )
        return self._check(account, response, "photo")

    def post(self, account: Account, request: PublishRequest) -> Published:
        page = account.account_id
        with self._client(account) as http:
            media = list(request.media[:10])
            if len(media) == 1:
                data = self._photo(http, account, media[0], {"caption": request.text})
                post_id = str(data.get("post_id") or data["id"])
            else:
                form: dict[str, str] = {"message": request.text}
                for index, item in enumerate(media):
                    photo = self._photo(http, account, item, {"published": "false"})
                    form[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo["id"]})
                response = h.send(http, "Facebook", "POST", f"/{page}/feed", data=form)
                post_id = str(self._check(account, response, "post")["id"])
        return Published(external_id=post_id, url=f"https://www.facebook.com/{post_id}")

    def lookup(self, account: Account, request: PublishRequest) -> Published | None:
        """Our post on the Page, newest first, since `request.since` (Graph's `since`)."""
        wanted = h.comparable(request.text)
        params = {"fields": "id,message,permalink_url,created_time", "limit": str(PAGE)}
        if request.since is not None:
            params["since"] = str(int(request.since.timestamp()))
        with self._client(account) as http:
            for _ in range(h.MAX_LOOKUP_PAGES if request.since else 1):
                response = h.send(
                    http, "Facebook", "GET", f"/{account.account_id}/posts", params=params
                )
                data = self._check(account, response, "lookup")
                for item in data.get("data") or []:
                    if h.comparable(str(item.get("message") or "")) == wanted:
                        url = item.get("permalink_url") or f"https://www.facebook.com/{item['id']}"
                        return Published(str(item["id"]), str(url))
                paging = data.get("paging") or {}
                after = (paging.get("cursors") or {}).get("after")
                if not paging.get("next") or not after or request.since is None:
                    return None
                params["after"] = str(after)
        raise h.LookupIncomplete("Facebook")
