"""User and network text is shown as typed on Telegram and in the terminal: it cannot add
formatting, links or mentions to Herald's messages, nor drive the terminal."""

from __future__ import annotations

import io

from rich.console import Console

from bot.telegram.render import card_html, esc
from bot.terminal.render import render
from core.posts.card import Message
from tests.fakes.telegram import parse_html
from tests.support.helpers import hostile_card

HOSTILE = (
    '<a href="tg://user?id=42">@channel</a> <b>bold</b> &lt;i&gt;typed&lt;/i&gt; '
    "<!here> <@U0LEE0001>"
)
# Clear the screen, retitle the window, a C1 control sequence introducer.
TERMINAL = "\x1b[2J\x1b]0;owned\x07\x9b31m"


def test_user_text_in_a_telegram_card_adds_no_entity() -> None:
    shown, entities = parse_html(card_html(hostile_card(HOSTILE)))
    assert shown.count(HOSTILE) == 10  # every field, exactly as typed
    # Only Herald's own formatting: no link, no mention, no code block from the user's text.
    assert {e["type"] for e in entities} <= {"bold", "italic", "blockquote"}
    text, entities = parse_html(esc(HOSTILE))
    assert (text, entities) == (HOSTILE, [])


def test_user_text_cannot_send_control_sequences_to_the_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    render(console, Message(text=f"Rejected: {TERMINAL}", card=hostile_card(TERMINAL)))
    shown = out.getvalue()
    for sequence in ("\x1b[2J", "\x1b]0;", "\x07", "\x9b"):
        assert sequence not in shown
    # Removed whole (core.sanitize.clean_input), not left behind as "[2J" noise.
    assert "[2J" not in shown and "owned" not in shown
