"""A local LinkedIn: the versioned /rest Posts and Images API, an organization's share
statistics and social actions, /v2/userinfo, and its OAuth endpoints."""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

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

_LI_RESERVED = set("|{}@[]()<>\\*_~")
_LI_HASHTAG = re.compile(r"(?<!\\)#(\w+)")


def unescaped_reserved(commentary: str) -> list[str]:
    """Reserved characters not escaped (LinkedIn would cut the post at the first one)."""
    found = []
    i = 0
    while i < len(commentary):
        char = commentary[i]
        if char == "\\" and i + 1 < len(commentary):
            i += 2
            continue
        if char in _LI_RESERVED or (char == "#" and not commentary[i + 1 : i + 2].isalnum()):
            found.append(char)
        i += 1
    return found


class FakeLinkedIn(FakeServer):
    """LinkedIn /rest (posts, images) and /v2/userinfo, plus its OAuth endpoints."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = {"li-token"}
        self.refresh_tokens: set[str] = {"li-refresh"}
        self.refresh_calls = 0
        self.posts: list[dict[str, Any]] = []
        self.images: dict[str, bytes | None] = {}
        # What each post did, by URN, in share statistics' names (impressionCount, clickCount,
        # likeCount, commentCount, shareCount); a post without an entry has zeros.
        self.figures: dict[str, dict[str, int]] = {}
        # Scopes the token was not granted (e.g. rw_organization_admin, r_organization_social).
        self.missing_scopes: set[str] = set()

    def post_elsewhere(self, text: str) -> None:
        """A post made on linkedin.com (stored escaped, as LinkedIn keeps commentary)."""
        from core.platforms.linkedin import escape

        urn = f"urn:li:share:{self.next_id()}"
        self.posts.append(
            {"id": urn, "commentary": escape(text), "createdAt": int(time.time() * 1000)}
        )

    def herald_settings(self) -> dict[str, Any]:
        return {"linkedin_api_url": self.url, "linkedin_auth_url": f"{self.url}/oauth/v2"}

    def connect(self, rt: Runtime, *, refresh: bool = False) -> int:
        """The organization page Acme (with a refresh token if `refresh`)."""
        org = "urn:li:organization:5515715"
        credentials = {"access_token": "li-token", "author": org}
        if refresh:
            credentials["refresh_token"] = "li-refresh"
        return add_account(rt, "linkedin", org, "Acme", credentials)

    def add_post(
        self,
        text: str,
        *,
        kind: str = "share",
        age: timedelta = timedelta(0),
        author: str = "urn:li:organization:5515715",
        **figures: int,
    ) -> str:
        """A post of `author` made `age` ago (a `share` or a `ugcPost`), with these figures."""
        urn = f"urn:li:{kind}:{self.next_id()}"
        created = int((time.time() - age.total_seconds()) * 1000)
        self.posts.append({"id": urn, "author": author, "commentary": text, "createdAt": created})
        if figures:
            self.figures[urn] = dict(figures)
        return urn

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/oauth/v2/authorization":
            return self.authorized(seen.args)
        if path == "/oauth/v2/accessToken" and seen.form.get("grant_type") == "refresh_token":
            with self.lock:
                self.refresh_calls += 1
            if seen.form.get("refresh_token") not in self.refresh_tokens:
                return reply(
                    400,
                    {"error": "invalid_request", "error_description": "The token is revoked"},
                )
            token = f"li-{secrets.token_hex(4)}"
            self.tokens.add(token)
            # LinkedIn keeps the refresh token (it does not rotate) and says how long it lives.
            return reply(
                200,
                {
                    "access_token": token,
                    "expires_in": 5184000,
                    "refresh_token": seen.form["refresh_token"],
                    "refresh_token_expires_in": 31536000,
                },
            )
        if path == "/oauth/v2/accessToken":
            if self.codes.pop(seen.form.get("code", ""), None) is None:
                return reply(400, {"error": "invalid_request"})
            token = f"li-{secrets.token_hex(4)}"
            self.tokens.add(token)
            return reply(
                200,
                {
                    "access_token": token,
                    "expires_in": 5184000,
                    "scope": "openid,profile,w_member_social",
                },
            )
        if bearer(seen) not in self.tokens:
            return reply(
                401,
                {
                    "status": 401,
                    "serviceErrorCode": 65600,
                    "code": "INVALID_ACCESS_TOKEN",
                    "message": "Invalid access token",
                },
            )
        if path == "/v2/userinfo":
            return reply(200, {"sub": "782bbtaQ", "name": "Maria Acme"})
        if path.startswith("/upload/"):
            self.images[path.rsplit("/", 1)[1]] = seen.body
            return reply(201)
        if (
            seen.headers.get("Linkedin-Version") is None
            or seen.headers.get("X-Restli-Protocol-Version") != "2.0.0"
        ):
            return reply(
                400,
                {"status": 400, "code": "VERSION_MISSING", "message": "A version must be present"},
            )
        if path == "/rest/images":
            image = f"urn:li:image:C4E{self.next_id()}"
            self.images[image] = None
            return reply(
                200,
                {
                    "value": {
                        "uploadUrlExpiresAt": 1,
                        "image": image,
                        "uploadUrl": f"{self.url}/upload/{image}",
                    }
                },
            )
        if path == "/rest/posts" and seen.method == "POST":
            scripted = self.scripted("post")
            if scripted is not None:
                return scripted
            body = seen.json
            bad = unescaped_reserved(body["commentary"])
            if bad:
                return reply(422, {"status": 422, "message": f"unescaped {bad[0]}"})
            media = (body.get("content") or {}).get("media")
            if media and self.images.get(media["id"]) is None:
                return reply(422, {"status": 422, "message": "image not uploaded"})
            if any(p["commentary"] == body["commentary"] for p in self.posts):
                urn = self.posts[0]["id"]
                return reply(422, {"status": 422, "message": f"Content is a duplicate of {urn}"})
            urn = f"urn:li:share:{self.next_id()}"
            self.posts.append({"id": urn, **body, "createdAt": int(time.time() * 1000)})
            return self.lose_answer(reply(201, None, {"x-restli-id": urn}))
        if path == "/rest/posts" and seen.method == "GET":
            if seen.args.get("author", "").startswith("urn:li:person:"):
                # Reading a member's posts needs r_member_social, which apps rarely get.
                return reply(
                    403,
                    {
                        "status": 403,
                        "serviceErrorCode": 100,
                        "code": "ACCESS_DENIED",
                        "message": "Not enough permissions to access: posts.FINDER-author",
                    },
                )
            # q=author: newest first, `count` up to 100 (default 10) from `start`; hashtags
            # come back in LinkedIn's template form.
            paged = page_of(list(reversed(self.posts)), seen.args, "count", 10, 100)
            if paged is None:
                return reply(400, {"status": 400, "message": "count must be 1 to 100"})
            elements = [
                {**p, "commentary": _LI_HASHTAG.sub(r"{hashtag|\\#|\1}", p["commentary"])}
                for p in paged[0]
            ]
            start = int(seen.args.get("start", 0))
            paging = {"start": start, "count": len(elements), "total": len(self.posts)}
            return reply(200, {"elements": elements, "paging": paging})
        if path == "/rest/organizationalEntityShareStatistics":
            return self.share_statistics(seen, request)
        if path.startswith("/rest/socialActions"):
            return self.social_actions(seen, request)
        return reply(404, {"status": 404, "message": "Not found"})

    # --- figures ---------------------------------------------------------------------------

    @staticmethod
    def denied(message: str) -> Response:
        return reply(
            403,
            {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED", "message": message},
        )

    @staticmethod
    def listed(request: Request, name: str) -> list[str] | None:
        """The URNs of `name=List(…)` in the raw query, each URL-encoded as Rest.li 2.0
        wants them (the parentheses and commas bare); None when absent, [] when malformed."""
        raw = request.query_string.decode()
        match = re.search(rf"(?:^|&){name}=List\(([^)]*)\)", raw)
        if match is None:
            return None
        items = match.group(1).split(",")
        if any(":" in item or not item for item in items):
            return []  # a URN sent bare: LinkedIn cannot parse the list
        return [unquote(item) for item in items]

    def share_statistics(self, seen: Seen, request: Request) -> Response:
        """GET organizationalEntityShareStatistics?q=organizationalEntity&…&shares=List(…)
        (or ugcPosts=List(…)): lifetime organic figures, posts of the last 12 months only;
        a post that is not the organization's is refused as LinkedIn does (403)."""
        scripted = self.scripted("statistics")
        if scripted is not None:
            return scripted
        if "rw_organization_admin" in self.missing_scopes:
            return self.denied(
                "Not enough permissions to access: "
                "organizationalEntityShareStatistics.FINDER-organizationalEntity"
            )
        org = seen.args.get("organizationalEntity", "")
        shares, ugc = self.listed(request, "shares"), self.listed(request, "ugcPosts")
        if seen.args.get("q") != "organizationalEntity" or not org.startswith(
            "urn:li:organization:"
        ):
            return reply(400, {"status": 400, "message": "q=organizationalEntity is required"})
        if shares == [] or ugc == [] or (shares is not None and ugc is not None):
            # One kind a request (asking for both at once is refused, as reported by users).
            return reply(400, {"status": 400, "message": "Invalid query parameters"})
        urns, key = (shares, "share") if shares is not None else (ugc or [], "ugcPost")
        posts = {p["id"]: p for p in self.posts}
        year_ago = (time.time() - 365 * 86400) * 1000
        elements = []
        for index, urn in enumerate(urns):
            post = posts.get(urn)
            if post is None or post.get("author", org) != org:
                return self.denied(
                    "Unpermitted fields present in PARAMETER: Data Processing Exception while "
                    f"processing fields [/{key}s[{index}]]"
                )
            if post["createdAt"] < year_ago:
                continue  # LinkedIn keeps a rolling 12 months of statistics
            figures = self.figures.get(urn, {})
            impressions = figures.get("impressionCount", 0)
            engaged = sum(
                figures.get(k, 0) for k in ("clickCount", "likeCount", "commentCount", "shareCount")
            )
            elements.append(
                {
                    "organizationalEntity": org,
                    key: urn,
                    "totalShareStatistics": {
                        "uniqueImpressionsCount": impressions // 2,
                        "shareCount": figures.get("shareCount", 0),
                        "engagement": engaged / impressions if impressions else 0.0,
                        "clickCount": figures.get("clickCount", 0),
                        "likeCount": figures.get("likeCount", 0),
                        "impressionCount": impressions,
                        "commentCount": figures.get("commentCount", 0),
                    },
                }
            )
        return reply(200, {"paging": {"count": 10, "start": 0, "links": []}, "elements": elements})

    def social_actions(self, seen: Seen, request: Request) -> Response:
        """GET /rest/socialActions/{urn} or the batch GET /rest/socialActions?ids=List(…):
        likes and comments; in a batch an unknown post is a 404 in `errors`."""
        scripted = self.scripted("social")
        if scripted is not None:
            return scripted
        if "r_organization_social" in self.missing_scopes:
            return self.denied("Not enough permissions to access: socialActions.BATCH_GET")
        posts = {p["id"]: p for p in self.posts}
        if seen.path != "/rest/socialActions":
            urn = unquote(seen.path.removeprefix("/rest/socialActions/"))
            if urn not in posts:
                return reply(404, {"status": 404, "message": f"{urn} not found"})
            return reply(200, self.summary(urn))
        urns = self.listed(request, "ids")
        if not urns:
            return reply(400, {"status": 400, "message": "ids=List(…) is required"})
        results, statuses, errors = {}, {}, {}
        for urn in urns:
            if urn in posts:
                results[urn], statuses[urn] = self.summary(urn), 200
            else:
                statuses[urn] = 404
                errors[urn] = {"status": 404, "message": f"Not found: {urn}"}
        return reply(200, {"results": results, "statuses": statuses, "errors": errors})

    def summary(self, urn: str) -> dict[str, Any]:
        figures = self.figures.get(urn, {})
        comments = figures.get("commentCount", 0)
        return {
            "$URN": f"urn:li:activity:{urn.rsplit(':', 1)[1]}",
            "target": urn,
            "likesSummary": {
                "likedByCurrentUser": False,
                "totalLikes": figures.get("likeCount", 0),
                "aggregatedTotalLikes": figures.get("likeCount", 0),
            },
            "commentsSummary": {
                "totalFirstLevelComments": comments,
                "aggregatedTotalComments": comments,
            },
        }
