"""Local fakes of X, Mastodon, Bluesky, LinkedIn and Facebook that speak their wire formats.

Each fake is a real HTTP server (werkzeug, threaded, 127.0.0.1 on an ephemeral port) with the
network's success answers, its error bodies and rate-limit headers, and a fake authorization
server for the OAuth flows. Tests script failures with `fail_next(...)` and read what the fake
received from `requests` and its stores.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from core.networks import weighted_length

SPECS = Path("/work/shared/contracts/specs")
if not SPECS.exists():  # CI lays shared/ beside the clone
    SPECS = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "specs"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    args: dict[str, str]
    json: Any
    form: dict[str, str]
    files: dict[str, bytes]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (wall clock, like Retry-After)


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(b"", status=status, headers=headers or {})
    return Response(
        json.dumps(body), status=status, headers=headers or {}, content_type="application/json"
    )


class FakeServer:
    """A threaded HTTP server; subclasses implement `route(seen) -> Response`."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.failures: dict[str, list[Scripted]] = {}
        self._ids = itertools.count(1_880_000_000_000_000_000)
        self.delay = 0.0
        self.static: dict[str, tuple[str, bytes]] = {}  # path -> (content type, bytes)
        # Posts to accept and then answer 502, as when the connection is cut after the
        # network stored the post: the caller cannot tell whether it went out.
        self.answer_lost = 0
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def next_id(self) -> str:
        with self.lock:
            return str(next(self._ids))

    def fail_next(self, kind: str, status: int, body: Any = None, **headers: str) -> None:
        """Make the next `kind` call answer this instead (kinds are per fake, e.g. "post")."""
        fixed = {k.replace("_", "-"): v for k, v in headers.items()}
        self.failures.setdefault(kind, []).append(Scripted(status, body, fixed))

    def scripted(self, kind: str) -> Response | None:
        with self.lock:
            queue = self.failures.get(kind) or []
            if not queue:
                return None
            item = queue.pop(0)
        return reply(item.status, item.body, item.headers)

    def lose_answer(self, response: Response) -> Response:
        with self.lock:
            if self.answer_lost <= 0:
                return response
            self.answer_lost -= 1
        return reply(502, {"error": "Bad Gateway"})

    def seen(self, path_part: str, method: str | None = None) -> list[Seen]:
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        raw = request.get_data(cache=True, parse_form_data=False)
        payload = None
        if request.mimetype == "application/json" and raw:
            payload = json.loads(raw)
        form = {k: v for k, v in request.form.items()}
        files = {k: f.read() for k, f in request.files.items()}
        seen = Seen(
            request.method,
            request.path,
            dict(request.headers.items()),
            dict(request.args.items()),
            payload,
            form,
            files,
            raw,
        )
        with self.lock:
            self.requests.append(seen)
        if self.delay:
            time.sleep(self.delay)
        if seen.path in self.static:
            ctype, data = self.static[seen.path]
            return Response(data, content_type=ctype)(environ, start_response)
        if self.before_handled(seen, environ):
            # Held, then dropped unhandled; the status line below goes nowhere (socket shut).
            return Response(b"", status=502)(environ, start_response)
        response = self.route(seen, request)
        if self.after_handled(seen, environ):
            return Response(b"", status=502)(environ, start_response)  # cut: never arrives
        return response(environ, start_response)

    def route(self, seen: Seen, request: Request) -> Response:
        raise NotImplementedError

    # --- fault hooks: what happens to an answer after the network accepted the request -------

    def on_answer(self, path: str, action: str, nth: int = 1) -> AnswerFault:
        """After the `nth` request to `path` from now on was handled (a post was created),
        "stall" holds the answer until `release` (or 60 s), "cut" drops the connection unanswered;
        "hold" keeps the request unhandled until `release`, then drops it (nothing created)."""
        fault = AnswerFault(path, action, nth)
        with self.lock:
            self.__dict__.setdefault("answer_faults", []).append(fault)
        return fault

    def _fired(self, seen: Seen, actions: tuple[str, ...]) -> list[AnswerFault]:
        faults: list[AnswerFault] = self.__dict__.get("answer_faults", [])
        with self.lock:
            return [
                f
                for f in faults
                if f.action in actions and f.path == seen.path and f.count(seen.method)
            ]

    def before_handled(self, seen: Seen, environ: dict[str, Any]) -> bool:
        """ "hold": keep the request until `release`, then drop it without creating anything."""
        for fault in self._fired(seen, ("hold",)):
            fault.reached.set()
            fault.release.wait(60)
            _cut(environ)
            return True
        return False

    def after_handled(self, seen: Seen, environ: dict[str, Any]) -> bool:
        """Apply a scripted stall or cut to this answer; True when the connection was cut."""
        for fault in self._fired(seen, ("stall", "cut")):
            fault.reached.set()
            if fault.action == "stall":
                fault.release.wait(60)
            elif fault.action == "cut":
                _cut(environ)
                return True
        return False


