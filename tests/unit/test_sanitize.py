"""Control characters and terminal escapes never get through: not into rows, not onto a screen."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from bot.terminal.render import render
from core.posts.card import Card, Message, VariantView
from core.sanitize import clean_input

HOSTILE = [
    "\x1b[31mred\x1b[0m alert",
    "\x1b]0;owned title\x07alert",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ alert",
    "\x9b31mred alert",
    "bell\x07 back\x08space nul\x00 del\x7f c1\x85\x90 alert",
    "\x1bc reset alert",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_clean_input_strips_controls_and_whole_escape_sequences(text: str) -> None:
    cleaned = clean_input(text)
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in cleaned)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in cleaned)
    assert "[31m" not in cleaned and "[0m" not in cleaned and "]0;" not in cleaned
    assert cleaned.endswith("alert")


def test_clean_input_drops_lone_surrogates_a_database_cannot_store() -> None:
    assert clean_input("lone \ud800 high, \udfff low, 😀 kept") == "lone  high,  low, 😀 kept"


def test_clean_input_keeps_newlines_tabs_and_ordinary_brackets() -> None:
    assert clean_input("a\tb\nc [31m] d") == "a\tb\nc [31m] d"
    assert clean_input("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_the_terminal_card_prints_no_escape_sequence_from_stored_text() -> None:
    # Text already in a row (stored before this fix, or by another path) is cleaned on the way
    # out too: the terminal shows the words, never the colour change or the title rewrite.
    variant = VariantView(
        network="x",
        name="X",
        text="\x1b[31mred\x1b[0m \x1b]0;owned\x07text",
        length=10,
        limit=280,
        unit="characters",
        state="draft",
    )
    card = Card(
        number=1,
        title="#1 · \x1b[2J title",
        brief="brief \x1b[5m",
        variants=[variant],
        when="as soon as approved",
        status="\x1b[1mstatus",
        buttons=[],
    )
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, color_system=None, width=120)
    render(console, Message(text="reply \x1b[31mred", card=card))
    printed = out.getvalue()
    assert "\x1b" not in printed and "[31m" not in printed and "[2J" not in printed
    assert "owned" not in printed
    assert "red text" in printed


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_the_plain_ascii_shortcut_cleans_as_the_full_path_does(text: str) -> None:
    """Plain ASCII skips the regexes (the ack path cleans every field): it must come out as
    the full path would have it, and anything else must take the full path."""
    padded = text + "é"  # never plain ASCII: always the full path
    assert clean_input(text) + "é" == clean_input(padded)
