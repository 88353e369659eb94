"""What every Telegram handler shares: who is talking (from the ids Telegram verified), running
one line of the grammar through `Herald.handle` (in a thread: core is synchronous), replying,
and dropping an update seen before."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict

from telegram import (
    Chat,
    InlineKeyboardMarkup,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.telegram.delivery import TelegramSurface
from core.posts.card import Message
from core.service import Herald
from core.workspace.people import Actor
from storage.models import Role, SurfaceKind

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

ANSWER_WITHIN = 0.7  # seconds: a button's spinner stops well inside Telegram's window
ADMIN_CACHE_SECONDS = 600.0
ANONYMOUS_ADMIN = 1087968824  # GroupAnonymousBot: the sender of "remain anonymous" admins
CARD_TITLE = re.compile(r"^#(\d+) · ")
ALERT_LIMIT = 200  # answerCallbackQuery text
HINTS = {
    "regenerate": "Reply to the card to say what to change next time.",
}


class Listener:
    """The state every handler shares: Herald, the surface, the admin cache, answered presses."""

    def __init__(self, herald: Herald, surface: TelegramSurface) -> None:
        self.herald = herald
        self.surface = surface
        self.codec = surface.codec
        self._admins: dict[tuple[int, int], tuple[bool, float]] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()

    # --- who is talking ------------------------------------------------------------------------

    async def _is_admin(self, context: Context, chat: Chat, user: User) -> bool:
        key = (chat.id, user.id)
        cached = self._admins.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
            admin = member.status in {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
        except TelegramError:
            log.warning("could not read the role of user %s in chat %s", user.id, chat.id)
            admin = False
        self._admins[key] = (admin, time.monotonic() + ADMIN_CACHE_SECONDS)
        return admin

    async def actor(self, update: Update, context: Context) -> Actor | None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or user.is_bot or chat.type == ChatType.CHANNEL:
            return None
        group = chat.type in {ChatType.GROUP, ChatType.SUPERGROUP}
        admin = group and await self._is_admin(context, chat, user)
        return Actor(
            surface=SurfaceKind.TELEGRAM,
            workspace_id=str(chat.id),
            workspace_name=(chat.title if group else None) or user.full_name or str(user.id),
            user_id=str(user.id),
            user_name=user.username or user.first_name or str(user.id),
            conversation=str(chat.id),
            role_hint=Role.ADMIN if admin else None,
            shared=group,
        )

    async def _handle(self, actor: Actor, line: str) -> Message:
        # What a person sent counts against their rate limit (core refuses over it).
        return await asyncio.to_thread(self.herald.handle, actor, line, counted=True)

    async def _reply(self, chat_id: int, message: Message, reply_to: int | None) -> None:
        await asyncio.to_thread(self.surface.reply, chat_id, message, reply_to=reply_to)

    async def _markup(
        self, chat_id: int, message_id: int, markup: InlineKeyboardMarkup | None
    ) -> None:
        await asyncio.to_thread(
            self.surface.sender.edit_markup, chat_id, message_id, markup, patient=True
        )

    async def _say(self, chat_id: int, text: str, reply_to: int | None = None) -> None:
        await asyncio.to_thread(
            self.surface.send_text, chat_id, text, reply_to=reply_to, patient=True
        )

    # --- exactly once ----------------------------------------------------------------------------

    async def dedup(self, update: Update, context: Context) -> None:
        """Group -1: an update seen before (Telegram redelivers after a crash) stops here."""
        key = f"{context.bot.id}:{update.update_id}"
        if not await asyncio.to_thread(self.herald.first_time, "telegram", key):
            log.info("Telegram update %s seen before; skipped", key)
            raise ApplicationHandlerStop

    # --- messages --------------------------------------------------------------------------------

    async def _anonymous(self, update: Update) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is not None and chat is not None and user.id == ANONYMOUS_ADMIN:
            await self._say(
                chat.id,
                "I can't tell anonymous admins apart, so I can't check who is asking. Turn off "
                '"Remain anonymous" in your admin rights to use Herald here.',
            )