def _cut(environ: dict[str, Any]) -> None:
    """Close the connection under the request: the client sees it drop with no answer."""
    with contextlib.suppress(OSError):  # the client may be gone already (its worker killed)
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)


@dataclass
class AnswerFault:
    """A stall or cut scripted for the `nth` POST to a path (see `FakeServer.on_answer`)."""

    path: str
    action: str  # "hold" | "stall" | "cut"
    nth: int
    seen: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def count(self, method: str) -> bool:
        if method != "POST":
            return False
        self.seen += 1
        return self.seen == self.nth


_URL = re.compile(r"https?://[^\s<]*[^\s<.,;:!?)\]'\"]")


def iso_now() -> str:
    """The instant as Mastodon and X write it (milliseconds, Z)."""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z"
    )


def page_of(
    items: list[Any], args: dict[str, str], size: str, default: int, most: int
) -> tuple[list[Any], int] | None:
    """Items from `start`/offset on, as many as the request's page size allows (at most
    `most`, like the network); None when the size is out of the network's range."""
    try:
        count = int(args.get(size, default))
    except ValueError:
        return None
    if not 1 <= count <= most:
        return None
    start = int(args.get("start") or args.get("after") or args.get("pagination_token") or 0)
    return items[start : start + count], start + count


def bearer(seen: Seen) -> str | None:
    value = seen.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- X --------------------------------------------------------------------------------------


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
    return _URL.sub(
        lambda m: "https://t.co/" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10], escaped
    )


class FakeX(FakeServer):
    """X API v2 plus its OAuth 2.0 (PKCE) authorization server."""

    def __init__(self) -> None:
        super().__init__()
        self.user = {"id": "2244994945", "username": "acme", "name": "Acme"}
        self.access_tokens: set[str] = {"x-access-1"}
        self.refresh_tokens: set[str] = {"x-refresh-1"}
        self.refresh_calls = 0
        self.posts: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.schema_errors: list[str] = []
        self.remaining = "299"

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
        code = secrets.token_urlsafe(8)
        self.codes[code] = dict(args)
        target = f"{args['redirect_uri']}?{urlencode({'state': args['state'], 'code': code})}"
        return Response("", status=302, headers={"Location": target})

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


# --- helpers shared by the platform tests ------------------------------------------------------


def runtime_with(settings: Any, *, worker: bool = True, **overrides: Any) -> Any:
    """A runtime whose settings point at the fakes; the SSRF policy may reach 127.0.0.1."""
    import ipaddress

    from pydantic import SecretStr

    from bot.runtime import build_runtime
    from core.platforms.base import hub_of
    from core.ssrf import SafeFetcher
    from storage.vault import new_key

    values = {"public_url": "http://herald.test", "secret_key": SecretStr(new_key()), **overrides}
    # model_copy does not validate: secrets given as text become SecretStr here.
    values = {
        k: SecretStr(v) if k.endswith("_secret") and isinstance(v, str) else v
        for k, v in values.items()
    }
    rt = build_runtime(settings.model_copy(update=values))
    hub_of(rt.herald.ctx.publishers).fetcher = SafeFetcher(
        allow=(ipaddress.ip_network("127.0.0.0/8"),)
    )
    if worker:
        start_worker(rt)
    return rt


