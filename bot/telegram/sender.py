"""Everything Herald sends to Telegram, from any thread: flood limits first, 429s honoured.

PTB's `Bot` is async; workers are threads. The sender runs one event loop in a thread of its own
and hands it coroutines, so Celery threads and the bot's handlers share one client, one flood
state and one lock per card. `patient=False` (workers) turns a wait into `RetryLater`, so a
slow chat never holds a worker; `patient=True` (a reply to someone typing right now) waits a
few seconds at most, in the caller's thread only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from bot.kit import FileLike
from bot.telegram.flood import FloodControl
from core.errors import RetryLater

log = logging.getLogger(__name__)
T = TypeVar("T")
PATIENCE = 5.0  # the longest a person's own answer waits for a flood window
NETWORK_PAUSE = 5.0  # a worker tries again this much later after a dropped connection
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Bot API limits for what a bot sends: a photo up to 10 MB, any file up to 50 MB, captions of
# 1,024 characters. Herald's own cap on a file (core.posts.card.MAX_FILE_BYTES) is below both.
PHOTO_LIMIT = 10 * 1024 * 1024
DOCUMENT_LIMIT = 50 * 1024 * 1024
CAPTION_LIMIT = 1024
UPLOAD_SECONDS = 60.0
Markup = InlineKeyboardMarkup | ForceReply


def cut_caption(text: str) -> str:
    """A caption within Telegram's limit (sent as plain text, so it is counted as is)."""
    line = " ".join(text.split())
    return line if len(line) <= CAPTION_LIMIT else line[: CAPTION_LIMIT - 1] + "…"


class ChatGone(Exception):
    """The bot was blocked, removed from the group, or the chat no longer exists."""


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def is_group(chat_id: int) -> bool:
    return chat_id < 0  # groups and supergroups have negative ids, people positive


