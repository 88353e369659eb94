"""A published network's figures line on the card, on every surface: Slack's blocks, Telegram's
HTML and the terminal, escaped as the rest of the card is."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from bot.slack.blocks import card_blocks
from bot.telegram.render import card_html
from bot.terminal.render import render_card
from core.posts.card import Card, Message, VariantView

FIGURES = "📈 after 24 h: 1,204 impressions · 38 likes <b>"
CARD = Card(
    number=12,
    title="#12 · Draft by @maria · for X",
    brief="Launch",
    variants=[
        VariantView(
            "x",
            "X",
            "Our API is live",
            15,
            280,
            "characters",
            "published",
            url="https://x.com/acme/status/1",
            figures=FIGURES,
        )
    ],
    when="as soon as approved",
    status=None,
    buttons=[],
)


def test_every_surface_shows_the_figures_line() -> None:
    slack = str(card_blocks(CARD))
    assert "📈 after 24 h: 1,204 impressions · 38 likes &lt;b&gt;" in slack
    assert "📈 after 24 h: 1,204 impressions · 38 likes &lt;b&gt;" in card_html(CARD)
    out = io.StringIO()
    render_card(Console(file=out, width=120, color_system=None), CARD)
    assert f"  {FIGURES}" in out.getvalue().splitlines()


def test_a_card_without_figures_shows_no_line_and_old_payloads_still_load() -> None:
    bare = replace(CARD, variants=[replace(CARD.variants[0], figures=None)])
    assert "📈" not in str(card_blocks(bare)) and "📈" not in card_html(bare)
    payload = Message(card=CARD).to_payload()
    del payload["card"]["variants"][0]["figures"]  # stored before cards had figures
    loaded = Message.from_payload(payload)
    assert loaded.card is not None and loaded.card.variants[0].figures is None