def start_worker(rt: Any) -> None:
    from workers.app import EmbeddedWorker

    if rt.embedded is None:
        rt.embedded = EmbeddedWorker(rt.celery, rt.settings)
        rt.embedded.start()


def add_account(
    rt: Any,
    network: str,
    account_id: str,
    display: str,
    credentials: dict[str, Any],
    *,
    expires_at: Any = None,
    who: Any = None,
) -> int:
    """Store a connected account as the OAuth callback would (sealed credentials)."""
    from core import oauth
    from core.platforms.base import hub_of
    from core.workspaces import resolve
    from tests.conftest import actor

    person = who or actor("maria")
    ctx = rt.herald.ctx
    with ctx.tx() as tx:
        ws, me = resolve(tx, person, ctx.settings.timezone)
        row = oauth.save_account(
            tx,
            hub_of(ctx.publishers),
            ws,
            me,
            network,
            oauth.NewAccount(account_id, display, credentials, expires_at),
            person.conversation,
        )
        return int(row.id)


def tiny_png(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


# --- Mastodon ---------------------------------------------------------------------------------


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

    linked = _URL.sub(link, html.escape(text, quote=False))
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
        self.codes: dict[str, dict[str, str]] = {}
        self.processing_polls = 0
        self.honour_keys = True  # False: a server that ignores Idempotency-Key

    def add_status(self, text: str, media_ids: list[str] | None = None) -> dict[str, Any]:
        """A status as Mastodon stores it: `content` is HTML (escaped text, linked URLs with
        their invisible parts, paragraphs and <br />)."""
        status_id = self.next_id()
        status = {
            "id": status_id,
            "url": f"https://masto.test/@acme/{status_id}",
            "created_at": iso_now(),
            "content": mastodon_html(text),
            "media_attachments": [{"id": m} for m in media_ids or []],
        }
        self.statuses.append(status)
        return status

    def post_elsewhere(self, text: str) -> None:
        """A status posted from the web or another app."""
        self.add_status(text)

    def limits(self, remaining: int = 299) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": "2030-01-01T00:00:00.000Z",
        }

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
            code = secrets.token_urlsafe(8)
            self.codes[code] = dict(seen.args)
            location = f"{seen.args['redirect_uri']}?" + urlencode(
                {"code": code, "state": seen.args["state"]}
            )
            return Response("", status=302, headers={"Location": location})
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
            data = seen.json if seen.json is not None else seen.form
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


# --- Bluesky ----------------------------------------------------------------------------------


@cache
def lexicon(nsid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPECS / "bluesky-lexicons" / f"{nsid}.json").read_text())
    return data


def _lex_check(nsid: str, name: str, value: Any, errors: list[str], where: str) -> None:
    """A small validator for the lexicon subset posts use (objects, strings, arrays, refs)."""
    defs = lexicon(nsid)["defs"]
    schema = defs[name]
    if schema["type"] == "record":
        schema = schema["record"]
    _lex_value(nsid, schema, value, errors, where)