class TelegramSender:
    def __init__(self, token: str, base_url: str, flood: FloodControl) -> None:
        self._token = token
        self._base_url = base_url
        self.flood = flood
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bot: Bot | None = None
        self._start = threading.Lock()

    # --- the loop thread ---------------------------------------------------------------------

    def _ensure(self) -> tuple[asyncio.AbstractEventLoop, Bot]:
        with self._start:
            if self._loop is None or self._bot is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="herald-telegram-send", daemon=True
                )
                thread.start()
                bot = Bot(
                    self._token,
                    base_url=self._base_url,
                    request=HTTPXRequest(connection_pool_size=16, read_timeout=15.0),
                )
                asyncio.run_coroutine_threadsafe(bot.initialize(), loop).result(30)
                self._loop, self._thread, self._bot = loop, thread, bot
            return self._loop, self._bot

    def _run(self, make: Callable[[Bot], Awaitable[T]]) -> T:
        loop, bot = self._ensure()

        async def call() -> T:
            return await make(bot)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(60)

    @property
    def bot(self) -> Bot:
        return self._ensure()[1]

    def close(self) -> None:
        with self._start:
            loop, bot, thread = self._loop, self._bot, self._thread
            self._loop = self._bot = self._thread = None
        if loop is None or bot is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(bot.shutdown(), loop).result(10)
        except Exception:  # closing anyway; nothing to tell anyone
            log.debug("closing the Telegram client failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)

    # --- calls -------------------------------------------------------------------------------

    def _slot(self, chat_id: int, patient: bool) -> None:
        deadline = time.monotonic() + PATIENCE
        while True:
            wait = self.flood.reserve(chat_id, group=is_group(chat_id))
            if wait <= 0:
                return
            if not patient or time.monotonic() + wait > deadline:
                raise RetryLater(wait, "Telegram flood limit")
            time.sleep(wait)

    def reserve(self, chat_id: int) -> None:
        """Take a flood slot now for a send that follows, or raise `RetryLater`."""
        self._slot(chat_id, patient=False)

    def _call(self, chat_id: int, patient: bool, make: Callable[[Bot], Awaitable[T]]) -> T:
        for _ in range(3):
            try:
                return self._run(make)
            except RetryAfter as exc:
                seconds = retry_seconds(exc)
                self.flood.hold(chat_id, seconds)
                if not patient or seconds > PATIENCE:
                    raise RetryLater(seconds, "Telegram asked to slow down") from None
                time.sleep(seconds)
            except Forbidden as exc:
                raise ChatGone(str(exc)) from None
            except BadRequest as exc:
                if "chat not found" in str(exc).lower():
                    raise ChatGone(str(exc)) from None
                raise
            except (TimedOut, NetworkError) as exc:
                if not patient:
                    raise RetryLater(NETWORK_PAUSE, f"Telegram unreachable ({exc})") from None
                raise
        raise RetryLater(PATIENCE, "Telegram kept asking to slow down")

    def send(
        self,
        chat_id: int,
        text: str,
        *,
        markup: Markup | None = None,
        reply_to: int | None = None,
        patient: bool,
        reserved: bool = False,
    ) -> Message:
        """One HTML message (after a flood slot is free, unless `reserve` took it already)."""
        if not reserved:
            self._slot(chat_id, patient)
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None
        )

        def make(bot: Bot) -> Awaitable[Message]:
            return bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
                link_preview_options=NO_PREVIEW,
            )

        return self._call(chat_id, patient, make)

    def send_file(
        self,
        chat_id: int,
        file: FileLike,
        *,
        reply_to: int | None = None,
        patient: bool,
    ) -> Message:
        """One file as Telegram shows it best: a PNG as a photo (a preview in the chat),
        anything else, or a photo Telegram refuses as one, as a document. Caption: its title."""
        if len(file.data) > DOCUMENT_LIMIT:  # refused as Telegram would, without the upload
            raise BadRequest(f"{file.name} is larger than the 50 MB Telegram takes from a bot")
        self._slot(chat_id, patient)
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None
        )
        caption = cut_caption(file.title) or None
        if file.mime == "image/png" and len(file.data) <= PHOTO_LIMIT:

            def photo(bot: Bot) -> Awaitable[Message]:
                return bot.send_photo(
                    chat_id,
                    InputFile(file.data, filename=file.name),
                    caption=caption,
                    reply_parameters=reply,
                    write_timeout=UPLOAD_SECONDS,
                )

            try:
                return self._call(chat_id, patient, photo)
            except BadRequest as exc:
                if not any(word in str(exc).upper() for word in ("PHOTO", "IMAGE")):
                    raise
                # Too tall, too wide, or not a picture Telegram reads: the file still goes.
                log.info("Telegram refused %s as a photo (%s); sent as a file", file.name, exc)

        def document(bot: Bot) -> Awaitable[Message]:
            return bot.send_document(
                chat_id,
                InputFile(file.data, filename=file.name),
                caption=caption,
                reply_parameters=reply,
                write_timeout=UPLOAD_SECONDS,
            )

        return self._call(chat_id, patient, document)

    def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        *,
        patient: bool,
    ) -> bool:
        """Redraw a message in place. False when it is gone (deleted, or too old to edit)."""

        async def make(bot: Bot) -> Any:
            return await bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )

        return self._edit(chat_id, patient, make)

    def edit_markup(
        self, chat_id: int, message_id: int, markup: InlineKeyboardMarkup | None, *, patient: bool
    ) -> bool:
        async def make(bot: Bot) -> Any:
            return await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=markup
            )

        return self._edit(chat_id, patient, make)

    def _edit(self, chat_id: int, patient: bool, make: Callable[[Bot], Awaitable[Any]]) -> bool:
        try:
            self._call(chat_id, patient, make)
        except BadRequest as exc:
            words = str(exc).lower()
            if "not modified" in words:
                return True  # already showing exactly this
            if "not found" in words or "can't be edited" in words:
                return False
            raise
        return True
