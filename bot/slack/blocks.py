"""Block Kit for Herald: the approval card, plain messages, help, the Edit and Reject modals,
and the validator every outgoing payload must pass (including limits slack_sdk leaves out)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from core import registry
from core.posts.card import Card, Message, VariantView

ACTION_PREFIX = "herald_"
EDIT_VIEW = "herald_edit"
REJECT_VIEW = "herald_reject"
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_MESSAGE_TEXT = 40_000
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_REASON = 500

Blocks = list[dict[str, Any]]


class InvalidBlocks(ValueError):
    """A payload Slack would refuse (or silently cut)."""


def escape(text: str) -> str:
    """Slack reads &, < and > as markup in mrkdwn and in a message's top-level `text`
    (`<!channel>`, `<@U…>`, `<url|label>`): escaped, user text is shown as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """`<url|label>` for a URL a network sent back: only http(s), and the characters that
    would end the URL or the link (`|`, `>`, `<`, spaces) percent-encoded; else plain text."""
    if urlsplit(url).scheme.lower() not in {"http", "https"}:
        return escape(label)
    target = quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")
    return f"<{escape(target)}|{escape(label)}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escaped_cut(text: str, limit: int) -> str:
    """`text` escaped within `limit`, cut between characters, never inside an entity."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    kept: list[str] = []
    total = 0
    for char in text:
        piece = escape(char)
        if total + len(piece) > limit - 1:
            break
        kept.append(piece)
        total += len(piece)
    return "".join(kept) + "…"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION_TEXT)}}


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _cut(t, MAX_FIELD_TEXT)} for t in texts[:10]],
    }


def text_blocks(text: str) -> Blocks:
    """A long text as sections of at most 3,000 characters, split at line ends."""
    chunks: list[str] = []
    current = ""
    for line in escape(text).splitlines() or [""]:
        if current and len(current) + len(line) + 1 > MAX_SECTION_TEXT:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    chunks.append(current or " ")
    return [_mrkdwn(c) for c in chunks[:MAX_BLOCKS]]


def _post_section(text: str) -> dict[str, Any]:
    # plain_text shows the post exactly as it will be published, no markup applied.
    return {"type": "section", "text": {"type": "plain_text", "text": _cut(text, MAX_SECTION_TEXT)}}


def _thread_blocks(parts: list[str], room: int) -> Blocks:
    """A thread's later posts in at most `room` blocks: a section each when there is room;
    else several to a section, a blank line between; else what fits, and how many do not."""
    if len(parts) <= room:
        return [_post_section(p or "(empty)") for p in parts]
    packed: list[tuple[str, int]] = []  # a section's text and how many posts it holds
    for part in parts:
        text = part or "(empty)"
        if packed and len(packed[-1][0]) + 2 + len(text) <= MAX_SECTION_TEXT:
            packed[-1] = (f"{packed[-1][0]}\n\n{text}", packed[-1][1] + 1)
        else:
            packed.append((text, 1))
    if len(packed) <= room:
        return [_post_section(text) for text, _ in packed]
    shown = packed[: max(0, room - 1)]
    hidden = len(parts) - sum(count for _, count in shown)
    more = "post" if hidden == 1 else "posts"
    return [
        *(_post_section(text) for text, _ in shown),
        _context(
            f"⚠ …and {hidden} more {more} of this thread that do not fit in one Slack message, "
            "not shown here. Approving publishes them too; Edit replaces the whole thread "
            "with one post."
        ),
    ]


def _variant_blocks(v: VariantView, room: int = 0) -> Blocks:
    """One network's part of the card; `room`: how many blocks a thread's later posts may take."""
    # No room for a line over each post of a thread: the header counts them all, in order.
    each = f": {' · '.join(v.counts())}" if v.parts else ""
    count = f"{v.count}{each} {v.unit}" + (" ⚠ too long" if v.over else "")
    state = "" if v.state == "draft" else f" · {v.state}"
    blocks: Blocks = [
        _context(f"*{escape(v.name)}* · {count}{state}"),
        _post_section(v.text or "(empty)"),
        *_thread_blocks(v.parts, room),
    ]
    # A context block holds 10 elements: where it went, its figures and why it failed come
    # first, so a post with many media items and warnings never loses them.
    notes = []
    if v.url:
        notes.append(f"🚀 {link(v.url, v.url)}")
    if v.figures:
        notes.append(escape(v.figures))
    if v.reason:
        notes.append(f"⚠ {escape(v.reason)}")
    notes += [escape(m) for m in v.media] + [escape(w) for w in v.warnings]
    if notes:
        blocks.append(_context(*notes))
    return blocks


def _thread_room(variants: list[VariantView], budget: int) -> list[int]:
    """Blocks for each variant's later posts: what the first posts, headers and notes leave of
    `budget`, given to the threads in order, so no network is pushed off the card."""
    left = budget - sum(len(_variant_blocks(v)) - (1 if v.parts else 0) for v in variants)
    rooms = []
    for v in variants:
        room = max(0, min(len(v.parts), left))
        rooms.append(room)
        left -= room
    return rooms


def button_value(card: Card, action: str, value: str | None) -> str:
    """Only the post number and the action's own argument: permissions come from the user id."""
    return f"{card.number} {value}" if value else str(card.number)


