"""Button presses on Telegram cards: answered within Telegram's window, run as one line of the
grammar, the card redrawn; Edit and Reject ask for the text in a reply. And the transport's one
error handler, which answers a pending press too."""

from __future__ import annotations

import asyncio
import logging

from telegram import (
    CallbackQuery,
    MaybeInaccessibleMessage,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.kit import QUICK_ACTIONS, button_line
from bot.telegram.delivery import card_ref
from bot.telegram.listener import ALERT_LIMIT, ANSWER_WITHIN, HINTS, Listener
from bot.telegram.render import cut_text, keyboard, prompt, tg_len
from bot.telegram.sender import ChatGone
from bot.telegram.tokens import Intent
from core.errors import RetryLater, log_failure, went_wrong
from core.workspace.people import Actor

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE


class Buttons(Listener):
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

    def __init__(self, handlers: Buttons, query: CallbackQuery) -> None:
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