def _lex_value(
    nsid: str, schema: dict[str, Any], value: Any, errors: list[str], where: str
) -> None:
    kind = schema.get("type")
    if kind == "ref":
        ref = schema["ref"]
        target_nsid, _, name = ref.partition("#")
        target_nsid = target_nsid or nsid
        if (SPECS / "bluesky-lexicons" / f"{target_nsid}.json").exists():
            _lex_check(target_nsid, name or "main", value, errors, where)
        return
    if kind == "union":
        if not isinstance(value, dict) or "$type" not in value:
            errors.append(f"{where}: union member without $type")
            return
        refs = [r if "#" in r or "." in r else nsid + r for r in schema["refs"]]
        name = value["$type"]
        wanted = name if "#" in name else name + "#main"
        full = [(r if not r.startswith("#") else nsid + r) for r in refs]
        full = [r if "#" in r else r + "#main" for r in full]
        if wanted not in full:
            errors.append(f"{where}: $type {name} not allowed")
            return
        target_nsid, _, def_name = wanted.partition("#")
        if (SPECS / "bluesky-lexicons" / f"{target_nsid}.json").exists():
            _lex_check(target_nsid, def_name, value, errors, where)
        return
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{where}: not an object")
            return
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _lex_value(nsid, sub, value[key], errors, f"{where}.{key}")
        return
    if kind == "array":
        if not isinstance(value, list):
            errors.append(f"{where}: not an array")
            return
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: more than {schema['maxLength']} items")
        for i, item in enumerate(value):
            _lex_value(nsid, schema["items"], item, errors, f"{where}[{i}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: not a string")
            return
        import regex

        if "maxGraphemes" in schema and len(regex.findall(r"\X", value)) > schema["maxGraphemes"]:
            errors.append(f"{where}: more than {schema['maxGraphemes']} graphemes")
        if "maxLength" in schema and len(value.encode()) > schema["maxLength"]:
            errors.append(f"{where}: more than {schema['maxLength']} bytes")
        if schema.get("format") == "datetime" and not value.endswith("Z"):
            errors.append(f"{where}: datetime without Z")
        return
    if kind == "integer":
        if not isinstance(value, int) or value < schema.get("minimum", 0):
            errors.append(f"{where}: not a valid integer")
        return
    if kind == "blob":
        if not isinstance(value, dict) or value.get("$type") != "blob":
            errors.append(f"{where}: not a blob")
        elif "maxSize" in schema and value.get("size", 0) > schema["maxSize"]:
            errors.append(f"{where}: blob larger than {schema['maxSize']}")


