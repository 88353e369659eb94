"""A local X: API v2 (posts, media upload, timelines, post lookup with metrics) checked
against X's OpenAPI spec, and its OAuth 2.0 (PKCE) authorization server."""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jsonschema
from werkzeug.wrappers import Request, Response

from bot.runtime import Runtime
from core.twitter_text import weighted_length
from tests.fakes.server import (
    SPECS,
    URL,
    FakeServer,
    Seen,
    bearer,
    challenge,
    iso_now,
    page_of,
    reply,
)
from tests.support.platforms import add_account


@lru_cache(maxsize=1)
def x_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((SPECS / "x" / "x-api-v2-openapi.v2.167.json").read_text())
    return spec


def x_schema_errors(name: str, instance: Any) -> list[str]:
    """Validate against a component of the pinned X OpenAPI spec."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": x_spec()["components"]}
    validator = jsonschema.Draft7Validator(schema)
    return [e.message for e in validator.iter_errors(instance)]


def x_text(text: str) -> str:
    """A post's text as X's API returns it: `&<>` as entities, every link a t.co link."""
    escaped = html.escape(text, quote=False)
    return URL.sub(
        lambda m: "https://t.co/" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10], escaped
    )


def x_post_fields() -> set[str]:
    """The fields `post.fields` (`tweet.fields`) may name, from the pinned spec."""
    parameter = x_spec()["components"]["parameters"]["PostFieldsParameter"]
    return set(parameter["schema"]["items"]["enum"])


TWEPOCH_MS = 1288834974657
PRIVATE_FOR = timedelta(days=30)  # X tells non-public metrics for this long after posting
PRIVATE_FIELDS = ("impression_count", "url_link_clicks", "user_profile_clicks")
_POST_ID = re.compile(r"^[0-9]{1,19}$")


def snowflake(at: datetime, sequence: int = 0) -> str:
    """An id as X makes them: milliseconds since X's epoch, shifted 22 bits, and a sequence."""
    millis = int(at.timestamp() * 1000) - TWEPOCH_MS
    return str((millis << 22) | (sequence & 0x3FFFFF))


