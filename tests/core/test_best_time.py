"""Best time to post through the chat, on both backends with a fake clock: `draft … --at best`
and `schedule <n> best` pick the workspace's historically best free hour (the prior's on an
empty workspace), skip a taken one, give a post for several networks one shared time, and say
why on the card, in the person's zone with UTC."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack.blocks import card_blocks
from bot.telegram.render import card_html
from bot.terminal.render import render_card
from core.posts.card import Message
from core.settings import Settings
from storage.models import Post, Target, TargetState
from tests.support.clock import Clock
from tests.support.helpers import actor, messages, snapshot
from tests.support.platforms import add_account, runtime_with
from tests.unit.analytics.seeding import Seeder

BERLIN = ZoneInfo("Europe/Berlin")
MARIA = actor("maria")
MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
THURSDAY_3PM = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # 15:00 in Berlin
TUESDAY_10AM = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
OFFLINE = "Offline template: set HERALD_LLM_BASE_URL to draft with a model."


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    """Herald with no worker, the workspace in Europe/Berlin, on Monday 30 Nov 09:00 there."""
    runtime = runtime_with(settings, worker=False, timezone="Europe/Berlin")
    runtime.herald.ctx.clock = Clock(MONDAY)
    yield runtime
    runtime.close()


def seed_history(rt: Runtime, network: str = "outbox") -> None:
    """Eight weeks on `network`: Thursdays 15:00 (Berlin) did ten times better than Tuesdays
    09:00, the hour the prior likes best."""
    seed = Seeder(rt.db)
    ws = rt.herald.workspace_of(MARIA)
    for week in range(1, 9):
        thursday = datetime(2026, 11, 26, 15, 0, tzinfo=BERLIN) - timedelta(weeks=week)
        tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN) - timedelta(weeks=week)
        seed.post(ws, thursday, (network, {"impressions": 5000, "likes": 100}))
        seed.post(ws, tuesday, (network, {"impressions": 5000, "likes": 10}))


def ask(rt: Runtime, text: str) -> Message:
    reply = rt.herald.handle(MARIA, text)
    assert not reply.error, reply.text
    return reply


def drafted(rt: Runtime, text: str) -> tuple[Message, int]:
    """Draft, run the generation job, return the reply and the post's number."""
    reply = ask(rt, text)
    assert reply.post_number is not None
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id).where(Post.number == reply.post_number)).one()
    rt.herald.generate(post_id)
    return reply, reply.post_number


def card_of(rt: Runtime, number: int) -> Message:
    return next(m for m in reversed(messages(rt)) if m.card and m.card.number == number)


def note_shown(rt: Runtime, number: int) -> str | None:
    card = ask(rt, f"show {number}").card
    assert card is not None
    return card.note


def planned(rt: Runtime, number: int) -> datetime | None:
    with rt.db.session() as s:
        return s.scalars(select(Post.planned_at).where(Post.number == number)).one()


def test_draft_at_best_picks_the_historically_best_hour(rt: Runtime) -> None:
    seed_history(rt)
    reply, number = drafted(rt, "draft Our API is live --to outbox --at best")
    assert number == 17
    assert reply.text == (
        "Drafting #17 for Outbox for Thu 3 Dec, 15:00 Europe/Berlin (14:00 UTC), "
        "your best hour on Outbox…"
    )
    assert planned(rt, number) == THURSDAY_3PM
    card = card_of(rt, number).card
    assert card is not None
    assert card.when == "Thu 3 Dec, 15:00 Europe/Berlin (14:00 UTC)"
    assert card.note == f"⏰ Best time: Thu 15:00, your best hour on Outbox\n{OFFLINE}"
    # `show` keeps saying why, and approving schedules it for that hour.
    assert note_shown(rt, number) == "⏰ Best time: Thu 15:00, your best hour on Outbox"
    ask(rt, f"approve {number}")
    with rt.db.session() as s:
        (at,) = s.scalars(select(Target.scheduled_at).join(Post).where(Post.number == number))
    assert at == THURSDAY_3PM


def test_an_empty_workspace_gets_the_priors_best_hour(rt: Runtime) -> None:
    reply, number = drafted(rt, 'draft Hello --to outbox --at "best"')
    # Tuesday and Wednesday 09:00-11:00 tie at the top of the prior: the soonest wins.
    assert reply.text == (
        "Drafting #1 for Outbox for Tue 1 Dec, 09:00 Europe/Berlin (08:00 UTC), usually a good "
        "hour on Outbox (too few of your posts there to learn from yet)…"
    )
    card = card_of(rt, number).card
    assert card is not None and card.note is not None
    assert card.note.startswith("⏰ Best time: Tue 09:00, usually a good hour on Outbox")


