"""Facebook Pages (Graph API): text to `/{page}/feed`, photos to `/{page}/photos`, and the
posts' figures read back (reactions, comments, shares, and the insights views and clicks).

Posts use a Page access token (from `/me/accounts` at connect time). Graph errors carry a
numeric `code`; throttling codes become a later slot using the Business Use Case header's
`estimated_time_to_regain_access` (minutes) when Facebook gives it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from core.errors import ContentRejected, Duplicate, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import FiguresRequest, Published, PublishRequest, Reading

log = logging.getLogger(__name__)

# read_insights: a post's views and clicks (the insights edge); pages_read_engagement: its
# reactions, comments and shares.
SCOPES = "pages_show_list,pages_manage_posts,pages_read_engagement,read_insights"
THROTTLED = {4, 17, 32, 613, 80001}
PERMISSION = {10, *range(200, 300)}
PAGE = 100  # the most posts the Graph API lists at once
IDS = 50  # the most ids one `?ids=` read takes
COUNTS = "shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
# `post_impressions` was withdrawn on 15 Nov 2025; `post_media_view` is its successor.
INSIGHTS = "insights.metric(post_media_view,post_clicks)"
MISSING = 803  # "Some of the aliases you requested do not exist" (an `?ids=` read)


def _regain(headers: httpx.Headers, now: datetime) -> datetime | None:
    """Minutes until access returns, from X-Business-Use-Case-Usage (per Page or business)
    or X-App-Usage (the app), whichever says longer."""
    minutes = 0
    for name in ("x-business-use-case-usage", "x-app-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
            entries = (
                [usage]
                if "call_count" in usage
                else [entry for listed in usage.values() for entry in listed]
            )
            minutes = max(
                [minutes, *(int(e.get("estimated_time_to_regain_access") or 0) for e in entries)]
            )
        except (ValueError, TypeError, AttributeError):
            continue
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

    # --- figures ---------------------------------------------------------------------------

    def figures(self, account: Account, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """`GET /?ids=…&fields=…` (50 posts a request): reactions, comments and shares, and
        the insights edge's views and clicks. The Graph API fails a whole `?ids=` read when
        one post is missing, so such a batch is read post by post to find the one that is
        gone. Without insights access (no `read_insights`, or a Page too small for insights)
        views and clicks are None."""
        read: dict[int, Reading] = {}
        insights = True
        with self._client(account) as http:
            for batch in h.batches(requests, IDS):
                ids = list(dict.fromkeys(r.external_id for r in batch))
                nodes, insights = self._nodes(http, ids, insights)
                if nodes is None:  # one of them is missing: ask each on its own
                    nodes = {}
                    for post_id in ids:
                        node, insights = self._node(http, post_id, insights)
                        if node is not None:
                            nodes[post_id] = node
                for request in batch:
                    node = nodes.get(request.external_id)
                    if node is not None:
                        read[request.target_id] = _reading(node)
        return read

    def _nodes(
        self, http: httpx.Client, ids: list[str], insights: bool
    ) -> tuple[dict[str, Any] | None, bool]:
        """The posts by id (None when Facebook says one of them does not exist), and whether
        insights may still be asked for."""
        while True:
            fields = f"{COUNTS},{INSIGHTS}" if insights else COUNTS
            params = {"ids": ",".join(ids), "fields": fields}
            response = h.send(http, "Facebook", "GET", "/", params=params)
            error = self._read_error(response)
            if error is None:
                return {k: v for k, v in h.body(response).items() if isinstance(v, dict)}, insights
            if _missing(error):
                return None, insights
            if insights and _no_insights(error):
                insights = False
                continue
            raise h.read_refused("Facebook", response, error.get("message"))

    def _node(
        self, http: httpx.Client, post_id: str, insights: bool
    ) -> tuple[dict[str, Any] | None, bool]:
        """One post ({"gone": True} when Facebook says it does not exist)."""
        while True:
            fields = f"{COUNTS},{INSIGHTS}" if insights else COUNTS
            response = h.send(http, "Facebook", "GET", f"/{post_id}", params={"fields": fields})
            error = self._read_error(response)
            if error is None:
                return h.body(response), insights
            if _missing(error):
                return {"gone": True}, insights
            if insights and _no_insights(error):
                insights = False
                continue
            raise h.read_refused("Facebook", response, error.get("message"))

    def _read_error(self, response: httpx.Response) -> dict[str, Any] | None:
        """None for an answer; the Graph error otherwise, once a 401 or a throttle was raised.
        Unlike a publish, a refused permission is not an expired token here."""
        data = h.body(response)
        if response.is_success and "error" not in data:
            return None
        found = data.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = int(error.get("code") or 0)
        if code == 190 or response.status_code == 401:
            raise TokenExpired("the Facebook Page token expired or was revoked; reconnect")
        if code in THROTTLED or response.status_code == 429:
            now = self.hub.clock()
            until = h.later_of(
                now,
                _regain(response.headers, now),
                h.retry_after(response.headers.get("retry-after"), now),
            )
            raise RateLimited("Facebook is throttling reads for this Page", until)
        if response.status_code >= 500 or code in (1, 2):
            raise Transient(f"Facebook had a problem on its side (HTTP {response.status_code})")
        return error

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


def _missing(error: dict[str, Any]) -> bool:
    """Facebook's answer for a post that no longer exists (deleted, or never was)."""
    code = int(error.get("code") or 0)
    return code == MISSING or (code == 100 and error.get("error_subcode") == 33)


def _no_insights(error: dict[str, Any]) -> bool:
    """The insights part was refused (permission, or a metric Facebook does not offer)."""
    code = int(error.get("code") or 0)
    return code in PERMISSION or (code == 100 and error.get("error_subcode") != 33)


def _insight(node: dict[str, Any], name: str) -> int | None:
    for metric in (node.get("insights") or {}).get("data") or []:
        if metric.get("name") == name:
            values = metric.get("values") or []
            value = values[-1].get("value") if values else None
            return value if isinstance(value, int) else None
    return None


def _total(node: dict[str, Any], edge: str) -> int:
    value = ((node.get(edge) or {}).get("summary") or {}).get("total_count")
    return value if isinstance(value, int) else 0


def _reading(node: dict[str, Any]) -> Reading:
    """One post's node as figures. Facebook leaves `shares` out of a post nobody shared."""
    if node.get("gone"):
        return Reading(gone=True)
    shares = (node.get("shares") or {}).get("count")
    counts = {
        "reactions": _total(node, "reactions"),
        "comments": _total(node, "comments"),
        "shares": shares if isinstance(shares, int) else 0,
        "post_media_view": _insight(node, "post_media_view"),
        "post_clicks": _insight(node, "post_clicks"),
    }
    return Reading(
        likes=counts["reactions"] or 0,
        replies=counts["comments"] or 0,
        reposts=counts["shares"] or 0,
        impressions=counts["post_media_view"],
        clicks=counts["post_clicks"],
        raw={k: v for k, v in counts.items() if v is not None},
    )
