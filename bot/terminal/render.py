"""Render Herald's messages and cards for a terminal: numbered choices, colour only on a tty."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from bot.kit import ASKING_ACTIONS, QUICK_ACTIONS, button_line
from core.posts.card import Attachment, Card, Message
from core.sanitize import clean_input

STATE_STYLE = {"published": "green", "failed": "red", "scheduled": "cyan"}


def choices_of(card: Card) -> list[tuple[str, str]]:
    """The card's buttons as (label, command) pairs, numbered from 1 on screen."""
    return [
        (b.label, button_line(b.action, card.number, b.value))
        for b in card.buttons
        if b.action in QUICK_ACTIONS | ASKING_ACTIONS
    ]


def _line(text: str, style: str = "") -> Text:
    # Stored text may predate cleaning or come from a model: no escape sequence reaches a tty.
    return Text(clean_input(text), style=style)


def render_card(console: Console, card: Card) -> None:
    console.print(_line(card.title, style="bold"))
    console.print(_line(f"│ {card.brief}", style="italic dim"))
    for v in card.variants:
        head = _line(f"{v.name} · ", style="bold magenta")
        head.append(v.count, style="red bold" if v.over else "dim")
        if v.state not in {"draft"}:
            head.append(f" · {v.state}", style=STATE_STYLE.get(v.state, "dim"))
        console.print(head)
        posts, counts = v.posts(), v.counts()
        for number, (text, length) in enumerate(posts, start=1):
            if len(posts) > 1:  # a thread: every post an approval publishes, each counted
                mark = _line(f"  ─ post {number} of {len(posts)} · ", style="dim")
                over = length > v.limit
                mark.append(counts[number - 1], style="red bold" if over else "dim")
                console.print(mark)
            for line in (text or "(empty)").splitlines() or [""]:
                console.print(_line(f"  {line}"))
        for item in v.media:
            console.print(_line(f"  {item}", style="dim"))
        for warning in v.warnings:
            console.print(_line(f"  {warning}", style="yellow"))
        if v.url:
            console.print(_line(f"  {v.url}", style="green"))
        if v.figures:
            console.print(_line(f"  {v.figures}", style="cyan"))
        if v.reason:
            console.print(_line(f"  ⚠ {v.reason}", style="red"))
    console.print(_line(f"When: {card.when}"))
    if card.status:
        console.print(_line(card.status, style="cyan"))
    if card.note:
        console.print(_line(card.note, style="dim"))
    choices = choices_of(card)
    if choices:
        row = Text()
        for i, (label, _) in enumerate(choices, start=1):
            if i > 1:
                row.append("  ")
            row.append(f"[{i}] {label}", style="bold" if i == 1 else "")
        console.print(row)


def render(console: Console, message: Message) -> None:
    """The card first, then the text that goes with it (a post's history), as Telegram does."""
    if message.card:
        render_card(console, message.card)
    if message.text:
        console.print(_line(message.text, style="red" if message.error else ""))


def render_file(console: Console, attachment: Attachment, path: Path) -> None:
    """One file Herald sent, saved: its title and its full path (to open or copy)."""
    label = attachment.title or attachment.name
    line = _line(f"📎 {label}: ")
    line.append(str(path), style="green")
    console.print(line)
