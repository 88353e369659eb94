"""Herald's messages as Telegram HTML: the approval card with its inline keyboard, long texts
split to fit, and the reply prompts (Edit, Reject) that carry their intent in a deep link."""

from __future__ import annotations

import html
import re
from dataclasses import replace

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity

from bot.telegram.tokens import Intent, TokenCodec
from core.networks import get_network
from core.posts.card import Card

MAX_TEXT = 4096  # characters after entity parsing, counted in UTF-16 code units
BUTTON_TEXT = {"approve": "✅ Approve", "reject": "✖ Reject", "retry": "🔁 Retry"}
PROMPT_LINK = "https://t.me/{bot}?start=p{token}"


def tg_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def _prefix(text: str, limit: int) -> str:
    """The longest start of `text` within `limit` UTF-16 units."""
    if tg_len(text) <= limit:
        return text
    out = text[:limit]
    while tg_len(out) > limit:
        out = out[:-1]
    return out


def cut_text(text: str, limit: int) -> str:
    """`text` within `limit`, ending in … when something was cut."""
    if tg_len(text) <= limit:
        return text
    return _prefix(text, max(0, limit - 1)).rstrip() + "…"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Plain text in pieces of at most `limit`, broken at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if tg_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while tg_len(line) > limit:  # one line longer than a message: break it hard
            head = _prefix(line, limit)
            pieces.append(head)
            line = line[len(head) :]
        current = line
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()] or ["…"]


def post_label(number: int, total: int, count: str) -> str:
    """The line over each post of a thread, on the card and in `show`'s whole texts."""
    return f"— post {number} of {total} · {count}"


def _card_html(card: Card, status: str | None, texts: list[list[str]]) -> str:
    lines = [f"<b>{esc(card.title)}</b>", f"<blockquote>{esc(card.brief)}</blockquote>"]
    for variant, posts in zip(card.variants, texts, strict=True):
        over = " ⚠" if variant.over else ""
        state = "" if variant.state == "draft" else f" · {esc(variant.state)}"
        lines.append("")
        lines.append(f"<b>{esc(variant.name)}</b> · {esc(variant.count)}{over}{state}")
        counts = variant.counts()
        for number, text in enumerate(posts, start=1):
            if len(posts) > 1:  # a thread: every post an approval publishes, each counted
                lines.append(f"<i>{post_label(number, len(posts), counts[number - 1])}</i>")
            lines.append(esc(text) if text else "<i>(empty)</i>")
        lines.extend(esc(m) for m in variant.media)
        lines.extend(esc(w) for w in variant.warnings)
        if variant.url:
            lines.append(f"🔗 {esc(variant.url)}")
        if variant.figures:
            lines.append(esc(variant.figures))
        if variant.reason:
            lines.append(f"⚠ {esc(variant.reason)}")
    lines.append("")
    lines.append(f"🕘 {esc(card.when)}")
    if status:
        lines.append(f"<b>{esc(status)}</b>")
    if card.note:
        lines.append(f"<i>{esc(card.note)}</i>")
    return "\n".join(lines)


def _plain_len(html_text: str) -> int:
    """Length after entity parsing: what Telegram counts against its limit."""
    return tg_len(html.unescape(re.sub(r"<[^>]+>", "", html_text)))


def cut_hint(number: int) -> str:
    return f"✂ Texts cut to fit one Telegram message; /show {number} sends them whole."


def _fit(card: Card, status: str | None) -> tuple[str, list[list[str]]]:
    """The card's HTML within 4,096, and the posts as it shows them. Every post of every
    network is shown; when they are too long together, they are cut evenly (short ones kept
    whole, the long ones share the rest) and one line says so."""
    texts = [[text for text, _ in v.posts()] for v in card.variants]
    body = _card_html(card, status, texts)
    if _plain_len(body) <= MAX_TEXT:
        return body, texts
    hint = cut_hint(card.number)
    # Everything but the texts (a one-character stand-in each, taken off again).
    flat = [(i, j, t) for i, posts in enumerate(texts) for j, t in enumerate(posts)]
    fixed = _plain_len(_card_html(card, status, [["x" for _ in p] for p in texts])) - len(flat)
    room = MAX_TEXT - fixed - tg_len(hint) - 1
    # Share the room fairly: short posts keep all they have, the long ones split the rest.
    caps: dict[tuple[int, int], int] = {}
    order = sorted(flat, key=lambda item: tg_len(item[2]))
    for position, (i, j, text) in enumerate(order):
        share = max(0, room) // (len(order) - position)
        caps[i, j] = min(tg_len(text), share)
        room -= caps[i, j]
    shown = [
        [t if tg_len(t) <= caps[i, j] else cut_text(t, max(1, caps[i, j])) for j, t in enumerate(p)]
        for i, p in enumerate(texts)
    ]
    body = _card_html(card, status, shown) + "\n" + esc(hint)
    if _plain_len(body) > MAX_TEXT:  # warnings or a brief alone too long: cut the tail
        body = esc(cut_text(html.unescape(re.sub(r"<[^>]+>", "", body)), MAX_TEXT))
        shown = [[] for _ in texts]  # no post is sure to be whole now
    return body, shown


