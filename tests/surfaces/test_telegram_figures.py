"""Figures on Telegram (issue 13): a day after a post went out, its +24 h figures are written
on its card (edited in place) and one line replies to the card; the real webhook, a real
worker, the Telegram fake, on both backends. Slack's side: test_slack_figures.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Target
from tests.fakes.telegram import Bot
from tests.support.figures import frozen_clock, readable_outbox

COUNTS = "1,569 impressions · 62 likes · 15 reposts · 10 replies · 5 quotes · 31 clicks"


def test_the_24_hour_figures_reply_to_the_card_and_are_written_on_it(tg: Bot) -> None:
    clock, outbox = frozen_clock(tg.runtime), readable_outbox(tg.runtime)
    ana = tg.fake.private(1111, "Ana", "ana")
    card = tg.published(ana, "Our new API is live")
    with tg.runtime.db.session() as s:
        assert s.scalars(select(Target.id)).one() == 1  # the outbox's figures are target 1's

    clock.advance(timedelta(hours=24))
    assert tg.runtime.herald.collect() == 2  # +1 h and +24 h, both due now
    assert len(outbox.calls) == 1

    line = f"📈 #1 after 24 h on Outbox: {COUNTS} · 123 interactions"
    (reply,) = tg.fake.wait_for(
        lambda: [m for m in tg.fake.sent(ana.chat_id) if m["text"].startswith(line)],
        what="the +24 h line",
    )
    assert reply["reply_to"] == card["message_id"]
    # The same card, edited in place: no second card.
    edited = tg.fake.wait_for(
        lambda: (
            (c := tg.fake.card(ana.chat_id, 1)) and f"📈 after 24 h: {COUNTS}" in c["text"] and c
        ),
        what="the card with its figures",
    )
    assert edited["message_id"] == card["message_id"]
    cards = [m for m in tg.fake.sent(ana.chat_id) if m["text"].startswith("#1 · ")]
    assert len(cards) == 1