def card_blocks(card: Card, *, status: str | None = None) -> Blocks:
    """The approval card, in the order of UX.md: title, brief, networks, when, status, buttons."""
    blocks: Blocks = [
        _mrkdwn(f"*{escape(card.title)}*"),
        _context(f"> {escape(card.brief)}"),
    ]
    budget = MAX_BLOCKS - 6
    for v, room in zip(card.variants, _thread_room(card.variants, budget), strict=True):
        more = _variant_blocks(v, room)
        if len(more) > budget:
            break
        blocks.extend(more)
        budget -= len(more)
    blocks.append(_context(f"🗓 When: {escape(card.when)}"))
    line = status or card.status
    if line:
        blocks.append(_mrkdwn(escape(line)))
    if card.note:
        blocks.append(_context(escape(card.note)))
    if card.buttons:
        elements = []
        for b in card.buttons[:MAX_ACTIONS]:
            element: dict[str, Any] = {
                "type": "button",
                "action_id": ACTION_PREFIX + b.action + (f"_{b.value}" if b.value else ""),
                "text": {"type": "plain_text", "text": _cut(b.label, 75)},
                "value": button_value(card, b.action, b.value),
            }
            if b.style in {"primary", "danger"}:
                element["style"] = b.style
            elements.append(element)
        blocks.append({"type": "actions", "block_id": f"card_{card.number}", "elements": elements})
    return blocks


def card_fallback(card: Card, status: str | None = None) -> str:
    """The notification text (and what screen readers and old clients show)."""
    line = status or card.status
    return escaped_cut(f"{card.title} · {line}" if line else card.title, 3000)


def message_payload(message: Message) -> dict[str, Any]:
    """`text` and `blocks` for chat.postMessage / an ack / respond."""
    if message.card is not None:
        blocks = card_blocks(message.card)
        if message.text:  # after the card, as on Telegram and the terminal
            blocks = blocks + text_blocks(message.text)[: MAX_BLOCKS - len(blocks)]
        return {"text": card_fallback(message.card), "blocks": blocks}
    text = message.text or ""
    return {"text": escaped_cut(text, MAX_MESSAGE_TEXT), "blocks": text_blocks(text)}


def help_blocks(command: str = "/herald") -> Blocks:
    """`/herald help`: every command with its one-line summary, grouped into few sections."""
    lines = [
        f"`{command} {escape(spec.usage)}`\n{escape(spec.summary)}"
        for spec in registry.commands().specs
    ]
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Herald commands"}},
        _context("Type them after /herald, mention me, or write to me directly."),
    ]
    section = ""
    for line in lines:
        if section and len(section) + len(line) + 2 > MAX_SECTION_TEXT:
            blocks.append(_mrkdwn(section))
            section = ""
        section = f"{section}\n\n{line}" if section else line
    if section:
        blocks.append(_mrkdwn(section))
    blocks.append(
        _context(
            'Times: "in 2h", "tomorrow 9am", "next monday 14:30", '
            '"2026-12-01 09:00 Europe/Berlin". '
            "Free text works too: “post about our launch on LinkedIn tomorrow morning”."
        )
    )
    return blocks