def card_html(card: Card, status: str | None = None) -> str:
    """The card as one message; long texts are cut evenly so the whole fits in 4,096."""
    return _fit(card, status if status is not None else card.status)[0]


def whole_texts(card: Card, status: str | None = None) -> list[str]:
    """What `show` sends after a card it had to cut: each network whose texts were cut, with
    every post whole (a message each; long ones are split by the sender)."""
    _, shown = _fit(card, status if status is not None else card.status)
    out = []
    for variant, posts in zip(card.variants, shown, strict=True):
        full = variant.posts()
        if posts == [text for text, _ in full]:
            continue
        lines = [f"{variant.name} in full · {variant.count}"]
        for number, (text, _) in enumerate(full, start=1):
            if len(full) > 1:
                lines.append(post_label(number, len(full), variant.counts()[number - 1]))
            lines.append(text or "(empty)")
        out.append("\n".join(lines))
    return out


def keyboard(
    codec: TokenCodec, chat_id: int, card: Card, *, pick: bool = False
) -> InlineKeyboardMarkup | None:
    """The card's buttons, or (after Edit on a multi-network post) one button per network."""
    if pick:
        rows = [
            [
                InlineKeyboardButton(
                    f"✏️ {v.name}",
                    callback_data=codec.seal(chat_id, Intent("pick", card.number, v.network)),
                )
            ]
            for v in card.variants
            if v.state not in {"published", "cancelled"}
        ]
        back = codec.seal(chat_id, Intent("back", card.number))
        rows.append([InlineKeyboardButton("‹ Back", callback_data=back)])
        return InlineKeyboardMarkup(rows)
    buttons = [
        InlineKeyboardButton(
            # A button about one network keeps its own words ("No, post it", not "Retry").
            b.label if b.value else BUTTON_TEXT.get(b.action, b.label),
            callback_data=codec.seal(chat_id, Intent(b.action, card.number, b.value)),
        )
        for b in card.buttons
    ]
    if not buttons:
        return None
    # The primary action gets a row of its own, the rest share the second.
    return InlineKeyboardMarkup([buttons[:1], buttons[1:]] if len(buttons) > 1 else [buttons])


def prompt(
    codec: TokenCodec, chat_id: int, bot_username: str, intent: Intent, current: str | None
) -> tuple[str, ForceReply]:
    """A ForceReply question whose "#12" links to a sealed token (a reply carries its entities,
    so the answer finds its post, network and card again; no state is kept)."""
    link = PROMPT_LINK.format(bot=bot_username, token=codec.seal(chat_id, intent))
    number = f'<a href="{esc(link)}">#{intent.number}</a>'
    if intent.action == "reject":
        text = f"✖ Why reject {number}? Reply to this message with the reason."
        return text, ForceReply(selective=True, input_field_placeholder="The reason")
    assert intent.network is not None
    network = get_network(intent.network)
    text = (
        f"✏️ New {esc(network.display)} text for {number} ({network.limit_text} at most). "
        "Reply to this message with it."
    )
    if current:
        text += f"\nNow:\n<code>{esc(cut_text(current, 3500))}</code>"
    return text, ForceReply(selective=True, input_field_placeholder=f"{network.display} text")


def prompt_intent(
    codec: TokenCodec, chat_id: int, entities: tuple[MessageEntity, ...]
) -> Intent | None:
    """The sealed intent of a prompt we sent, from the entities of the message replied to."""
    for entity in entities:
        if entity.type == MessageEntity.TEXT_LINK and entity.url and "?start=p" in entity.url:
            return codec.open(chat_id, entity.url.rsplit("?start=p", 1)[1])
    return None


def with_status(card: Card, status: str | None) -> Card:
    return replace(card, status=status) if status else card
