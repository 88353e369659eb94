"""Telegram updates in, Herald's grammar out: commands, free text, replies and button presses.

Each handler builds the `Actor` from the ids Telegram verified, turns the update into one line of
the grammar, calls `Herald.handle` once (in a thread: core is synchronous) and renders the
answer. Permissions, state and wording of refusals are core's.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message as TgMessage
from telegram import (
    Update,
)
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import ContextTypes

from bot.telegram import media
from bot.telegram.buttons import Buttons
from bot.telegram.listener import CARD_TITLE
from bot.telegram.render import prompt_intent
from bot.telegram.tokens import Intent
from core import registry
from core.grammar import defuse_mentions, mention
from core.networks import length_problem
from core.workspace.people import Actor

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE


class Handlers(Buttons):
    """Commands, free text, replies to cards and prompts, and photos; buttons and errors come
    from `Buttons`, who is talking from `Listener`."""

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
        # The card is redrawn as `show` draws it; what the answer's card alone says (an
        # expired post's passed time, an X thread cut to one post) goes in the reply.
        note = answer.card.note if answer.card is not None and not answer.error else None
        said = "\n".join(part for part in (status or "Done.", note) if part)
        await self._say(chat_id, said, reply_to=message.message_id)
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