class FakeX(FakeServer):
    """X API v2 plus its OAuth 2.0 (PKCE) authorization server."""

    def __init__(self) -> None:
        super().__init__()
        self._sequence = itertools.count()
        # Figures each post has (GET /2/tweets), by post id; a post without an entry has zeros.
        self.figures: dict[str, dict[str, int]] = {}
        # False: X refuses every post's non-public metrics (as for an access level without
        # them), with a field authorization error per post and field.
        self.private_metrics = True
        # Problem type URIs: X's traffic says api.twitter.com, spec v2.167 api.x.com.
        self.problems = "https://api.twitter.com/2/problems/"
        # True: answer with spec v2.167's names (`repost_count`) instead of `retweet_count`.
        self.spec_names = False
        self.read_remaining = "899"
        self.user = {"id": "2244994945", "username": "acme", "name": "Acme"}
        self.access_tokens: set[str] = {"x-access-1"}
        self.refresh_tokens: set[str] = {"x-refresh-1"}
        self.refresh_calls = 0
        self.posts: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.schema_errors: list[str] = []
        self.remaining = "299"

    def herald_settings(self) -> dict[str, Any]:
        return {
            "x_api_url": self.url,
            "x_upload_url": self.url,
            "x_auth_url": f"{self.url}/i/oauth2/authorize",
        }

    def connect(self, rt: Runtime, *, expires_in: timedelta = timedelta(hours=2)) -> int:
        """@acme, with tokens that expire in `expires_in`."""
        return add_account(
            rt,
            "x",
            "2244994945",
            "@acme",
            {"access_token": "x-access-1", "refresh_token": "x-refresh-1"},
            expires_at=datetime.now(UTC) + expires_in,
        )

    def next_id(self) -> str:
        """A snowflake of now: X reads a post's age from its id."""
        return snowflake(datetime.now(UTC), next(self._sequence))

    def add_post(self, text: str, *, age: timedelta = timedelta(0), **figures: int) -> str:
        """A post on the account made `age` ago, with these figures (like_count=3, …)."""
        at = datetime.now(UTC) - age
        post_id = snowflake(at, next(self._sequence))
        created = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.posts.append({"id": post_id, "text": text, "created_at": created})
        if figures:
            self.figures[post_id] = dict(figures)
        return post_id

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/i/oauth2/authorize":
            return self.authorize(seen)
        if path == "/2/oauth2/token":
            return self.token(seen)
        if bearer(seen) not in self.access_tokens:
            return reply(
                401,
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            )
        if path == "/2/users/me":
            return reply(200, {"data": self.user})
        if path == "/2/tweets" and seen.method == "POST":
            return self.create(seen)
        if path == "/2/tweets" and seen.method == "GET":
            return self.lookup(seen)
        if path.startswith("/2/users/") and path.endswith("/tweets"):
            return self.timeline(seen)
        if path.startswith("/2/media"):
            return self.media_call(seen)
        return reply(404, {"title": "Not Found", "status": 404})

    def timeline(self, seen: Seen) -> Response:
        """GET /2/users/:id/tweets: newest first, `start_time`, `max_results` 5-100 (default
        10), `pagination_token`; text as X returns it (entities escaped, links as t.co)."""
        since = seen.args.get("start_time")
        dated = [{"created_at": "2020-01-01T00:00:00.000Z", **p} for p in reversed(self.posts)]
        posts = [p for p in dated if not since or p["created_at"] >= since]
        paged = page_of(posts, seen.args, "max_results", 10, 100)
        if paged is None or int(seen.args.get("max_results", 10)) < 5:
            return reply(400, {"title": "Invalid Request", "detail": "max_results: 5 to 100"})
        items, after = paged
        data = [
            {
                "id": p["id"],
                # A post with media ends with a t.co link to it, as on X.
                "text": x_text(p["text"])
                + (f" https://t.co/m{p['id'][-6:]}" if p.get("media") else ""),
                "created_at": p["created_at"],
            }
            for p in items
        ]
        meta: dict[str, Any] = {"result_count": len(data)}
        if after < len(posts):
            meta["next_token"] = str(after)
        return reply(200, {"data": data, "meta": meta})

    def lookup(self, seen: Seen) -> Response:
        """GET /2/tweets?ids=…: 1 to 100 ids, `tweet.fields` (or spec v2.167's `post.fields`)
        from the spec's list. Posts not found and fields refused come back in `errors`; a
        post whose non-public metrics are refused is left out of `data`, as X does."""
        scripted = self.scripted("lookup")
        if scripted is not None:
            return scripted
        ids = [i for i in seen.args.get("ids", "").split(",") if i]
        fields = seen.args.get("tweet.fields") or seen.args.get("post.fields") or ""
        wanted = [f for f in fields.split(",") if f]
        bad = [f for f in wanted if f not in x_post_fields()]
        if not 1 <= len(ids) <= 100 or any(not _POST_ID.match(i) for i in ids) or bad:
            return reply(
                400,
                {
                    "errors": [{"parameters": {"ids": ids}, "message": "invalid ids or fields"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": self.problems + "invalid-request",
                },
                self.read_limits(),
            )
        posts = {p["id"]: p for p in self.posts}
        private = [f for f in wanted if f in ("non_public_metrics", "organic_metrics")]
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for post_id in ids:
            post = posts.get(post_id)
            if post is None:
                errors.append(
                    {
                        "value": post_id,
                        "detail": f"Could not find tweet with ids: [{post_id}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": post_id,
                        "type": self.problems + "resource-not-found",
                    }
                )
                continue
            if private and not self._tells_private(post):
                errors += [
                    self._field_refused(post_id, f"{group}.{name}")
                    for group in private
                    for name in PRIVATE_FIELDS
                ]
                continue
            data.append(self._as_read(post, wanted))
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if errors:
            body["errors"] = errors
        return reply(200, body, self.read_limits())

    def _tells_private(self, post: dict[str, Any]) -> bool:
        created = datetime.fromisoformat(
            str(post.get("created_at") or iso_now()).replace("Z", "+00:00")
        )
        return self.private_metrics and datetime.now(UTC) - created < PRIVATE_FOR

    def _field_refused(self, post_id: str, field: str) -> dict[str, Any]:
        return {
            "value": post_id,
            "detail": f"Sorry, you are not authorized to access '{field}' on the Tweet with "
            f"ids: [{post_id}].",
            "title": "Field Authorization Error",
            "resource_type": "tweet",
            "parameter": "ids",
            "resource_id": post_id,
            "field": field,
            "section": "data",
            "type": self.problems + "not-authorized-for-field",
        }

    def _as_read(self, post: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        figures = self.figures.get(post["id"], {})
        item: dict[str, Any] = {
            "id": post["id"],
            "text": x_text(post["text"]),
            ("edit_history_post_ids" if self.spec_names else "edit_history_tweet_ids"): [
                post["id"]
            ],
        }
        impressions = figures.get("impression_count", 0)
        if "public_metrics" in wanted:
            item["public_metrics"] = {
                ("repost_count" if self.spec_names else "retweet_count"): figures.get(
                    "retweet_count", 0
                ),
                "reply_count": figures.get("reply_count", 0),
                "like_count": figures.get("like_count", 0),
                "quote_count": figures.get("quote_count", 0),
                "bookmark_count": figures.get("bookmark_count", 0),
                "impression_count": impressions,
            }
        if "non_public_metrics" in wanted:
            private = {"impression_count": impressions}
            # X leaves link clicks out for a post without a link.
            if "url_link_clicks" in figures:
                private["url_link_clicks"] = figures["url_link_clicks"]
            private["user_profile_clicks"] = figures.get("user_profile_clicks", 0)
            item["non_public_metrics"] = private
        return item

    def read_limits(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": self.read_remaining,
            "x-rate-limit-reset": str(int(time.time()) + 900),
        }

    def post_elsewhere(self, text: str) -> None:
        """A post made outside Herald (the X app)."""
        self.posts.append({"id": self.next_id(), "text": text, "created_at": iso_now()})

    def limits(self) -> dict[str, str]:
        reset = str(int(time.time()) + 900)
        return {
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": self.remaining,
            "x-rate-limit-reset": reset,
            "x-user-limit-24hour-limit": "100",
            "x-user-limit-24hour-remaining": "99",
            "x-user-limit-24hour-reset": str(int(time.time()) + 86400),
        }

    def create(self, seen: Seen) -> Response:
        errors = x_schema_errors("CreatePostsRequest", seen.json)
        if errors:
            self.schema_errors.extend(errors)
            return reply(
                400,
                {
                    "errors": [{"message": errors[0]}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
            )
        scripted = self.scripted("post")
        if scripted is not None:
            return scripted
        text = seen.json["text"]
        if weighted_length(text) > 280:
            return reply(
                403,
                {
                    "detail": "Tweet needs to be a bit shorter.",
                    "status": 403,
                    "title": "Forbidden",
                    "type": "about:blank",
                },
            )
        if any(p["text"] == text for p in self.posts):
            return reply(
                403,
                {
                    "detail": "You are not allowed to create a Tweet with duplicate content.",
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                },
                self.limits(),
            )
        for media_id in (seen.json.get("media") or {}).get("media_ids", []):
            if media_id not in self.media:
                return reply(
                    400,
                    {
                        "title": "Invalid Request",
                        "detail": "unknown media id",
                        "errors": [{"message": f"media id {media_id} not found"}],
                    },
                )
        post_id = self.next_id()
        self.posts.append({"id": post_id, **seen.json, "created_at": iso_now()})
        return self.lose_answer(
            reply(
                201,
                {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}},
                self.limits(),
            )
        )

    def media_call(self, seen: Seen) -> Response:
        scripted = self.scripted("media")
        if scripted is not None:
            return scripted
        path = seen.path
        if path == "/2/media/upload" and seen.method == "POST":
            if "media" not in seen.files or "media_category" not in seen.form:
                return reply(400, {"title": "Invalid Request", "detail": "media is required"})
            media_id = self.next_id()
            self.media[media_id] = {
                "size": len(seen.files["media"]),
                "category": seen.form["media_category"],
            }
            return reply(
                200,
                {
                    "data": {
                        "id": media_id,
                        "media_key": f"3_{media_id}",
                        "size": len(seen.files["media"]),
                        "expires_after_secs": 86400,
                    }
                },
            )
        if path == "/2/media/metadata":
            errors = x_schema_errors("CreateMediaMetadataRequest", seen.json)
            if errors or seen.json["id"] not in self.media:
                return reply(400, {"title": "Invalid Request", "detail": "bad metadata"})
            self.media[seen.json["id"]]["alt"] = seen.json["metadata"]["alt_text"]["text"]
            return reply(200, {"data": {"associated_metadata": True, "id": seen.json["id"]}})
        if path == "/2/media/upload/initialize":
            media_id = self.next_id()
            self.media[media_id] = {
                "size": 0,
                "total": seen.json["total_bytes"],
                "category": seen.json["media_category"],
            }
            return reply(
                200,
                {
                    "data": {
                        "id": media_id,
                        "media_key": f"7_{media_id}",
                        "expires_after_secs": 86400,
                    }
                },
            )
        if path.endswith("/append"):
            media_id = path.split("/")[-2]
            self.media[media_id]["size"] += len(seen.files["media"])
            return reply(200, {"data": {"expires_at": 1}})
        if path.endswith("/finalize"):
            media_id = path.split("/")[-2]
            return reply(
                200,
                {
                    "data": {
                        "id": media_id,
                        "processing_info": {"state": "pending", "check_after_secs": 0},
                    }
                },
            )
        if path == "/2/media/upload" and seen.method == "GET":
            return reply(
                200,
                {"data": {"id": seen.args["media_id"], "processing_info": {"state": "succeeded"}}},
            )
        return reply(404, {"title": "Not Found"})

    # OAuth 2.0 with PKCE --------------------------------------------------------------------

    def authorize(self, seen: Seen) -> Response:
        args = seen.args
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return reply(400, {"error": "invalid_request", "error_description": "PKCE required"})
        return self.authorized(args)

    def token(self, seen: Seen) -> Response:
        form = seen.form
        if form.get("grant_type") == "authorization_code":
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or challenge(form.get("code_verifier", "")) != asked["code_challenge"]:
                return reply(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "Value passed for the code was invalid.",
                    },
                )
        elif form.get("grant_type") == "refresh_token":
            with self.lock:
                self.refresh_calls += 1
                if form.get("refresh_token") not in self.refresh_tokens:
                    return reply(
                        400,
                        {"error": "invalid_request", "error_description": "Invalid refresh token"},
                    )
                self.refresh_tokens.discard(form["refresh_token"])
        else:
            return reply(400, {"error": "unsupported_grant_type"})
        n = secrets.token_hex(4)
        access, refresh = f"x-access-{n}", f"x-refresh-{n}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return reply(
            200,
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "scope": "tweet.read tweet.write users.read offline.access",
                "refresh_token": refresh,
            },
        )
