"""A local Facebook Graph API for Pages (feed, photos, page posts, a post's counts and
insights, alone or by `?ids=`), the OAuth dialog and the token exchange."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from bot.runtime import Runtime
from tests.fakes.server import (
    FakeServer,
    Seen,
    bearer,
    page_of,
    reply,
)
from tests.support.platforms import add_account

# The insights metrics a post offers, and those withdrawn (15 Nov 2025 and before): asking for
# one of those fails the request, as on Facebook.
POST_METRICS = {
    "post_media_view",
    "post_clicks",
    "post_clicks_by_type",
    "post_reactions_by_type_total",
    "post_total_media_view_unique",
    "post_video_views",
}
WITHDRAWN = {
    "post_impressions",
    "post_impressions_unique",
    "post_impressions_paid",
    "post_impressions_fan",
    "post_impressions_organic",
    "post_engaged_users",
}
COUNT_FIELDS = {
    "id",
    "message",
    "created_time",
    "permalink_url",
    "shares",
    "reactions.summary(total_count).limit(0)",
    "comments.summary(total_count).limit(0)",
}
_INSIGHTS = re.compile(r"^insights\.metric\(([a-z_,]+)\)$")


def top_level(fields: str) -> list[str]:
    """`fields` split at the commas outside parentheses (field expansion nests them)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(fields):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(fields[start:index])
            start = index + 1
    parts.append(fields[start:])
    return [p for p in parts if p]


