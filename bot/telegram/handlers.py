"""Telegram updates in, Herald's grammar out: commands, free text, replies and button presses.

Each handler builds the `Actor` from the ids Telegram verified, turns the update into one line of
the grammar, calls `Herald.handle` once (in a thread: core is synchronous) and renders the
answer. Permissions, state and wording of refusals are core's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict

from telegram import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    MaybeInaccessibleMessage,
    Update,
    User,
)
from telegram import Message as TgMessage
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.kit import QUICK_ACTIONS, button_line
from bot.telegram import media
from bot.telegram.delivery import TelegramSurface, card_ref
from bot.telegram.render import cut_text, keyboard, prompt, prompt_intent, tg_len
from bot.telegram.sender import ChatGone
from bot.telegram.tokens import Intent
from core import registry
from core.errors import RetryLater, log_failure, went_wrong
from core.grammar import defuse_mentions, mention
from core.networks import length_problem
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


class Handlers:
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

    async def on_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or not message.text or not message.entities:
            return
        entity = message.entities[0]
        if entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
            return
        name, _, addressed = message.text[1 : entity.length].partition("@")
        if addressed and addressed.lower() != (context.bot.username or "").lower():
            return  # "/draft@OtherBot": for another bot in this group
        rest = command_text(message, entity.length).strip()
        name = name.lower()
        actor = await self.actor(update, context)
        if actor is None:
            await self._anonymous(update)
            return
        chat_id = message.chat_id
        if name == "start":
            await self.start(update, actor)
            return
        spec = registry.commands().find(name)
        if spec is None:
            await self._say(
                chat_id,
                f'I don\'t know the command "/{name}". Type /help to see what I can do.',
                reply_to=message.message_id,
            )
            return
        if name == "role":
            rest = _role_by_reply(message, rest)
        answer = await self._handle(actor, f"{name} {rest}".strip())
        if spec.name == "help" and not answer.error and answer.text:
            await asyncio.to_thread(
                self.surface.send_text,
                chat_id,
                "Commands (start each with /, e.g. /draft):\n\n" + answer.text,
                reply_to=message.message_id,
                patient=True,
                preformatted=True,
            )
            return
        await self._reply(chat_id, answer, message.message_id)

    async def start(self, update: Update, actor: Actor) -> None:
        chat = update.effective_chat
        assert chat is not None
        # The chat becomes a workspace (its first person its owner); core sets the policy: a
        # private chat is one person's, so they approve their own drafts, as in the terminal.
        await asyncio.to_thread(self.herald.workspace_of, actor)
        if chat.type == ChatType.PRIVATE:
            text = (
                f"👋 Hi {actor.user_name}! This chat is your Herald workspace now: draft, approve "
                "and publish posts from here.\n"
                "Try: /draft Our new API is live --to outbox\n"
                "Or just tell me what to post. /help lists every command."
            )
        else:
            text = (
                f"👋 Herald is set up for {chat.title or 'this group'}. The first person to use "
                "it here is its owner, group admins are admins, everyone else an editor.\n"
                "Try: /draft Our new API is live --to outbox · /help lists every command."
            )
        await self._say(chat.id, text)

    async def on_text(self, update: Update, context: Context) -> None:
        """Free text in a private chat: the grammar without the slash, or plain words."""
        message = update.effective_message
        if message is None or not message.text or update.effective_chat is None:
            return
        if update.effective_chat.type != ChatType.PRIVATE:
            return  # in groups Herald speaks only when addressed with a command or a reply
        actor = await self.actor(update, context)
        if actor is None:
            return
        answer = await self._handle(actor, command_text(message))
        await self._reply(message.chat_id, answer, message.message_id)

    async def on_reply(self, update: Update, context: Context) -> None:
        """Answers to our prompts (Edit, Reject) and replies to a card (feedback)."""
        message = update.effective_message
        parent = message.reply_to_message if message else None
        if message is None or parent is None or not message.text:
            return
        ours = parent.from_user is not None and parent.from_user.id == context.bot.id
        intent = prompt_intent(self.codec, message.chat_id, parent.entities) if ours else None
        title = CARD_TITLE.match(parent.text or "") if ours else None
        if intent is None and title is None:
            await self.on_text(update, context)
            return
        actor = await self.actor(update, context)
        if actor is None:
            await self._anonymous(update)
            return
        text = message.text.strip()
        chat_id = message.chat_id
        if intent is not None and intent.action == "pick" and intent.network:
            problem = length_problem(intent.network, text)
            if problem is not None:
                await self._say(
                    chat_id, f"{problem} Then reply again.", reply_to=message.message_id
                )
                await self._prompt(chat_id, context, intent, None)
                return
            line = f"edit {intent.number} {intent.network} {text}"
        elif intent is not None and intent.action == "reject":
            line = f"reject {intent.number} {text}"
        elif title is not None:
            intent = Intent("regenerate", int(title.group(1)), card=parent.message_id)
            line = f"regenerate {intent.number} {text}"
        else:
            return
        answer = await self._handle(actor, line)
        status = answer.text or (answer.card.status if answer.card else None)
        await self._say(chat_id, status or "Done.", reply_to=message.message_id)
        if not answer.error and intent.card:
            await self._redraw(actor, chat_id, intent.card, intent.number, status)

    async def on_media(self, update: Update, context: Context) -> None:
        """A photo, video or image file: attached to the post whose card (or prompt) it
        answers, or to the one its caption names (`/attach 12 alt text`)."""
        message = update.effective_message
        chat = update.effective_chat
        upload = media.upload_of(message) if message is not None else None
        if message is None or chat is None or upload is None:
            return
        private = chat.type == ChatType.PRIVATE
        caption = media.read_caption(message.caption, context.bot.username or "", private=private)
        if not caption.for_us:
            return  # "/attach@OtherBot 12": for another bot in this group
        number, card_id = caption.number, None
        replied = self._replied_post(message, context.bot.id)
        if replied is not None and number in (None, replied[0]):
            number, card_id = replied
        if number is None:
            if private:  # in groups a file not addressed to Herald is none of its business
                await self._say(
                    chat.id,
                    "Which post is this for? Reply to a post's card with it, or send it with "
                    "the caption /attach 12 (alt text after the number).",
                    reply_to=message.message_id,
                )
            return
        actor = await self.actor(update, context)
        if actor is None:
            await self._anonymous(update)
            return
        try:
            data = await media.download(context.bot, upload)
        except media.TooBig as exc:
            await self._say(chat.id, media.too_big_text(exc.size, number), message.message_id)
            return
        except media.DownloadFailed as exc:
            await self._say(chat.id, str(exc), reply_to=message.message_id)
            return
        answer = await asyncio.to_thread(
            self.herald.attach_upload,
            actor,
            number,
            data,
            alt=caption.alt or None,
            source=f"telegram:{upload.kind}:{upload.unique_id}",
        )
        if answer.error or card_id is None:
            # A refusal changes nothing; without a card to redraw the answer brings the card.
            await self._reply(chat.id, answer, message.message_id)
            return
        await self._say(chat.id, answer.text or "Attached.", reply_to=message.message_id)
        await self._redraw(actor, chat.id, card_id, number, None)

    def _replied_post(self, message: TgMessage, bot_id: int) -> tuple[int, int | None] | None:
        """The post (and its card's message id) of the card or prompt `message` replies to."""
        parent = message.reply_to_message
        if parent is None or parent.from_user is None or parent.from_user.id != bot_id:
            return None
        intent = prompt_intent(self.codec, message.chat_id, parent.entities)
        if intent is not None:
            return intent.number, intent.card
        title = CARD_TITLE.match(parent.text or "")
        return (int(title.group(1)), parent.message_id) if title else None

    async def _anonymous(self, update: Update) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is not None and chat is not None and user.id == ANONYMOUS_ADMIN:
            await self._say(
                chat.id,
                "I can't tell anonymous admins apart, so I can't check who is asking. Turn off "
                '"Remain anonymous" in your admin rights to use Herald here.',
            )

    # --- buttons -----------------------------------------------------------------------------

    async def on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        answer = Answer(self, query)
        try:
            await self._click(update, context, answer)
        except Exception:  # noqa: BLE001 - logged with its traceback and a ref
            await answer(went_wrong(log_failure(log, "button press failed")), alert=True)
        finally:
            await answer()  # every query is answered, once, whatever happened above

    async def _answer(self, query: CallbackQuery, text: str | None, alert: bool) -> None:
        self._answered[query.id] = None
        while len(self._answered) > 1000:
            self._answered.popitem(last=False)
        try:
            await query.answer(text=text, show_alert=alert)
        except TelegramError as exc:
            log.warning("answering button press %s failed: %s", query.id, exc)

    async def _click(self, update: Update, context: Context, answer: Answer) -> None:
        query = update.callback_query
        assert query is not None
        card = query.message
        chat_id = card.chat.id if card is not None else None
        intent = self.codec.open(chat_id, query.data) if chat_id is not None else None
        if intent is None or card is None:
            await answer("This button no longer works. Type /queue to see the posts.", alert=True)
            return
        actor = await self.actor(update, context)
        if actor is None:
            await answer("I can't tell who pressed this. Turn off anonymous admin.", alert=True)
            return
        assert chat_id is not None
        if intent.action in QUICK_ACTIONS:
            await self._act(actor, chat_id, card, intent, answer)
        elif intent.action == "reject":
            await answer(f"Why reject #{intent.number}? Reply with the reason.")
            await self._prompt(
                chat_id, context, Intent("reject", intent.number, card=card.message_id), None
            )
        elif intent.action in {"edit", "pick", "back"}:
            await self._edit_click(actor, chat_id, context, card, intent, answer)

    async def _act(
        self,
        actor: Actor,
        chat_id: int,
        card: MaybeInaccessibleMessage,
        intent: Intent,
        answer: Answer,
    ) -> None:
        line = button_line(intent.action, intent.number, intent.network)
        work = asyncio.ensure_future(self._handle(actor, line))
        try:
            result = await asyncio.wait_for(asyncio.shield(work), ANSWER_WITHIN)
        except TimeoutError:
            await answer("Working on it…")
            result = await work
        if result.error:
            if not answer.done and tg_len(result.text or "") <= ALERT_LIMIT:
                await answer(result.text, alert=True)
            else:  # too long for an alert, or "Working on it…" went already: say it in chat
                await answer("I couldn't do that; see my reply.")
                await self._say(chat_id, result.text or "", reply_to=card.message_id)
            return  # nothing changed, so the card stays as it is
        hint = HINTS.get(intent.action)
        await answer(f"{result.text} {hint}" if hint and result.text else result.text)
        await self._redraw(actor, chat_id, card.message_id, intent.number, result.text)

    async def _edit_click(
        self,
        actor: Actor,
        chat_id: int,
        context: Context,
        card: MaybeInaccessibleMessage,
        intent: Intent,
        answer: Answer,
    ) -> None:
        shown = await self._handle(actor, f"show {intent.number}")
        if shown.error or shown.card is None:
            await answer(shown.text, alert=True)
            return
        view = shown.card
        editable = [v for v in view.variants if v.state not in {"published", "cancelled"}]
        if intent.action == "back" or not editable:
            if not editable:
                await answer(f"#{intent.number} has nothing left to edit.", alert=True)
            else:
                await answer()
            await self._markup(chat_id, card.message_id, self.surface.markup(chat_id, view))
            return
        if intent.action == "edit" and len(editable) > 1:
            await answer("Which network? Pick one.")
            await self._markup(
                chat_id, card.message_id, keyboard(self.codec, chat_id, view, pick=True)
            )
            return
        network = intent.network or editable[0].network
        variant = next((v for v in editable if v.network == network), None)
        if variant is None:
            await answer(f"#{intent.number} has no {network} text to edit.", alert=True)
            return
        await answer(f"Reply with the new {variant.name} text.")
        if intent.action == "pick":  # the network is chosen: back to the card's own buttons
            await self._markup(chat_id, card.message_id, self.surface.markup(chat_id, view))
        pick = Intent("pick", intent.number, network, card=card.message_id)
        await self._prompt(chat_id, context, pick, variant.text)

    async def _prompt(
        self, chat_id: int, context: Context, intent: Intent, current: str | None
    ) -> None:
        text, markup = prompt(self.codec, chat_id, context.bot.username or "", intent, current)
        await asyncio.to_thread(
            self.surface.sender.send,
            chat_id,
            text,
            markup=markup,
            reply_to=intent.card,
            patient=True,
        )

    async def _redraw(
        self, actor: Actor, chat_id: int, message_id: int, number: int, status: str | None
    ) -> None:
        """Show the card as it is now, in place. Under the card's lock, so a worker's redraw
        of a later step is never overwritten by this one (see `FloodControl.card_lock`)."""

        def redraw() -> None:
            with self.surface.sender.flood.card_lock(card_ref(chat_id, message_id)):
                shown = self.herald.handle(actor, f"show {number}")
                if shown.card is not None:
                    self.surface.redraw(chat_id, message_id, shown.card, status, patient=True)

        try:
            await asyncio.to_thread(redraw)
        except (RetryLater, ChatGone) as exc:  # the answer was given; the card catches up later
            log.info("card #%s not redrawn: %s", number, exc)

    # --- the transport's one error handler ----------------------------------------------------

    async def on_error(self, update: object, context: Context) -> None:
        ref = log_failure(log, "Telegram update failed", context.error)
        if not isinstance(update, Update):
            return
        query = update.callback_query
        if query is not None:
            if query.id not in self._answered:
                await self._answer(query, went_wrong(ref), True)
            return
        if update.effective_chat is not None:
            try:
                await self._say(update.effective_chat.id, went_wrong(ref))
            except Exception:  # telling them failed too; the ref is in the log
                log.exception("could not report ref %s to the chat", ref)


class Answer:
    """Answers one button press, once: later calls do nothing (`done` tells whether it went)."""

    def __init__(self, handlers: Handlers, query: CallbackQuery) -> None:
        self._handlers = handlers
        self._query = query
        self.done = False

    async def __call__(self, text: str | None = None, *, alert: bool = False) -> None:
        if self.done:
            return
        self.done = True
        await self._handlers._answer(
            self._query, cut_text(text, ALERT_LIMIT) if text else None, alert
        )


def command_text(message: TgMessage, start: int = 0) -> str:
    """The message's text from `start` (UTF-16 units, as Telegram counts) for the grammar.

    A text mention (someone without a @username, picked from the mention list) carries their
    user id, and becomes the grammar's verified mention; a typed `<@` is defused. A plain
    @username carries no id and stays words: usernames change hands, so core won't pick a
    person by one.
    """
    units = (message.text or "").encode("utf-16-le")
    pieces: list[str] = []
    at = start
    for entity in sorted(message.entities, key=lambda e: e.offset):
        if entity.type != MessageEntityType.TEXT_MENTION or entity.user is None:
            continue
        if entity.offset < at:
            continue
        pieces.append(defuse_mentions(units[2 * at : 2 * entity.offset].decode("utf-16-le")))
        pieces.append(mention(str(entity.user.id)))
        at = entity.offset + entity.length
    pieces.append(defuse_mentions(units[2 * at :].decode("utf-16-le")))
    return "".join(pieces)


def _role_by_reply(message: TgMessage, rest: str) -> str:
    """`/role admin` as a reply names the person replied to: Telegram verified who that is."""
    parent = message.reply_to_message
    person = parent.from_user if parent is not None else None
    if person is None or person.is_bot or len(rest.split()) != 1:
        return rest
    return f"{mention(str(person.id))} {rest}"
