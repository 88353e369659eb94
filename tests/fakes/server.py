"""What every local network fake shares: a real HTTP server with scripted failures.

Each fake (x.py, mastodon.py, bluesky.py, linkedin.py, facebook.py) is a real HTTP server
(werkzeug, threaded, 127.0.0.1 on an ephemeral port) with the network's success answers, its
error bodies and rate-limit headers, and a fake authorization server for the OAuth flows. Tests
script failures with `fail_next(...)` and read what the fake received from `requests` and its
stores."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from bot.runtime import Runtime

SPECS = Path("/work/shared/contracts/specs")
if not SPECS.exists():  # CI lays shared/ beside the clone
    SPECS = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "specs"


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
        self.codes: dict[str, dict[str, str]] = {}  # authorization code -> what was asked
        # Posts to accept and then answer 502, as when the connection is cut after the
        # network stored the post: the caller cannot tell whether it went out.
        self.answer_lost = 0
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def authorized(self, args: dict[str, str]) -> Response:
        """The person said yes on the authorization page: back to Herald with a one-time code."""
        code = secrets.token_urlsafe(8)
        self.codes[code] = dict(args)
        query = urlencode({"code": code, "state": args["state"]})
        return Response("", status=302, headers={"Location": f"{args['redirect_uri']}?{query}"})

    def herald_settings(self) -> dict[str, Any]:
        """The settings that point Herald at this fake (none: the connected account says where)."""
        return {}

    def connect(self, rt: Runtime) -> int:
        """Connect Herald's account on this fake, as the OAuth callback or `connect` would."""
        raise NotImplementedError(f"{type(self).__name__} has no account to connect")

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


URL = re.compile(r"https?://[^\s<]*[^\s<.,;:!?)\]'\"]")


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