class FakeFacebook(FakeServer):
    """Graph API for Pages (versioned prefix), plus the OAuth dialog and token exchange."""

    prefix = "/v21.0"

    def __init__(self) -> None:
        super().__init__()
        self.page_id = "1029384756"
        self.page_tokens: set[str] = {"page-token"}
        self.user_tokens: set[str] = set()
        self.long_lived: set[str] = set()  # only these read never-expiring Page tokens
        self.posts: list[dict[str, Any]] = []
        self.photos: dict[str, dict[str, Any]] = {}
        # What each post did (reactions, comments, shares, post_media_view, post_clicks).
        self.figures: dict[str, dict[str, int]] = {}
        # False: the Page token lacks read_insights (asking for insights fails with #10).
        self.insights_allowed = True
        # False: a Page under 100 likes, for which Facebook keeps no insights (empty data).
        self.insights_kept = True

    @staticmethod
    def error(
        code: int, message: str, status: int = 400, subcode: int | None = None, **headers: str
    ) -> Response:
        body: dict[str, Any] = {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "EJplcsCHuLu",
            }
        }
        if subcode:
            body["error"]["error_subcode"] = subcode
        return reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})

    def post_elsewhere(self, message: str, attached: list[str] | None = None) -> str:
        """A post on the Page (from Herald, or from anyone else)."""
        post_id = f"{self.page_id}_{self.next_id()}"
        created = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())
        self.posts.append(
            {
                "id": post_id,
                "message": message,
                "attached": attached or [],
                "created": time.time(),
                "created_time": created,
            }
        )
        return post_id

    def page_posts(self, seen: Seen) -> Response:
        """GET /{page}/posts: newest first, `limit` up to 100 (default 25), `since` (Unix
        seconds), cursor paging with `after`."""
        since = float(seen.args.get("since") or 0)
        posts = [p for p in reversed(self.posts) if p["created"] >= since]
        paged = page_of(posts, seen.args, "limit", 25, 100)
        if paged is None:
            return self.error(100, "(#100) The limit must be 1 to 100")
        items, after = paged
        data = [
            {
                "id": p["id"],
                "message": p["message"],
                "created_time": p["created_time"],
                "permalink_url": f"https://www.facebook.com/{p['id']}",
            }
            for p in items
        ]
        paging: dict[str, Any] = {"cursors": {"before": "0", "after": str(after)}}
        if after < len(posts):
            paging["next"] = f"{self.url}{seen.path}?after={after}"
        return reply(200, {"data": data, "paging": paging})

    def herald_settings(self) -> dict[str, Any]:
        return {
            "facebook_api_url": f"{self.url}{self.prefix}",
            "facebook_auth_url": f"{self.url}/dialog/oauth",
        }

    def connect(self, rt: Runtime) -> int:
        """The page Acme Page, with its page token."""
        return add_account(rt, "facebook", self.page_id, "Acme Page", {"page_token": "page-token"})

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/dialog/oauth":
            return self.authorized(seen.args)
        if not path.startswith(self.prefix):
            return self.error(2500, "Unknown path components", 404)
        path = path.removeprefix(self.prefix)
        if path == "/oauth/access_token" and seen.args.get("grant_type") == "fb_exchange_token":
            if seen.args.get("fb_exchange_token") not in self.user_tokens:
                return self.error(190, "Invalid OAuth access token.", 401)
            token = f"user-long-{secrets.token_hex(4)}"
            self.user_tokens.add(token)
            self.long_lived.add(token)
            return reply(
                200, {"access_token": token, "token_type": "bearer", "expires_in": 5183944}
            )
        if path == "/oauth/access_token":
            if self.codes.pop(seen.args.get("code", ""), None) is None:
                return self.error(100, "Invalid verification code format.")
            token = f"user-{secrets.token_hex(4)}"
            self.user_tokens.add(token)
            return reply(200, {"access_token": token, "token_type": "bearer"})
        asked = bearer(seen) or seen.args.get("access_token") or seen.form.get("access_token")
        if path == "/me/accounts":
            if asked not in self.long_lived:
                return self.error(190, "Invalid OAuth access token.", 401)
            return reply(
                200,
                {
                    "data": [
                        {
                            "id": self.page_id,
                            "name": "Acme Page",
                            "access_token": "page-token",
                            "tasks": ["CREATE_CONTENT"],
                        }
                    ]
                },
            )
        if asked in self.user_tokens:
            return self.error(
                200, "(#200) The user hasn't authorized the application to perform this action", 403
            )
        if asked not in self.page_tokens:
            return self.error(190, "Error validating access token: Session has expired", 401, 463)
        if path == f"/{self.page_id}/feed" and seen.method == "POST":
            scripted = self.scripted("post")
            if scripted is not None:
                return scripted
            message = seen.form.get("message") or (seen.json or {}).get("message")
            if not message:
                return self.error(100, "(#100) Missing message or attachment")
            attached = [
                json.loads(v)["media_fbid"]
                for k, v in seen.form.items()
                if k.startswith("attached_media")
            ]
            if any(a not in self.photos for a in attached):
                return self.error(100, "(#100) attached media not found")
            if any(p["message"] == message for p in self.posts):
                return self.error(506, "(#506) Duplicate status message")
            post_id = self.post_elsewhere(message, attached)
            return self.lose_answer(reply(200, {"id": post_id}))
        if path == f"/{self.page_id}/photos" and seen.method == "POST":
            scripted = self.scripted("media")
            if scripted is not None:
                return scripted
            if "source" not in seen.files and "url" not in seen.form:
                return self.error(324, "(#324) Requires upload file")
            photo_id = self.next_id()
            self.photos[photo_id] = {
                "size": len(seen.files.get("source", b"")),
                "caption": seen.form.get("caption"),
            }
            if seen.form.get("published") == "false":
                return reply(200, {"id": photo_id})
            post_id = self.post_elsewhere(seen.form.get("caption") or "", [photo_id])
            return reply(200, {"id": photo_id, "post_id": post_id})
        if path == f"/{self.page_id}/posts":
            return self.page_posts(seen)
        if seen.method == "GET" and (path == "/" or path.startswith(f"/{self.page_id}_")):
            return self.read(seen, path)
        return self.error(100, "Unsupported request", 400)

    # --- reading posts back ----------------------------------------------------------------

    def read(self, seen: Seen, path: str) -> Response:
        """GET /{post-id}?fields=… or GET /?ids=a,b&fields=… (at most 50 ids; one missing id
        fails the whole read with #803, as on Facebook)."""
        scripted = self.scripted("read")
        if scripted is not None:
            return scripted
        fields = top_level(seen.args.get("fields", "id"))
        problem = self._bad_fields(fields)
        if problem is not None:
            return problem
        posts = {p["id"]: p for p in self.posts}
        if path != "/":
            post_id = path.strip("/")
            if post_id not in posts:
                return self.error(
                    100,
                    f"Unsupported get request. Object with ID '{post_id}' does not exist, cannot "
                    "be loaded due to missing permissions, or does not support this operation.",
                    400,
                    33,
                )
            return reply(200, self.node(post_id, fields))
        ids = [i for i in seen.args.get("ids", "").split(",") if i]
        if len(ids) > 50:
            return self.error(100, f"(#100) Too many IDs. Maximum: 50. Provided: {len(ids)}.")
        missing = [i for i in ids if i not in posts]
        if missing:
            aliases = ",".join(missing)
            return self.error(
                803, f"(#803) Some of the aliases you requested do not exist: {aliases}", 404
            )
        return reply(200, {post_id: self.node(post_id, fields) for post_id in ids})

    def _bad_fields(self, fields: list[str]) -> Response | None:
        for field in fields:
            insights = _INSIGHTS.match(field)
            if insights is None and field not in COUNT_FIELDS:
                return self.error(100, f"(#100) Tried accessing nonexisting field ({field})")
            if insights is None:
                continue
            metrics = set(insights.group(1).split(","))
            if metrics & WITHDRAWN or not metrics <= POST_METRICS:
                return self.error(100, "(#100) The value must be a valid insights metric")
            if not self.insights_allowed:
                return self.error(
                    10, "(#10) Application does not have permission for this action", 403
                )
        return None

    def node(self, post_id: str, fields: list[str]) -> dict[str, Any]:
        figures = self.figures.get(post_id, {})
        node: dict[str, Any] = {"id": post_id}
        for field in fields:
            if field == "shares" and figures.get("shares"):
                node["shares"] = {"count": figures["shares"]}  # left out when nobody shared
            elif field.startswith("reactions."):
                node["reactions"] = {
                    "data": [],
                    "summary": {
                        "total_count": figures.get("reactions", 0),
                        "viewer_reaction": "NONE",
                    },
                }
            elif field.startswith("comments."):
                node["comments"] = {
                    "data": [],
                    "summary": {
                        "order": "ranked",
                        "total_count": figures.get("comments", 0),
                        "can_comment": True,
                    },
                }
            elif field.startswith("insights."):
                match = _INSIGHTS.match(field)
                assert match is not None
                metrics = match.group(1).split(",") if self.insights_kept else []
                node["insights"] = {
                    "data": [
                        {
                            "name": metric,
                            "period": "lifetime",
                            "values": [{"value": figures.get(metric, 0)}],
                            "title": metric.replace("_", " ").capitalize(),
                            "description": "Lifetime: " + metric.replace("_", " "),
                            "id": f"{post_id}/insights/{metric}/lifetime",
                        }
                        for metric in metrics
                    ],
                    "paging": {"previous": "", "next": ""},
                }
        return node
