"""Render Herald's messages and cards for a terminal: numbered choices, colour only on a tty."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from core.views import Card, Message

STATE_STYLE = {"published": "green", "failed": "red", "scheduled": "cyan"}


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
    console.print(Text(card.title, style="bold"))
    console.print(Text(f"│ {card.brief}", style="italic dim"))
    for v in card.variants:
        head = Text(f"{v.name} · ", style="bold magenta")
        over = v.length > v.limit
        head.append(f"{v.length:,}/{v.limit:,}", style="red bold" if over else "dim")
        if v.state not in {"draft"}:
            head.append(f" · {v.state}", style=STATE_STYLE.get(v.state, "dim"))
        console.print(head)
        for line in (v.text or "(empty)").splitlines() or [""]:
            console.print(Text(f"  {line}"))
        for item in v.media:
            console.print(Text(f"  {item}", style="dim"))
        for warning in v.warnings:
            console.print(Text(f"  {warning}", style="yellow"))
        if v.url:
            console.print(Text(f"  {v.url}", style="green"))
        if v.reason:
            console.print(Text(f"  ⚠ {v.reason}", style="red"))
    console.print(Text(f"When: {card.when}"))
    if card.status:
        console.print(Text(card.status, style="cyan"))
    if card.note:
        console.print(Text(card.note, style="dim"))
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
        console.print(Text(message.text, style="red" if message.error else ""))
    if message.card:
        render_card(console, message.card)
