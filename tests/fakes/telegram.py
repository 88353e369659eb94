"""A local fake of the Telegram Bot API, and a little Telegram to drive Herald's bot with.

A threaded HTTP server on 127.0.0.1:<ephemeral> speaking the real wire format (§2 of the
contracts README): `POST /bot<token>/<method>` with query, form, JSON or multipart parameters,
the `{"ok": …, "result": …}` envelope with the HTTP status equal to `error_code`, HTML parse mode
turned into entities (so a reply carries its `text_link`s as Telegram's would), the 4,096
character and 64-byte `callback_data` limits, 429 with `parameters.retry_after` on demand,
`getUpdates` with offsets for long polling, `getFile` (refusing files over 20 MB as Telegram does)
and the file bytes at `/file/bot<token>/<file_path>`, and `sendPhoto` / `sendDocument` uploads
(multipart; Telegram's 10 MB photo and 50 MB document limits, photo dimensions, 1,024-character
captions), whose bytes are kept in `received`. PTB talks to it through `base_url` and
`base_file_url`.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from bot.runtime import Runtime
from tests.support.services import free_port

TOKEN = "123456789:AAE-fake-token-for-tests_0123456789ab"
BOT = {"id": 123456789, "is_bot": True, "first_name": "Herald", "username": "herald_test_bot"}
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
}
ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Html(HTMLParser):
    """Telegram's HTML parse mode: plain text plus entities, or "can't parse entities"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[dict[str, Any]] = []
        self.stack: list[tuple[str, int, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise ApiError(
                400, f'Bad Request: can\'t parse entities: unsupported start tag "{tag}"'
            )
        self.stack.append((tag, u16(self.text), {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise ApiError(400, f'Bad Request: can\'t parse entities: unmatched end tag "{tag}"')
        name, start, attrs = self.stack.pop()
        length = u16(self.text) - start
        if length == 0:
            return
        if name == "a":
            entity = {"type": "text_link", "offset": start, "length": length, "url": attrs["href"]}
        else:
            entity = {"type": ENTITY[name], "offset": start, "length": length}
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    parser = _Html()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise ApiError(400, "Bad Request: can't parse entities: unclosed tag")
    return parser.text, sorted(parser.entities, key=lambda e: e["offset"])


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class StoredFile:
    file_id: str
    unique_id: str
    data: bytes
    size: int  # announced in updates and getFile
    path: str


@dataclass
class Received:
    """A photo or a document the bot sent, with the exact bytes it uploaded."""

    chat_id: int
    message_id: int
    kind: str  # "photo" or "document"
    filename: str | None
    mime_type: str | None
    data: bytes
    caption: str | None
    reply_to: int | None


@dataclass
class Failure:
    method: str
    code: int
    description: str
    chat_id: int | None = None
    times: int = 1
    retry_after: int | None = None


class FakeTelegram:
    """The Bot API of one bot. Tests read `calls`, `messages`, `answers`; inject `failures`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.lock = threading.Condition()
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.admins: dict[int, set[int]] = {}
        self.creators: dict[int, int] = {}
        self.answers: Counter[str] = Counter()
        self.failures: list[Failure] = []
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.commands: list[dict[str, Any]] = []
        self.files: dict[str, StoredFile] = {}
        self.received: list[Received] = []  # photos and documents the bot sent
        self.downloads: list[str] = []  # file paths fetched from /file/bot<token>/
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(500000)
        self._confirmed = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            def do_GET(self) -> None:
                fake._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    # --- files -----------------------------------------------------------------------------

    def store_file(self, data: bytes, folder: str, ext: str, size: int | None = None) -> StoredFile:
        """A file someone sent; `size` is what Telegram announces (to fake a huge one cheaply)."""
        number = next(self._ids)
        stored = StoredFile(
            file_id=f"AgAC{number:08d}-{folder}",
            unique_id=f"AQAD{number:08d}",
            data=data,
            size=len(data) if size is None else size,
            path=f"{folder}/file_{number}.{ext}",
        )
        with self.lock:
            self.files[stored.file_id] = stored
        return stored

    def start(self) -> FakeTelegram:
        self.thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # --- the wire --------------------------------------------------------------------------

    def _params(self, handler: BaseHTTPRequestHandler) -> dict[str, Any]:
        url = urlsplit(handler.path)
        params: dict[str, Any] = dict(parse_qsl(url.query))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        kind = handler.headers.get("Content-Type", "")
        if body and kind.startswith("application/json"):
            params.update(json.loads(body))
        elif body and kind.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        elif body and kind.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + kind.encode() + b"\r\n\r\n" + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if part.get_filename():
                    params[str(name)] = payload
                    # What the upload said of itself, for the file it becomes.
                    uploads = params.setdefault("__uploads__", {})
                    uploads[str(name)] = (part.get_filename(), part.get_content_type())
                else:
                    params[str(name)] = payload.decode() if isinstance(payload, bytes) else ""
        # PTB sends nested objects JSON-encoded inside form fields.
        for key in (
            "reply_markup",
            "allowed_updates",
            "commands",
            "reply_parameters",
            "link_preview_options",
        ):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        if path.startswith("/file/"):
            self._serve_file(handler, path)
            return
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            self._send(
                handler, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
            return
        method = path[len(prefix) :]
        params = self._params(handler)
        try:
            result = self._dispatch(method, params)
        except ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            self._send(handler, exc.code, body)
            return
        self._send(handler, 200, {"ok": True, "result": result})

    def _serve_file(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        prefix = f"/file/bot{self.token}/"
        path = unquote(path)  # PTB sends the token's ":" as %3A; Telegram accepts either
        stored = None
        if path.startswith(prefix):
            wanted = path[len(prefix) :]
            stored = next((f for f in self.files.values() if f.path == wanted), None)
        if stored is None:
            self._send(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        with self.lock:
            self.downloads.append(stored.path)
            self.lock.notify_all()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(stored.data)))
        handler.end_headers()
        handler.wfile.write(stored.data)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        name = method.lower()
        if name != "getupdates":
            with self.lock:
                self.calls.append(Call(method, params))
                self.lock.notify_all()
        self._maybe_fail(method, params)
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(params)

    def _maybe_fail(self, method: str, params: dict[str, Any]) -> None:
        with self.lock:
            for failure in self.failures:
                if failure.method.lower() != method.lower() or failure.times <= 0:
                    continue
                if failure.chat_id is not None and int(params.get("chat_id", 0)) != failure.chat_id:
                    continue
                failure.times -= 1
                raise ApiError(failure.code, failure.description, failure.retry_after)

    # --- methods ---------------------------------------------------------------------------

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        chat_id = int(chat_id)
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(data.encode()) <= 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _text(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        raw = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            text, entities = parse_html(raw)
        else:
            text, entities = raw, []
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if u16(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _m_getme(self, params: dict[str, Any]) -> Any:
        return {
            **BOT,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params["chat_id"])
        text, entities = self._text(params)
        markup = self._markup(params)
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": BOT,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram shows only inline keyboards back
        if markup is not None and markup.get("force_reply"):
            message["force_reply"] = True  # for tests to see; not part of a real Message
        reply = params.get("reply_parameters") or {}
        if reply.get("message_id"):
            message["reply_to"] = int(reply["message_id"])
        with self.lock:
            self.messages[(chat["id"], message["message_id"])] = message
            self.lock.notify_all()
        return {k: v for k, v in message.items() if k not in {"reply_to", "force_reply"}}

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
        raw = params.get("caption")
        if not raw:
            return None, []
        text, entities = (
            parse_html(str(raw)) if params.get("parse_mode") == "HTML" else (str(raw), [])
        )
        if u16(text) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        return text, entities

    def _media_message(
        self, params: dict[str, Any], kind: str, media: Any, data: bytes
    ) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        caption, entities = self._caption(params)
        filename, mime_type = (params.get("__uploads__") or {}).get(kind, (None, None))
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": BOT,
            "chat": chat,
            "date": int(time.time()),
            kind: media,
        }
        if caption:
            message["caption"] = caption
        if entities:
            message["caption_entities"] = entities
        reply = params.get("reply_parameters") or {}
        received = Received(
            chat_id=chat["id"],
            message_id=message["message_id"],
            kind=kind,
            filename=filename,
            mime_type=mime_type,
            data=data,
            caption=caption,
            reply_to=int(reply["message_id"]) if reply.get("message_id") else None,
        )
        with self.lock:
            self.received.append(received)
            self.lock.notify_all()
        return message

    def _upload(self, params: dict[str, Any], field: str) -> bytes:
        data = params.get(field)
        if not isinstance(data, bytes):
            # A file_id or a URL: Herald always uploads, so the fake knows no others.
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not data:
            raise ApiError(400, "Bad Request: file must be non-empty")
        return data

    def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        """A photo upload: at most 10 MB, width + height at most 10,000, ratio at most 20;
        Telegram keeps it as a thumbnail and a full size (JPEG, as Telegram recompresses)."""
        from PIL import Image, UnidentifiedImageError

        data = self._upload(params, "photo")
        if len(data) > 10 * 1024 * 1024:
            raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except (UnidentifiedImageError, OSError):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
        if width + height > 10_000 or max(width, height) > 20 * min(width, height):
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        sizes = []
        for w, h in ((min(width, 90), min(height, 90)), (width, height)):
            stored = self.store_file(data, "photos", "jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.unique_id,
                    "file_size": stored.size,
                    "width": w,
                    "height": h,
                }
            )
        return self._media_message(params, "photo", sizes, data)

    def _m_senddocument(self, params: dict[str, Any]) -> Any:
        """Any file up to 50 MB (larger: 413 before the method even runs, as Telegram's)."""
        data = self._upload(params, "document")
        if len(data) > 50 * 1024 * 1024:
            raise ApiError(413, "Request Entity Too Large")
        filename, mime_type = (params.get("__uploads__") or {}).get("document", (None, None))
        ext = (filename or "file.bin").rsplit(".", 1)[-1]
        stored = self.store_file(data, "documents", ext)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": stored.size,
            **({"file_name": filename} if filename else {}),
            **({"mime_type": mime_type} if mime_type else {}),
        }
        return self._media_message(params, "document", document, data)

    def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        text, entities = self._text(params)
        markup = self._markup(params)
        with self.lock:
            message = self.messages.get(key)
            if message is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message["text"] == text and message.get("reply_markup") == markup:
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message "
                    "content and reply markup are exactly the same as a current "
                    "content and reply markup of the message",
                )
            message.update(text=text, entities=entities, edit_date=int(time.time()))
            if markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = markup
            self.lock.notify_all()
            return {k: v for k, v in message.items() if k != "reply_to"}

    def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        markup = self._markup(params)
        with self.lock:
            message = self.messages.get(key)
            if message is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message.get("reply_markup") == markup:
                raise ApiError(400, "Bad Request: message is not modified")
            if markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = markup
            return {k: v for k, v in message.items() if k != "reply_to"}

    def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        query = str(params["callback_query_id"])
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self.lock:
            self.answers[query] += 1
            if self.answers[query] > 1:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired "
                    "or query ID is invalid",
                )
            self.lock.notify_all()
        return True

    def _m_getfile(self, params: dict[str, Any]) -> Any:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": stored.size,
            "file_path": stored.path,
        }

    def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        self.commands = list(params["commands"])
        return True

    def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {
            "url": params["url"],
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 1.0)  # short polls keep tests quick
        deadline = time.monotonic() + timeout
        with self.lock:
            if offset:
                self._confirmed = max(self._confirmed, offset)
            while True:
                pending = [u for u in self.updates if u["update_id"] >= self._confirmed]
                if pending or time.monotonic() >= deadline:
                    return pending[:100]
                self.lock.wait(deadline - time.monotonic())

    def _m_getchatmember(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params["chat_id"])
        user_id = int(params["user_id"])
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        if self.creators.get(chat["id"]) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self.admins.get(chat["id"], set()):
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        return {"status": "member", "user": user}

    def _m_getchatadministrators(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params["chat_id"])
        ids = sorted(self.admins.get(chat["id"], set()))
        return [self._m_getchatmember({"chat_id": chat["id"], "user_id": i}) for i in ids]

    # --- a little Telegram for tests -------------------------------------------------------

    def private(self, user_id: int, first_name: str, username: str | None = None) -> Person:
        user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
        if username:
            user["username"] = username
        chat = {"id": user_id, "type": "private", "first_name": first_name}
        if username:
            chat["username"] = username
        self.chats[user_id] = chat
        return Person(self, user, chat)

    def group(self, chat_id: int, title: str) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "supergroup", "title": title}
        self.chats[chat_id] = chat
        return chat

    def member(
        self,
        chat: dict[str, Any],
        user_id: int,
        first_name: str,
        username: str | None = None,
        *,
        admin: bool = False,
    ) -> Person:
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if admin:
            self.admins.setdefault(chat["id"], set()).add(user_id)
        return Person(self, user, chat)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def queue_update(self, update: dict[str, Any]) -> None:
        """For long polling: the next getUpdates returns it."""
        with self.lock:
            self.updates.append(update)
            self.lock.notify_all()

    # --- reading what the bot did ----------------------------------------------------------

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def files_in(self, chat_id: int) -> list[Received]:
        """Photos and documents the bot sent to `chat_id`, oldest first."""
        with self.lock:
            return [r for r in self.received if r.chat_id == chat_id]

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    def wait_for(self, check: Any, timeout: float = 20.0, what: str = "the bot") -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                value = check()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.lock.wait(min(left, 0.1))

    def card(self, chat_id: int, number: int) -> dict[str, Any] | None:
        """The newest message of `chat_id` that is the card of post #number."""
        cards = [m for m in self.sent(chat_id) if m["text"].startswith(f"#{number} · ")]
        return cards[-1] if cards else None


def button(message: dict[str, Any], label: str) -> str:
    """The callback_data of the button whose text contains `label`."""
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for b in row:
            if label.lower() in b["text"].lower():
                return str(b["callback_data"])
    labels = [
        b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row
    ]
    raise AssertionError(f"no button {label!r} on the message; it has {labels}")


@dataclass
class Person:
    """Someone in a chat: builds the updates Telegram would send for what they do."""

    fake: FakeTelegram
    user: dict[str, Any]
    chat: dict[str, Any]

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    def _message(self, reply_to: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self.fake._ids),
            "date": int(time.time()),
            "from": self.user,
            "chat": self.chat,
            **fields,
        }
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k not in {"reply_to", "force_reply"}
            }
        return {"update_id": self.fake.next_update_id(), "message": message}

    @staticmethod
    def _commanded(text: str, key: str) -> dict[str, Any]:
        fields: dict[str, Any] = {key: text}
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            entities = [{"type": "bot_command", "offset": 0, "length": length}]
            fields["entities" if key == "text" else "caption_entities"] = entities
        return fields

    def says(self, text: str, *, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._message(reply_to, **self._commanded(text, "text"))

    def sends_photo(
        self,
        image: bytes,
        *,
        caption: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A photo as Telegram delivers it: several sizes, a thumbnail first, the original last."""
        from PIL import Image

        with Image.open(io.BytesIO(image)) as source:
            width, height = source.size
            small = source.convert("RGB")
        small.thumbnail((90, 90))
        buffer = io.BytesIO()
        small.save(buffer, "JPEG")
        sizes = []
        for data, (w, h) in ((buffer.getvalue(), small.size), (image, (width, height))):
            stored = self.fake.store_file(data, "photos", "jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.unique_id,
                    "file_size": stored.size,
                    "width": w,
                    "height": h,
                }
            )
        fields = self._commanded(caption, "caption") if caption else {}
        return self._message(reply_to, photo=sizes, **fields)

    def sends_file(
        self,
        data: bytes,
        mime_type: str,
        file_name: str,
        *,
        size: int | None = None,
        caption: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A file sent as a document (uncompressed); `size` fakes what Telegram announces."""
        stored = self.fake.store_file(data, "documents", file_name.rsplit(".", 1)[-1], size)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": stored.size,
            "file_name": file_name,
            "mime_type": mime_type,
        }
        fields = self._commanded(caption, "caption") if caption else {}
        return self._message(reply_to, document=document, **fields)

    def clicks(self, message: dict[str, Any], label: str) -> dict[str, Any]:
        return {
            "update_id": self.fake.next_update_id(),
            "callback_query": {
                "id": f"{self.user['id']}{next(self.fake._ids)}",
                "from": self.user,
                "message": {
                    k: v for k, v in message.items() if k not in {"reply_to", "force_reply"}
                },
                "chat_instance": "-4242",
                "data": button(message, label),
            },
        }


def post_update(url: str, update: dict[str, Any], secret: str | None) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return httpx.post(url, json=update, headers=headers, timeout=30)


def plain(text: str) -> str:
    return html.unescape(text)


class WebServer:
    """`herald web`'s app under uvicorn in a thread, on an ephemeral port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("the web app did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


WEBHOOK_SECRET = "webhook-s3cret_OK"


@dataclass
class Bot:
    """Herald's Telegram bot behind `herald web`, with the fake Bot API it talks to."""

    fake: FakeTelegram
    runtime: Runtime
    web: WebServer

    @property
    def hook(self) -> str:
        return f"{self.web.url}/telegram/webhook"

    def send(self, update: dict, secret: str | None = WEBHOOK_SECRET) -> int:  # type: ignore[type-arg]
        return post_update(self.hook, update, secret).status_code

    def published(self, person: Person, brief: str) -> dict[str, Any]:
        """`person` starts the bot, drafts post #1 for the outbox, approves its card, and
        it is published; the card as it was then."""
        from tests.support.helpers import eventually, target_states

        assert self.send(person.says("/start")) == 200
        assert self.send(person.says(f"/draft {brief} --to outbox")) == 200
        card: dict[str, Any] = self.fake.wait_for(
            lambda: (c := self.fake.card(person.chat_id, 1)) and "reply_markup" in c and c,
            what="card",
        )
        assert self.send(person.clicks(card, "Approve")) == 200
        eventually(
            lambda: target_states(self.runtime, 1) == {"outbox": "published"}, what="publish"
        )
        return card
