"""Figures on Slack (issue 13): a day after a post went out, its +24 h figures land in its
card's thread and the card is redrawn in place with them; real signed requests through
`herald web`, a real worker, the Slack fake, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.slack.blocks import validate_message
from bot.web.app import create_app
from core.settings import Settings
from storage.models import Target
from tests.fakes.slack import (
    LEE,
    MARIA,
    NAMES,
    FakeSlack,
    card_message,
    click,
    dumps,
    slack_settings,
    slash,
    texts,
)
from tests.support.clock import Clock
from tests.support.figures import ReadableOutbox, frozen_clock, readable_outbox
from tests.support.helpers import eventually, target_states
from workers.app import EmbeddedWorker


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    for user, name in ((MARIA, "maria"), (LEE, "lee")):
        slack.add_user(user, name)
    yield slack
    slack.close()
    assert slack.invalid == []
    for call in slack.calls:
        if call.method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            validate_message(call.body)


@pytest.fixture
def web(
    settings: Settings, fake: FakeSlack
) -> Iterator[tuple[Runtime, TestClient, Clock, ReadableOutbox]]:
    rt = build_runtime(slack_settings(settings, fake))
    clock, outbox = frozen_clock(rt), readable_outbox(rt)
    worker = EmbeddedWorker(rt.celery, rt.settings)
    worker.start()
    rt.embedded = worker
    with TestClient(create_app(rt)) as client:
        yield rt, client, clock, outbox
    rt.close()


def say(client: TestClient, fake: FakeSlack, text: str, user: str = MARIA) -> str:
    """`/herald <text>`, acked at once; the worker's private answer."""
    before = len(texts(fake, "chat.postEphemeral", user=user))
    body, headers = slash(text, user=user, user_name=NAMES[user])
    assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    return eventually(
        lambda: texts(fake, "chat.postEphemeral", user=user)[before:], what=f"the answer to {text}"
    )[0]


def test_the_24_hour_figures_land_in_the_cards_thread(
    web: tuple[Runtime, TestClient, Clock, ReadableOutbox], fake: FakeSlack
) -> None:
    rt, client, clock, outbox = web
    assert "is now" in say(client, fake, f"role <@{LEE}|lee> approver")
    assert "Drafting #1" in say(client, fake, "draft Our public API is live --to outbox")
    channel, ts = card_message(fake, 1)
    body, headers = click(fake, "herald_approve", "1", user=LEE, channel=channel, ts=ts)
    assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, what="publish")
    with rt.db.session() as s:
        assert s.scalars(select(Target.id)).one() == 1  # the outbox's figures are target 1's

    clock.advance(timedelta(hours=24))
    assert rt.herald.collect() == 2  # +1 h and +24 h, both due now
    assert len(outbox.calls) == 1

    counts = "1,569 impressions · 62 likes · 15 reposts · 10 replies · 5 quotes · 31 clicks"
    line = f"📈 #1 after 24 h on Outbox: {counts} · 123 interactions"

    def in_thread() -> list[str]:
        return [
            dumps(call.body)
            for call in fake.named("chat.postMessage")
            if call.body.get("thread_ts") == ts and line in dumps(call.body)
        ]

    (reply,) = eventually(in_thread, what="the +24 h line in the card's thread")
    assert f'"channel": "{channel}"' in reply
    figures = f"📈 after 24 h: {counts}"
    redrawn = [c for c in fake.named("chat.update") if c.body["ts"] == ts]
    assert figures in dumps(redrawn[-1].body["blocks"])  # the same card, edited in place
    cards = [m for m in fake.messages.values() if "#1 · " in dumps(m.get("blocks") or [])]
    assert len(cards) == 1  # no second card
