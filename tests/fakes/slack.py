"""A local Slack: a Web API server that records every call, and signed requests into Herald.

The Web API answers with Slack's real shapes (HTTP 200 with `ok:false` for method errors,
429 with `Retry-After` for rate limits) and refuses blocks Slack would refuse. Files go through
the external upload flow as in Slack (files.getUploadURLExternal, the bytes POSTed to the
upload URL, files.completeUploadExternal); `shares` keeps what each completion shared, bytes
included. The request
builders sign their bodies with the v0 scheme, as Slack does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import mimetypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import SecretStr

from bot.slack.blocks import InvalidBlocks, validate_message, validate_view
from core.settings import Settings
from storage.vault import new_key
from tests.support.helpers import eventually

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0HERALD-1-test"
TEAM = "T0TEAM001"
BOT_USER = "U0HERALD"
BOT_ID = "B0HERALD"
# The people and the channel of the tests' Slack workspace.
MARIA, LEE, KIM, VIC = "U0MARIA01", "U0LEE0001", "U0KIM0001", "U0VIC0001"
NAMES = {MARIA: "maria", LEE: "lee", KIM: "kim", VIC: "vic"}
GENERAL = "C0GENERAL"


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    token: str | None


@dataclass
class Upload:
    """A file announced by files.getUploadURLExternal; `data` once its bytes were POSTed."""

    file_id: str
    team: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None


@dataclass
class Share:
    """One files.completeUploadExternal that shared files in a channel: a message of files."""

    channel: str
    thread_ts: str | None
    initial_comment: str | None
    files: list[tuple[str, str, bytes]]  # (name, title, bytes), in the order given
    ts: str


@dataclass
class FakeSlack:
    """The Web API. `users` are what users.info knows; `tokens` map a bot token to its team."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=lambda: {BOT_TOKEN: TEAM})
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    limits: dict[str, list[float]] = field(default_factory=dict)
    triggers: dict[str, float] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    # The external upload flow: announced files by id, and what completing them shared.
    uploads: dict[str, Upload] = field(default_factory=dict)
    shares: list[Share] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)  # method -> seconds before answering
    # Socket Mode: app-level tokens, and where apps.connections.open sends the app (a fresh
    # URL a call; tests.fakes.slack_socket.FakeSocketMode.attach sets it).
    # Scopes the bot token lacks: a method needing one answers missing_scope, as Slack does.
    missing_scopes: set[str] = field(default_factory=set)
    app_tokens: set[str] = field(default_factory=lambda: {APP_TOKEN})
    socket_url: Callable[[], str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- test controls -------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, tz: str = "Europe/Berlin") -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM,
            "name": name,
            "real_name": name.title(),
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 3600,
            "is_bot": False,
            "profile": {"display_name": name, "real_name": name.title()},
        }

    def rate_limit(self, method: str, retry_after: float = 3) -> None:
        """The next call of `method` gets HTTP 429 with Retry-After."""
        self.limits.setdefault(method, []).append(retry_after)

    def trigger(self) -> str:
        """A trigger_id, valid for three seconds, as in a real interaction payload."""
        trigger = f"{next(self._ts)}.{int(time.time())}.abc"
        self.triggers[trigger] = time.monotonic()
        return trigger

    def add_file(self, name: str, data: bytes, mimetype: str = "image/png") -> dict[str, Any]:
        """A file uploaded to Slack: its object as events carry it (`files[]` of file_share)."""
        file_id = f"F0{next(self._ts):08d}"
        self.files[file_id] = (TEAM, data, mimetype)
        base = self.url.removesuffix("api/")
        return {
            "id": file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "user": "U0MARIA01",
            "mode": "hosted",
            "is_external": False,
            "size": len(data),
            "url_private": f"{base}files-pri/{TEAM}-{file_id}/{name}",
            "url_private_download": f"{base}files-pri/{TEAM}-{file_id}/download/{name}",
        }

    def named(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # --- the API -------------------------------------------------------------------------

    def answer(self, method: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "oauth.v2.access":
            return self._oauth(body)
        if method == "apps.connections.open":
            return self._apps_connections_open(token)
        if token not in self.tokens:
            return {"ok": False, "error": "invalid_auth"}
        team = self.tokens[token]
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        result: dict[str, Any] = handler(body, team)
        return result

    def _ts_now(self) -> str:
        return f"{1700000000 + next(self._ts)}.000100"

    def _auth_test(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "herald",
            "team_id": team,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _check(self, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            validate_message(body)
        except (InvalidBlocks, Exception) as exc:  # noqa: BLE001 - recorded for the test
            self.invalid.append(str(exc))
            return {"ok": False, "error": "invalid_blocks", "errors": [str(exc)]}
        return None

    def _message(self, body: dict[str, Any], team: str, ts: str) -> dict[str, Any]:
        return {
            "type": "message",
            "text": body.get("text", ""),
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": "A0HERALD",
            "team": team,
            "ts": ts,
            "blocks": body.get("blocks") or [],
        }

    def _chat_postMessage(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        bad = self._check(body)
        if bad:
            return bad
        ts = self._ts_now()
        message = self._message(body, team, ts)
        with self.lock:
            self.messages[(body["channel"], ts)] = message
        return {"ok": True, "channel": body["channel"], "ts": ts, "message": message}

    def _chat_update(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        key = (body.get("channel", ""), body.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        bad = self._check(body)
        if bad:
            return bad
        message = self._message(body, team, key[1])
        with self.lock:
            self.messages[key] = message
        return {"ok": True, "channel": key[0], "ts": key[1], "text": body.get("text", "")}

    def _chat_postEphemeral(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        if not body.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if str(body.get("channel", "")).startswith("CGONE"):
            return {"ok": False, "error": "channel_not_found"}
        bad = self._check(body)
        return bad or {"ok": True, "message_ts": self._ts_now()}

    def _views_open(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        issued = self.triggers.get(str(body.get("trigger_id")))
        if issued is None or time.monotonic() - issued > 3:
            return {"ok": False, "error": "expired_trigger_id"}
        view = body.get("view") or {}
        try:
            validate_view(view)
        except Exception as exc:  # noqa: BLE001 - recorded for the test
            self.invalid.append(str(exc))
            return {"ok": False, "error": "invalid_arguments"}
        view = json.loads(view) if isinstance(view, str) else view
        return {
            "ok": True,
            "view": {**view, "id": "V0EDIT01", "team_id": team, "state": {"values": {}}},
        }

    def _lacks(self, scope: str) -> dict[str, Any] | None:
        if scope not in self.missing_scopes:
            return None
        provided = "chat:write,commands,files:read,im:write,users:read"
        return {"ok": False, "error": "missing_scope", "needed": scope, "provided": provided}

    def _files_getUploadURLExternal(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        lacking = self._lacks("files:write")
        if lacking:
            return lacking
        filename, length = str(body.get("filename") or ""), str(body.get("length") or "")
        if not filename or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F0{next(self._ts):08d}"
        upload = Upload(file_id, team, filename, int(length), body.get("alt_txt"))
        with self.lock:
            self.uploads[file_id] = upload
        base = self.url.removesuffix("api/")
        return {"ok": True, "upload_url": f"{base}upload/v1/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        lacking = self._lacks("files:write")
        if lacking:
            return lacking
        try:
            wanted = json.loads(str(body.get("files") or ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(wanted, list) or not wanted:
            return {"ok": False, "error": "invalid_arguments"}
        found: list[tuple[Upload, str]] = []
        with self.lock:
            for item in wanted:
                upload = self.uploads.get(str(item.get("id")))
                if upload is None or upload.team != team or upload.data is None:
                    return {"ok": False, "error": "file_not_found"}
                found.append((upload, str(item.get("title") or upload.filename)))
            channel = body.get("channel_id") or None
            ts = self._ts_now()
            if channel:
                self.shares.append(
                    Share(
                        channel=str(channel),
                        thread_ts=body.get("thread_ts") or None,
                        initial_comment=body.get("initial_comment") or None,
                        files=[(u.filename, title, u.data or b"") for u, title in found],
                        ts=ts,
                    )
                )
        return {"ok": True, "files": [self._file(u, t, channel, ts) for u, t in found]}

    def _file(self, upload: Upload, title: str, channel: str | None, ts: str) -> dict[str, Any]:
        """The file object of api_files.completeUploadExternal.json, for what Herald reads."""
        base = self.url.removesuffix("api/")
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        share = {"ts": ts, "channel_name": "general", "team_id": upload.team, "reply_count": 0}
        return {
            "id": upload.file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": upload.filename,
            "title": title,
            "mimetype": mimetype,
            "filetype": upload.filename.rsplit(".", 1)[-1],
            "user": BOT_USER,
            "user_team": upload.team,
            "editable": False,
            "size": len(upload.data or b""),
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(channel and channel.startswith("C")),
            "display_as_bot": False,
            "url_private": f"{base}files-pri/{upload.team}-{upload.file_id}/{upload.filename}",
            "url_private_download": (
                f"{base}files-pri/{upload.team}-{upload.file_id}/download/{upload.filename}"
            ),
            "channels": [channel] if channel else [],
            "shares": {"public": {channel: [share]}} if channel else {},
            "alt_txt": upload.alt_txt or "",
        }

    def receive_upload(self, file_id: str, data: bytes) -> tuple[int, bytes]:
        """`POST <upload_url>`: the bytes of an announced file; Slack answers in plain text."""
        with self.lock:
            upload = self.uploads.get(file_id)
            if upload is None:
                return 404, b"Not Found"
            upload.data = data
        return 200, f"OK - {len(data)}".encode()

    def shared(self, channel: str | None = None) -> list[Share]:
        with self.lock:
            return [s for s in self.shares if channel is None or s.channel == channel]

    def _users_info(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        user = self.users.get(str(body.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _conversations_open(self, body: dict[str, Any], team: str) -> dict[str, Any]:
        users = str(body.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.lstrip("U")[:10]}}

    def _apps_connections_open(self, token: str | None) -> dict[str, Any]:
        """Only an app-level token opens a Socket Mode connection."""
        if token in self.tokens:
            return {"ok": False, "error": "not_allowed_token_type"}
        if token not in self.app_tokens:
            return {"ok": False, "error": "invalid_auth"}
        if self.socket_url is None:
            return {"ok": False, "error": "internal_error"}  # no socket server in this test
        return {"ok": True, "url": self.socket_url()}

    def _oauth(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("code") != "good-code":
            return {"ok": False, "error": "invalid_code"}
        token = "xoxb-installed-token"
        self.tokens[token] = "T0BETA001"
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": "U0HERALD2",
            "app_id": "A0HERALD",
            "team": {"name": "Beta", "id": "T0BETA001"},
            "enterprise": None,
            "authed_user": {"id": "U0INSTALLER"},
            "is_enterprise_install": False,
        }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        """A file's bytes at its url_private(_download), for a bot token of its workspace."""
        fake = self.fake
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with fake.lock:
            fake.calls.append(Call("files.download", {"path": self.path}, token))
        parts = self.path.split("/")
        file_id = parts[2].split("-", 1)[-1] if len(parts) > 2 and parts[1] == "files-pri" else ""
        found = fake.files.get(file_id)
        if found is None:
            self._raw(404, b"Not Found", "text/plain")
        elif token is None or fake.tokens.get(token) != found[0]:
            # Slack shows its sign-in page to a request without a token of the file's team.
            self._raw(200, b"<html>Sign in to Slack</html>", "text/html; charset=utf-8")
        else:
            self._raw(200, found[1], found[2])

    def _raw(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/upload/v1/"):
            self._upload(data)
            return
        raw = data.decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw or "{}")
        else:
            body = dict(parse_qsl(raw))
            for key in ("blocks", "view", "attachments"):
                if isinstance(body.get(key), str):
                    body[key] = json.loads(body[key])
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else body.get("token")
        method = self.path.rsplit("/", 1)[-1]
        fake = self.fake
        with fake.lock:
            fake.calls.append(Call(method, body, token))
            waits = fake.limits.get(method)
            wait = waits.pop(0) if waits else None
        if wait is not None:
            self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(int(wait))})
            return
        time.sleep(fake.delays.get(method, 0.0))
        self._send(200, fake.answer(method, body, token))

    def _upload(self, data: bytes) -> None:
        """Step 2 of the upload flow: raw bytes or a multipart form (Slack takes either); no
        token needed, the URL is the credential. Rate-limited as the method "upload"."""
        fake = self.fake
        file_id = self.path.rsplit("/", 1)[-1]
        kind = self.headers.get("Content-Type") or ""
        if kind.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + kind.encode() + b"\r\n\r\n" + data
            )
            parts = [p.get_payload(decode=True) for p in message.iter_parts() if p.get_filename()]
            data = bytes(parts[0]) if parts else b""
        with fake.lock:
            fake.calls.append(Call("upload", {"file_id": file_id, "size": len(data)}, None))
            waits = fake.limits.get("upload")
            wait = waits.pop(0) if waits else None
        if wait is not None:
            self.send_response(429)
            self.send_header("Retry-After", str(int(wait)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, answer = fake.receive_upload(file_id, data)
        self._raw(status, answer, "text/plain; charset=utf-8")

    def _send(
        self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)


# --- requests into Herald, signed as Slack signs them ------------------------------------


_TRIGGERS = itertools.count(1)


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def form(fields: dict[str, Any]) -> tuple[str, dict[str, str]]:
    body = urlencode(fields)
    return body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}


def slash(text: str, user: str = "U0MARIA01", channel: str = "C0GENERAL", **extra: str):
    return form(
        {
            "token": "deprecated",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": extra.pop("user_name", user.lower()),
            "command": "/herald",
            "text": text,
            "api_app_id": "A0HERALD",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.invalid/commands/1",
            # Slack sends a new trigger_id with every invocation (Herald drops a repeat).
            "trigger_id": extra.pop("trigger_id", f"{next(_TRIGGERS)}.{int(time.time())}.slash"),
            **extra,
        }
    )


def interaction(payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return form({"payload": json.dumps(payload)})


def click(
    fake: FakeSlack,
    action: str,
    value: str,
    *,
    user: str,
    channel: str,
    ts: str,
) -> tuple[str, dict[str, str]]:
    """A button on a card, as the block_actions payload of §1.3."""
    name = str((fake.users.get(user) or {}).get("name") or user.lower())
    return interaction(
        {
            "type": "block_actions",
            "user": {"id": user, "username": name, "name": name, "team_id": TEAM},
            "api_app_id": "A0HERALD",
            "token": "deprecated",
            "trigger_id": fake.trigger(),
            "team": {"id": TEAM, "domain": "acme"},
            "enterprise": None,
            "is_enterprise_install": False,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "channel": {"id": channel, "name": "general"},
            "message": {"type": "message", "ts": ts, "bot_id": BOT_ID, "text": "card"},
            "state": {"values": {}},
            "response_url": "https://hooks.slack.invalid/actions/1",
            "actions": [
                {
                    "type": "button",
                    "action_id": action,
                    "block_id": "card",
                    "text": {"type": "plain_text", "text": action},
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
    )


def submit(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str
) -> tuple[str, dict[str, str]]:
    """A modal's view_submission (§1.4): `view` as opened, `values` as typed."""
    return interaction(
        {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": "A0HERALD",
            "token": "deprecated",
            "trigger_id": "9.9.x",
            "view": {
                **view,
                "id": "V0EDIT01",
                "team_id": TEAM,
                "state": {"values": values},
                "hash": "1700000000.abc",
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
    )


def event(
    inner: dict[str, Any], event_id: str, retry: int | None = None
) -> tuple[str, dict[str, str]]:
    """An Events API delivery (§1.5); `retry` adds Slack's X-Slack-Retry-Num."""
    body = json.dumps(
        {
            "token": "deprecated",
            "team_id": TEAM,
            "api_app_id": "A0HERALD",
            "type": "event_callback",
            "event": inner,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    )
    headers = {"Content-Type": "application/json", **sign(body)}
    if retry:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return body, headers


def direct_message(text: str, user: str, ts: str = "1700000001.000100") -> dict[str, Any]:
    """A `message` event in the person's direct message channel with the app."""
    return {
        "type": "message",
        "channel": "D" + user.removeprefix("U"),
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
    }


# --- reading what Herald sent, and pointing Herald at this Slack --------------------------------


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def slack_settings(settings: Settings, fake: FakeSlack, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": fake.url,
            "secret_key": SecretStr(new_key()),
            **more,
        }
    )


def card_message(fake: FakeSlack, number: int, channel: str = GENERAL) -> tuple[str, str]:
    """Where the card of post `number` was posted: (channel, ts)."""

    def find() -> tuple[str, str] | None:
        for (ch, ts), msg in list(fake.messages.items()):
            if ch == channel and f"#{number} · Draft" in dumps(msg["blocks"]):
                return ch, ts
        return None

    found = eventually(find, what=f"the card of #{number}")
    assert found is not None
    return found


def texts(fake: FakeSlack, method: str, **match: str) -> list[str]:
    found = []
    for call in fake.named(method):
        if all(call.body.get(k) == v for k, v in match.items()):
            found.append(str(call.body.get("text")) + dumps(call.body.get("blocks") or []))
    return found