def test_a_taken_slot_is_skipped(rt: Runtime) -> None:
    seed_history(rt)
    first, _ = drafted(rt, "draft One --to outbox --at best")
    assert first.text is not None and "Thu 3 Dec, 15:00" in first.text
    # The first draft waits for approval at Thursday 15:00: the second gets the best hour left,
    # Tuesday 10:00, not Tuesday 09:00, where the posts did badly.
    second, number = drafted(rt, "draft Two --to outbox --at best")
    assert second.text == (
        "Drafting #18 for Outbox for Tue 1 Dec, 10:00 Europe/Berlin (09:00 UTC), "
        "your best free hour on Outbox…"
    )
    assert planned(rt, number) == TUESDAY_10AM
    # Next would be Wednesday 09:00; a post approved for 09:15 takes it (10:00 is 45 minutes
    # away, free by the `slot` rule).
    drafted(rt, "draft Three --to outbox --at wed 9:15am")
    ask(rt, "approve 19")
    fourth, _ = drafted(rt, "draft Four --to outbox --at best")
    assert fourth.text is not None
    assert "Wed 2 Dec, 10:00 Europe/Berlin (09:00 UTC), your best free hour" in fourth.text


def test_schedule_best_moves_a_post_and_the_card_says_why(rt: Runtime) -> None:
    seed_history(rt)
    _, number = drafted(rt, "draft Later --to outbox --at tomorrow 9am")
    ask(rt, f"approve {number}")
    reply = ask(rt, f"schedule {number} best")
    assert reply.text == (
        "🗓 #17 will go out Thu 3 Dec, 15:00 Europe/Berlin (14:00 UTC), your best hour on Outbox."
    )
    assert reply.card is not None
    assert reply.card.note == "⏰ Best time: Thu 15:00, your best hour on Outbox"
    assert reply.card.when == "Thu 3 Dec, 15:00 Europe/Berlin (14:00 UTC)"
    with rt.db.session() as s:
        (at,) = s.scalars(select(Target.scheduled_at).join(Post).where(Post.number == number))
    assert at == THURSDAY_3PM
    # Moved by hand afterwards, the card no longer claims it is the best hour.
    ask(rt, f"schedule {number} friday 9am")
    assert note_shown(rt, number) is None


def test_the_time_is_shown_in_the_persons_zone_with_utc(rt: Runtime) -> None:
    seed_history(rt)
    ask(rt, "tz America/New_York")
    reply, number = drafted(rt, "draft Our API is live --to outbox --at best")
    # Scored in the workspace's zone (where its audience is), shown in hers.
    assert reply.text == (
        "Drafting #17 for Outbox for Thu 3 Dec, 09:00 America/New_York (14:00 UTC), "
        "your best hour on Outbox…"
    )
    card = card_of(rt, number).card
    assert card is not None
    assert card.when == "Thu 3 Dec, 09:00 America/New_York (14:00 UTC)"
    assert card.note is not None
    assert card.note.startswith("⏰ Best time: Thu 09:00, your best hour on Outbox")


def test_a_post_for_two_networks_gets_one_time_best_for_both(rt: Runtime) -> None:
    add_account(rt, "linkedin", "urn:li:organization:1", "Acme", {"access_token": "t"})
    seed_history(rt, "linkedin")
    alone, _ = drafted(rt, "draft Alone --to linkedin --at best")
    assert alone.text is not None and "Thu 3 Dec, 15:00" in alone.text
    ask(rt, "cancel 17")
    # The outbox has no history: the prior's Tuesday 10:00 is better for the two together
    # than LinkedIn's Thursday 15:00.
    both, number = drafted(rt, "draft Both --to linkedin,outbox --at best")
    assert both.text == (
        "Drafting #18 for LinkedIn and Outbox for Tue 1 Dec, 10:00 Europe/Berlin (09:00 UTC), "
        "your best hour for LinkedIn and Outbox together…"
    )
    ask(rt, f"approve {number}")
    with rt.db.session() as s:
        times = s.scalars(select(Target.scheduled_at).join(Post).where(Post.number == number))
        assert set(times) == {TUESDAY_10AM}


def test_a_week_with_no_free_hour_is_refused_and_changes_nothing(rt: Runtime) -> None:
    ws = rt.herald.workspace_of(MARIA)
    seed = Seeder(rt.db)
    ids = [
        seed.post(ws, MONDAY - timedelta(days=30), ("outbox", None))["outbox"]
        for _ in range(24 * 8)
    ]
    with rt.db.session() as s:  # every hour of the coming week taken by a scheduled post
        for hour, target_id in enumerate(ids):
            target = s.get_one(Target, target_id)
            target.state = TargetState.SCHEDULED
            target.scheduled_at = MONDAY + timedelta(hours=hour)
    before = snapshot(rt)
    reply = rt.herald.handle(MARIA, "draft Too busy --to outbox --at best")
    assert reply.error
    assert reply.text == (
        "Every hour of the coming week already has a post on Outbox within 30 minutes. "
        'Pick a time yourself, e.g. "next monday 9am".'
    )
    assert snapshot(rt) == before


def test_the_reason_shows_on_every_surface(rt: Runtime) -> None:
    seed_history(rt)
    _, number = drafted(rt, "draft Our API is live --to outbox --at best")
    card = card_of(rt, number).card
    assert card is not None
    why = "⏰ Best time: Thu 15:00, your best hour on Outbox"
    slack = json.dumps(card_blocks(card), ensure_ascii=False)
    assert why in slack
    assert f"<i>{why}" in card_html(card)  # Telegram
    screen = io.StringIO()
    render_card(Console(file=screen, width=120, color_system=None), card)  # the terminal
    assert why in screen.getvalue()
