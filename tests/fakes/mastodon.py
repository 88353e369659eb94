"""A local Mastodon instance: statuses with idempotency keys, media that processes,
rate-limit headers, its OAuth endpoints, and statuses read back with their counts (one at a
time, or up to 20 at once as Mastodon 4.3 and later do)."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from bot.runtime import Runtime
from tests.fakes.server import (
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


def mastodon_html(text: str) -> str:
    def link(match: re.Match[str]) -> str:
        url = html.unescape(match.group(0))
        scheme, _, rest = url.partition("://")
        return (
            f'<a href="{html.escape(url)}" rel="nofollow noopener" target="_blank">'
            f'<span class="invisible">{scheme}://</span>'
            f'<span class="ellipsis">{html.escape(rest[:30])}</span>'
            f'<span class="invisible">{html.escape(rest[30:])}</span></a>'
        )

    linked = URL.sub(link, html.escape(text, quote=False))
    return "".join("<p>" + p.replace("\n", "<br />") + "</p>" for p in linked.split("\n\n"))


class FakeMastodon(FakeServer):
    """A Mastodon instance: statuses with Idempotency-Key, media v2, app registration, OAuth."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = {"masto-token"}
        self.statuses: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.apps: dict[str, dict[str, str]] = {}
        self.processing_polls = 0
        self.honour_keys = True  # False: a server that ignores Idempotency-Key
        self.batch_reads = True  # False: before 4.3, GET /api/v1/statuses is a 404
        self.quotes = True  # False: before 4.5, a Status has no quotes_count
        self.read_remaining = 299  # X-RateLimit-Remaining on reads

    def add_status(self, text: str, media_ids: list[str] | None = None) -> dict[str, Any]:
        """A status as Mastodon stores it: `content` is HTML (escaped text, linked URLs with
        their invisible parts, paragraphs and <br />)."""
        status_id = self.next_id()
        status = {
            "id": status_id,
            "uri": f"https://masto.test/users/acme/statuses/{status_id}",
            "url": f"https://masto.test/@acme/{status_id}",
            "created_at": iso_now(),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "content": mastodon_html(text),
            "reblog": None,
            "account": {"id": "109", "username": "acme", "acct": "acme"},
            "media_attachments": [{"id": m} for m in media_ids or []],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        self.statuses.append(status)
        return status

    def react(self, status_id: str, **counts: int) -> None:
        """People favourited, boosted, replied to or quoted a status: its counts become these
        (favourites_count=…, reblogs_count=…, replies_count=…, quotes_count=…)."""
        self.status(status_id).update(counts)

    def status(self, status_id: str) -> dict[str, Any]:
        return next(s for s in self.statuses if s["id"] == status_id)

    def delete(self, status_id: str) -> None:
        """Deleted from the web: reading it is a 404, and a batch leaves it out."""
        self.statuses.remove(self.status(status_id))

    def shown(self, status: dict[str, Any]) -> dict[str, Any]:
        """A status as the API renders it (no quotes_count before Mastodon 4.5)."""
        if self.quotes:
            return status
        return {k: v for k, v in status.items() if k != "quotes_count"}

    def post_elsewhere(self, text: str) -> None:
        """A status posted from the web or another app."""
        self.add_status(text)

    def limits(self, remaining: int = 299) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": "2030-01-01T00:00:00.000Z",
        }

    def connect(self, rt: Runtime) -> int:
        """@acme@masto.test on this instance."""
        credentials = {"instance": self.url, "access_token": "masto-token", "id": "109"}
        return add_account(rt, "mastodon", "acme@masto.test", "@acme@masto.test", credentials)

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/api/v1/apps":
            client_id = f"app-{len(self.apps) + 1}"
            self.apps[client_id] = {"secret": f"secret-{client_id}", **seen.form}
            return reply(
                200,
                {
                    "id": "1",
                    "name": seen.form.get("client_name"),
                    "client_id": client_id,
                    "client_secret": f"secret-{client_id}",
                },
            )
        if path == "/oauth/authorize":
            if seen.args.get("client_id") not in self.apps:
                return reply(400, {"error": "invalid_client"})
            return self.authorized(seen.args)
        if path == "/oauth/token":
            asked = self.codes.pop(seen.form.get("code", ""), None)
            app = self.apps.get(seen.form.get("client_id", ""))
            if (
                asked is None
                or app is None
                or app["secret"] != seen.form.get("client_secret")
                or challenge(seen.form.get("code_verifier", "")) != asked["code_challenge"]
            ):
                return reply(400, {"error": "invalid_grant"})
            token = f"masto-{secrets.token_hex(4)}"
            self.tokens.add(token)
            return reply(
                200,
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "scope": "read write",
                    "created_at": 1,
                },
            )
        if bearer(seen) not in self.tokens:
            return reply(401, {"error": "The access token is invalid"})
        if path == "/api/v1/accounts/verify_credentials":
            return reply(200, {"id": "109", "username": "acme", "acct": "acme"})
        if path == "/api/v2/media":
            scripted = self.scripted("media")
            if scripted is not None:
                return scripted
            media_id = self.next_id()
            video = "video" in (request.files["file"].mimetype or "")
            self.media[media_id] = {
                "description": seen.form.get("description"),
                "size": len(seen.files["file"]),
                "ready": not video,
            }
            body = {
                "id": media_id,
                "type": "video" if video else "image",
                "url": None if video else f"{self.url}/m/{media_id}",
                "description": seen.form.get("description"),
            }
            return reply(202 if video else 200, body)
        if path.startswith("/api/v1/media/"):
            media_id = path.rsplit("/", 1)[1]
            self.processing_polls += 1
            self.media[media_id]["ready"] = True
            return reply(200, {"id": media_id, "url": f"{self.url}/m/{media_id}"})
        if path == "/api/v1/statuses" and seen.method == "POST":
            scripted = self.scripted("post")
            if scripted is not None:
                return scripted
            key = seen.headers.get("Idempotency-Key") if self.honour_keys else None
            if key and key in self.by_key:
                return reply(200, self.by_key[key], self.limits())
            data: dict[str, Any] = seen.json if seen.json is not None else seen.form
            if not data.get("status"):
                return reply(422, {"error": "Validation failed: Text can't be blank"})
            for media_id in data.get("media_ids", []):
                if not self.media.get(media_id, {}).get("ready"):
                    return reply(422, {"error": "Validation failed: media not ready"})
            status = self.add_status(data["status"], data.get("media_ids", []))
            status["visibility"] = data.get("visibility")
            if key:
                self.by_key[key] = status
            return self.lose_answer(reply(200, status, self.limits()))
        if path == "/api/v1/statuses" and seen.method == "GET":
            # Mastodon 4.3+: up to 20 id[]; the ones that do not exist are left out.
            if not self.batch_reads:
                return reply(404, {"error": "Record not found"})
            scripted = self.scripted("read")
            if scripted is not None:
                return scripted
            ids = list(dict.fromkeys(request.args.getlist("id[]")))
            if len(ids) > 20:
                return reply(422, {"error": "Mastodon::ValidationError"})
            by_id = {s["id"]: s for s in self.statuses}
            found = [self.shown(by_id[i]) for i in ids if i in by_id]
            return reply(200, found, self.limits(self.read_remaining))
        if path.startswith("/api/v1/statuses/") and seen.method == "GET":
            scripted = self.scripted("read")
            if scripted is not None:
                return scripted
            status_id = path.rsplit("/", 1)[1]
            match = [s for s in self.statuses if s["id"] == status_id]
            if not match:
                return reply(404, {"error": "Record not found"})
            return reply(200, self.shown(match[0]), self.limits(self.read_remaining))
        if path.startswith("/api/v1/accounts/") and path.endswith("/statuses"):
            # Newest first, `limit` up to 40 (default 20), older than `max_id`.
            newest = list(reversed(self.statuses))
            if seen.args.get("max_id"):
                newest = [s for s in newest if int(s["id"]) < int(seen.args["max_id"])]
            paged = page_of(newest, {"limit": seen.args.get("limit", "20")}, "limit", 20, 40)
            if paged is None:
                return reply(422, {"error": "limit must be 1 to 40"})
            return reply(200, paged[0])
        return reply(404, {"error": "Record not found"})
