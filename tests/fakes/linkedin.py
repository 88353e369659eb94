"""A local LinkedIn: the versioned /rest Posts and Images API, /v2/userinfo, and its
OAuth endpoints."""

from __future__ import annotations

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
        self.posts: list[dict[str, Any]] = []
        self.images: dict[str, bytes | None] = {}

    def post_elsewhere(self, text: str) -> None:
        """A post made on linkedin.com (stored escaped, as LinkedIn keeps commentary)."""
        from core.platforms.linkedin import escape

        urn = f"urn:li:share:{self.next_id()}"
        self.posts.append(
            {"id": urn, "commentary": escape(text), "createdAt": int(time.time() * 1000)}
        )

    def herald_settings(self) -> dict[str, Any]:
        return {"linkedin_api_url": self.url, "linkedin_auth_url": f"{self.url}/oauth/v2"}

    def connect(self, rt: Runtime) -> int:
        """The organization page Acme."""
        org = "urn:li:organization:5515715"
        return add_account(rt, "linkedin", org, "Acme", {"access_token": "li-token", "author": org})

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/oauth/v2/authorization":
            return self.authorized(seen.args)
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
        return reply(404, {"status": 404, "message": "Not found"})