# --- modals ------------------------------------------------------------------------------


def _title(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, 24)}


def metadata(number: int, channel: str | None, ts: str | None) -> str:
    return json.dumps({"n": number, "c": channel, "ts": ts})


def edit_view(card: Card, *, channel: str | None, ts: str | None) -> dict[str, Any]:
    """One field per network that can still change, prefilled with its current text."""
    blocks: Blocks = [_context(f"> {escape(card.brief)}")]
    for v in card.variants:
        if v.state in {"published", "cancelled"}:
            continue
        blocks.append(
            {
                "type": "input",
                "block_id": f"net_{v.network}",
                "label": {
                    "type": "plain_text",
                    "text": _cut(f"{v.name} (up to {v.limit:,} {v.unit})", 2000),
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "initial_value": v.text,
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": metadata(card.number, channel, ts),
        "title": _title(f"Edit #{card.number}"),
        "submit": _title("Save"),
        "close": _title("Cancel"),
        "blocks": blocks[:MAX_VIEW_BLOCKS],
    }


def reject_view(number: int, *, channel: str | None, ts: str | None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": metadata(number, channel, ts),
        "title": _title(f"Reject #{number}"),
        "submit": _title("Reject"),
        "close": _title("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why? The author sees this."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": MAX_REASON,
                    "placeholder": {"type": "plain_text", "text": "e.g. too salesy"},
                },
            }
        ],
    }


# --- validation --------------------------------------------------------------------------


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk(item))
    return found


def _check_blocks(blocks: Blocks, max_blocks: int) -> None:
    if len(blocks) > max_blocks:
        raise InvalidBlocks(f"{len(blocks)} blocks; Slack takes at most {max_blocks}")
    for parsed in Block.parse_all(blocks):
        parsed.to_dict()  # slack_sdk raises SlackObjectFormationError on its own limits
    action_ids: list[str] = []
    for block in blocks:
        if block.get("type") == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(text) > MAX_SECTION_TEXT:
                raise InvalidBlocks(f"section text of {len(text)} characters")
            fields = block.get("fields") or []
            if len(fields) > 10:
                raise InvalidBlocks(f"section with {len(fields)} fields")
            for f in fields:
                if len(f.get("text", "")) > MAX_FIELD_TEXT:
                    raise InvalidBlocks(f"section field of {len(f['text'])} characters")
        if block.get("type") == "actions" and len(block.get("elements", [])) > MAX_ACTIONS:
            raise InvalidBlocks("more than 25 elements in an actions block")
        for node in _walk(block):
            if node.get("type") == "button" and len(node.get("value", "")) > MAX_BUTTON_VALUE:
                raise InvalidBlocks("button value over 2,000 characters")
            if "action_id" in node:
                action_ids.append(node["action_id"])
    if len(action_ids) != len(set(action_ids)):
        raise InvalidBlocks(f"action_ids repeat: {action_ids}")


def validate_message(payload: dict[str, Any]) -> None:
    """Raise `InvalidBlocks` unless Slack would accept this message as it is."""
    text = payload.get("text") or ""
    if len(text) > MAX_MESSAGE_TEXT:
        raise InvalidBlocks(f"message text of {len(text)} characters")
    blocks = payload.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if blocks:
        _check_blocks(blocks, MAX_BLOCKS)
    elif not text:
        raise InvalidBlocks("a message needs text or blocks")


def validate_view(view: dict[str, Any] | str) -> None:
    data = json.loads(view) if isinstance(view, str) else view
    View(**data).validate_json()
    _check_blocks(data.get("blocks", []), MAX_VIEW_BLOCKS)
