"""The Telegram surface: cards and messages out, and the `ChatDelivery` workers push through.

Cards are edited in place (`editMessageText` at the card's ref, `"<chat id>:<message id>"`);
the text of each later step goes as a reply to the card, so the replies carry the history.
A message's files follow its text, one message each: a PNG as a photo, anything else as a
document (bot/telegram/sender.py), with the card's files as replies to the card.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest

from bot.telegram.flood import build_flood
from bot.telegram.render import card_html, cut_text, esc, keyboard, split_text, whole_texts
from bot.telegram.sender import ChatGone, Markup, TelegramSender
from bot.telegram.tokens import TokenCodec
from core.ports import ChatDelivery, Delivery
from core.posts.card import Card
from core.posts.card import Message as HeraldMessage
from core.settings import Settings

log = logging.getLogger(__name__)


def card_ref(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def parse_ref(ref: str | None) -> tuple[int, int] | None:
    if not ref:
        return None
    chat, _, message = ref.rpartition(":")
    try:
        return int(chat), int(message)
    except ValueError:
        return None


def default_status(card: Card) -> str | None:
    if card.status:
        return card.status
    if any(b.action == "approve" for b in card.buttons):
        return "Waiting for approval"
    return None


class TelegramSurface:
    """Sends and redraws for both the bot's handlers and the workers' deliveries."""

    def __init__(self, sender: TelegramSender, codec: TokenCodec) -> None:
        self.sender = sender
        self.codec = codec

    # --- building blocks ---------------------------------------------------------------------

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        markup: Markup | None = None,
        patient: bool,
        preformatted: bool = False,
    ) -> list[Message]:
        """Plain text, split in pieces Telegram accepts; the markup rides on the last piece."""
        pieces = split_text(text, 4096 - 20 if preformatted else 4096)
        sent = []
        for i, piece in enumerate(pieces):
            body = f"<pre>{esc(piece)}</pre>" if preformatted else esc(piece)
            last = i == len(pieces) - 1
            sent.append(
                self.sender.send(
                    chat_id,
                    body,
                    markup=markup if last else None,
                    reply_to=reply_to if i == 0 else None,
                    patient=patient,
                )
            )
        return sent

    def markup(self, chat_id: int, card: Card) -> InlineKeyboardMarkup | None:
        return keyboard(self.codec, chat_id, card)

    def send_card(
        self,
        chat_id: int,
        card: Card,
        status: str | None,
        *,
        reply_to: int | None = None,
        patient: bool,
    ) -> Message:
        return self.sender.send(
            chat_id,
            card_html(card, status),
            markup=self.markup(chat_id, card),
            reply_to=reply_to,
            patient=patient,
        )

    def redraw(
        self, chat_id: int, message_id: int, card: Card, status: str | None, *, patient: bool
    ) -> bool:
        return self.sender.edit(
            chat_id,
            message_id,
            card_html(card, status),
            self.markup(chat_id, card),
            patient=patient,
        )

    def reply(
        self, chat_id: int, message: HeraldMessage, *, reply_to: int | None = None
    ) -> Message | None:
        """A command's answer to the person who asked: the card (with buttons) and the text."""
        card_message = None
        if message.card is not None:
            card_message = self.send_card(
                chat_id, message.card, message.card.status, reply_to=reply_to, patient=True
            )
        answer_to = card_message.message_id if card_message else reply_to
        if message.card is not None and message.whole:  # `show`: what the card had to cut
            for text in whole_texts(message.card, message.card.status):
                self.send_text(chat_id, text, reply_to=answer_to, patient=True)
        if message.text:
            self.send_text(chat_id, message.text, reply_to=answer_to, patient=True)
        for file in message.files:  # a chart, an export: photos and documents after the text
            self.sender.send_file(chat_id, file, reply_to=answer_to, patient=True)
        return card_message

    def close(self) -> None:
        self.sender.close()