def bluesky_record_errors(record: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    _lex_check("app.bsky.feed.post", "main", record, errors, "record")
    if record.get("$type") != "app.bsky.feed.post":
        errors.append("record: wrong $type")
    text = record.get("text", "").encode()
    for facet in record.get("facets", []):
        index = facet["index"]
        if not 0 <= index["byteStart"] < index["byteEnd"] <= len(text):
            errors.append(f"facet {index} outside the text")
    return errors


def _jwt(exp: int, kind: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return (
        f"{part({'alg': 'none'})}.{part({'exp': exp, 'scope': kind, 'n': secrets.token_hex(3)})}.x"
    )


class FakeBluesky(FakeServer):
    """A PDS: sessions, createRecord (validated against the lexicons), getRecord, uploadBlob."""

    def __init__(self) -> None:
        super().__init__()
        self.did = "did:plc:abc123"
        self.handle = "acme.bsky.social"
        self.password = "app-pass-word"
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.records: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.record_errors: list[str] = []
        self.sessions_created = 0
        self.sessions_refreshed = 0
        self.access_ttl = 7200

    def new_session(self) -> dict[str, str]:
        now = int(time.time())
        access, refresh = _jwt(now + self.access_ttl, "access"), _jwt(now + 86400 * 60, "refresh")
        self.access.add(access)
        self.refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did}

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path.removeprefix("/xrpc/")
        if path == "com.atproto.server.createSession":
            scripted = self.scripted("session")
            if scripted is not None:
                return scripted
            body = seen.json or {}
            if (
                body.get("identifier") not in (self.handle, self.did)
                or body.get("password") != self.password
            ):
                return reply(
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            self.sessions_created += 1
            return reply(200, self.new_session())
        if path == "com.atproto.server.refreshSession":
            token = bearer(seen)
            if token not in self.refresh:
                return reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self.refresh.discard(token or "")
            self.sessions_refreshed += 1
            return reply(200, self.new_session())
        if path == "com.atproto.identity.resolveHandle":
            if seen.args.get("handle") == "friend.bsky.social":
                return reply(200, {"did": "did:plc:friend"})
            return reply(400, {"error": "InvalidRequest", "message": "Unable to resolve handle"})
        if bearer(seen) not in self.access:
            return reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        if path == "com.atproto.repo.uploadBlob":
            scripted = self.scripted("media")
            if scripted is not None:
                return scripted
            if len(seen.body) > 2_000_000:
                return reply(400, {"error": "BlobTooLarge", "message": "This file is too large."})
            link = "bafkrei" + hashlib.sha256(seen.body).hexdigest()[:40]
            self.blobs[link] = seen.body
            return reply(
                200,
                {
                    "blob": {
                        "$type": "blob",
                        "ref": {"$link": link},
                        "mimeType": seen.headers.get("Content-Type"),
                        "size": len(seen.body),
                    }
                },
            )
        if path == "com.atproto.repo.createRecord":
            scripted = self.scripted("post")
            if scripted is not None:
                return scripted
            body = seen.json
            errors = bluesky_record_errors(body["record"])
            if errors:
                self.record_errors.extend(errors)
                return reply(400, {"error": "InvalidRequest", "message": errors[0]})
            rkey = body.get("rkey") or self.next_id()
            if rkey in self.records:
                return reply(400, {"error": "InvalidRequest", "message": "Record already exists"})
            self.records[rkey] = body["record"]
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            return reply(
                200,
                {
                    "uri": uri,
                    "cid": "bafyrei" + rkey,
                    "commit": {"cid": "bafyc", "rev": "1"},
                    "validationStatus": "valid",
                },
                {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "4999",
                    "ratelimit-reset": str(int(time.time()) + 3600),
                    "ratelimit-policy": "5000;w=3600",
                },
            )
        if path == "com.atproto.repo.getRecord":
            rkey = seen.args.get("rkey", "")
            if rkey not in self.records:
                return reply(400, {"error": "RecordNotFound", "message": "Could not locate record"})
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            return reply(200, {"uri": uri, "cid": "bafyrei" + rkey, "value": self.records[rkey]})
        return reply(404, {"error": "MethodNotImplemented"})


# --- LinkedIn ---------------------------------------------------------------------------------

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
        self.codes: dict[str, dict[str, str]] = {}

    def post_elsewhere(self, text: str) -> None:
        """A post made on linkedin.com (stored escaped, as LinkedIn keeps commentary)."""
        from core.platforms.linkedin import escape

        urn = f"urn:li:share:{self.next_id()}"
        self.posts.append(
            {"id": urn, "commentary": escape(text), "createdAt": int(time.time() * 1000)}
        )

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/oauth/v2/authorization":
            code = secrets.token_urlsafe(8)
            self.codes[code] = dict(seen.args)
            location = f"{seen.args['redirect_uri']}?" + urlencode(
                {"code": code, "state": seen.args["state"]}
            )
            return Response("", status=302, headers={"Location": location})
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


# --- Facebook ---------------------------------------------------------------------------------


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
        self.codes: dict[str, dict[str, str]] = {}

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

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path
        if path == "/dialog/oauth":
            code = secrets.token_urlsafe(8)
            self.codes[code] = dict(seen.args)
            location = f"{seen.args['redirect_uri']}?" + urlencode(
                {"code": code, "state": seen.args["state"]}
            )
            return Response("", status=302, headers={"Location": location})
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
        token = bearer(seen) or seen.args.get("access_token") or seen.form.get("access_token")
        if path == "/me/accounts":
            if token not in self.long_lived:
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
        if token in self.user_tokens:
            return self.error(
                200, "(#200) The user hasn't authorized the application to perform this action", 403
            )
        if token not in self.page_tokens:
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
        return self.error(100, "Unsupported request", 400)


def make_request(rt: Any, network: str, text: str = "Hello from Herald", **kw: Any) -> Any:
    from core.ports import PublishRequest
    from tests.conftest import actor

    ws_id = rt.herald.workspace_of(actor("maria"))
    return PublishRequest(
        target_id=kw.pop("target_id", 1),
        network=network,
        text=text,
        idempotency_key=kw.pop("idempotency_key", "herald-1-1-1"),
        workspace="Test",
        post_number=1,
        workspace_id=ws_id,
        **kw,
    )


def put_media(rt: Any, key: str, data: bytes, content_type: str, alt: str = "") -> dict[str, Any]:
    from core.platforms.base import hub_of

    hub_of(rt.herald.ctx.publishers).media.put(key, data, content_type)
    return {"key": key, "content_type": content_type, "alt": alt}
