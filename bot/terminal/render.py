"""Render Herald's messages and cards for a terminal: numbered choices, colour only on a tty."""

from __future__ import annotations

import re

from rich.console import Console
from rich.text import Text

from core.views import Card, Message

STATE_STYLE = {"published": "green", "failed": "red", "scheduled": "cyan"}
# C0 controls but tab and newline, DEL and C1: from a network, a model or another surface they
# could clear the screen, retitle the window or fake output. Rich passes ESC through as is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with control characters shown as symbols (ESC as ␛) instead of obeyed."""
    return _CONTROL.sub(lambda m: "␛" if m[0] == "\x1b" else f"\\x{ord(m[0]):02x}", text)


def _text(text: str, style: str = "") -> Text:
    return Text(visible(text), style=style)


def choices_of(card: Card) -> list[tuple[str, str]]:
    """The card's buttons as (label, command) pairs, numbered from 1 on screen."""
    commands = {
        "approve": f"approve {card.number}",
        "edit": f"edit {card.number}",
        "regenerate": f"regenerate {card.number}",
        "reject": f"reject {card.number}",
        "cancel": f"cancel {card.number}",
        "retry": f"retry {card.number}",
    }
    commands["slot"] = f"slot {card.number}"
    found = [(b.label, commands[b.action]) for b in card.buttons if b.action in commands]
    skips = [(b.label, f"skip {card.number} {b.value}") for b in card.buttons if b.action == "skip"]
    return found + skips


def render_card(console: Console, card: Card) -> None:
    console.print(_text(card.title, style="bold"))
    console.print(_text(f"│ {card.brief}", style="italic dim"))
    for v in card.variants:
        head = Text(f"{v.name} · ", style="bold magenta")
        over = v.length > v.limit
        head.append(f"{v.length:,}/{v.limit:,}", style="red bold" if over else "dim")
        if v.state not in {"draft"}:
            head.append(f" · {v.state}", style=STATE_STYLE.get(v.state, "dim"))
        console.print(head)
        for line in (v.text or "(empty)").splitlines() or [""]:
            console.print(_text(f"  {line}"))
        for item in v.media:
            console.print(_text(f"  {item}", style="dim"))
        for warning in v.warnings:
            console.print(_text(f"  {warning}", style="yellow"))
        if v.url:
            console.print(_text(f"  {v.url}", style="green"))
        if v.reason:
            console.print(_text(f"  ⚠ {v.reason}", style="red"))
    console.print(_text(f"When: {card.when}"))
    if card.status:
        console.print(_text(card.status, style="cyan"))
    if card.note:
        console.print(_text(card.note, style="dim"))
    choices = choices_of(card)
    if choices:
        row = Text()
        for i, (label, _) in enumerate(choices, start=1):
            if i > 1:
                row.append("  ")
            row.append(f"[{i}] {label}", style="bold" if i == 1 else "")
        console.print(row)


def render(console: Console, message: Message) -> None:
    if message.text:
        console.print(_text(message.text, style="red" if message.error else ""))
    if message.card:
        render_card(console, message.card)