class TelegramDelivery:
    """`ChatDelivery` for Telegram: what workers say about a post, in its chat."""

    def __init__(self, surface: TelegramSurface) -> None:
        self.surface = surface

    def close(self) -> None:
        """Stop the sender's thread and HTTP pool (for `Runtime.close`)."""
        self.surface.close()

    def deliver(self, delivery: Delivery) -> str | None:
        try:
            return self._deliver(delivery)
        except ChatGone as exc:
            # Blocked, kicked or deleted: there is nobody to tell, and retrying won't change it.
            log.warning("Telegram message %s dropped: %s", delivery.message_id, exc)
            return None
        except BadRequest as exc:
            # Telegram refuses this message as it is (rights, a format bug): sending it again
            # would fail the same way forever, so it is logged loudly and let go.
            log.error("Telegram refused message %s: %s", delivery.message_id, exc)
            return None

    def _deliver(self, d: Delivery) -> str | None:
        """The text (or the card), then each file; every step reported as it goes out, so a
        retry after a flood wait or a 429 carries on where this one stopped."""
        surface, sender = self.surface, self.surface.sender
        text = None if d.text_sent else d.text
        if d.recipient:  # privately, to one person (a connect link, a token warning)
            self._text(int(d.recipient), d, text)
            return None
        chat_id = int(d.conversation)
        card = d.card
        if not isinstance(card, Card):
            self._text(chat_id, d, text)
            return None
        status = d.text or default_status(card)
        where = parse_ref(d.card_ref)
        if d.new_card or where is None:
            return self._new_card(chat_id, card, status, d)
        card_chat, message_id = where
        # Take the reply's flood slot first: if the chat must wait, nothing was done yet and
        # the retried job does the whole step once.
        if text:
            sender.reserve(card_chat)
        with sender.flood.card_lock(d.card_ref or ""):
            shown = surface.redraw(card_chat, message_id, card, status, patient=False)
        if not shown:  # the card was deleted: post it again, the new one is the card now
            return self._new_card(card_chat, card, status, d)
        if text:
            surface.sender.send(
                card_chat,
                esc(cut_text(text, 4096)),
                reply_to=message_id,
                patient=False,
                reserved=True,
            )
            d.went_out(text=True)
        self._files(card_chat, d, reply_to=message_id)
        return None

    def _text(self, chat_id: int, d: Delivery, text: str | None) -> None:
        if text:
            self.surface.send_text(chat_id, text, patient=False)
            d.went_out(text=True)
        self._files(chat_id, d, reply_to=None)

    def _new_card(self, chat_id: int, card: Card, status: str | None, d: Delivery) -> str:
        sent = self.surface.send_card(chat_id, card, status, patient=False)
        ref = card_ref(chat_id, sent.message_id)
        d.went_out(text=True, card_ref=ref)
        self._files(chat_id, d, reply_to=sent.message_id)
        return ref

    def _files(self, chat_id: int, d: Delivery, *, reply_to: int | None) -> None:
        """Each file as its own message (a reply to the card when there is one)."""
        for file in d.files:
            self.surface.sender.send_file(chat_id, file, reply_to=reply_to, patient=False)
            d.went_out(files=[file.id])


def secrets_of(settings: Settings) -> list[bytes]:
    """Keys for callback tokens: the secret key when set (stable across bot tokens), then the
    previous ones, then the bot token itself (always there when Telegram is on)."""
    keys = [settings.secret_key, *settings.previous_secret_keys, settings.telegram_token]
    return [k.get_secret_value().encode() for k in keys if k is not None]


def build_surface(settings: Settings) -> TelegramSurface | None:
    if settings.telegram_token is None:
        return None
    token = settings.telegram_token.get_secret_value()
    bot_id = token.partition(":")[0]
    flood = build_flood(settings.broker_url, f"herald:{settings.queue}:telegram:{bot_id}:")
    sender = TelegramSender(token, settings.telegram_api_url, flood)
    return TelegramSurface(sender, TokenCodec(secrets_of(settings)))


def build_telegram_delivery(settings: Settings) -> ChatDelivery | None:
    surface = build_surface(settings)
    return TelegramDelivery(surface) if surface is not None else None
