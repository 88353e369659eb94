"""Approval deadlines on a fake clock, on both backends: a pending post with a planned time
reminds its approvers 2 h before, calls the admins 30 min before, and expires unpublished at its
time with a Reschedule button; each once, even with two schedulers ticking at the same instant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.kit import button_line
from bot.runtime import Runtime, build_runtime
from bot.slack.blocks import ACTION_PREFIX, card_blocks
from bot.telegram.render import keyboard
from bot.telegram.tokens import TokenCodec
from bot.terminal.render import choices_of
from core.approvals import deadlines
from core.posts.card import Card, Message
from core.settings import Settings
from storage.models import AuditEvent, Post, Target
from tests.support.clock import Clock
from tests.support.helpers import actor, messages, outbox_files, post_state
from tests.support.platforms import runtime_with

MARIA = actor("maria")
# Monday 7 Dec 2026, 08:00 UTC; the post is planned for 12:00 UTC.
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
PLANNED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def rt(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    runtime = runtime_with(settings, worker=False)
    runtime.herald.ctx.clock = clock
    yield runtime
    runtime.close()


def say(rt: Runtime, text: str, who: Any = MARIA) -> Message:
    reply = rt.herald.handle(who, text)
    assert not reply.error, reply.text
    return reply


def pending_post(rt: Runtime, when: str = "2026-12-07 12:00 UTC") -> None:
    say(rt, f'draft Launch day --to outbox --at "{when}"')
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    assert post_state(rt, 1) == "pending_approval"


def race(rt: Runtime, clock: Clock) -> dict[str, int]:
    """Two schedulers (each its own engine and context, one database) tick at one instant."""
    other = build_runtime(rt.settings)
    other.herald.ctx.clock = clock
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def tick(runtime: Runtime) -> None:
        barrier.wait()
        results.append(deadlines.watch(runtime.herald.ctx))

    try:
        threads = [threading.Thread(target=tick, args=(r,)) for r in (rt, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.close()
    assert len(results) == 2
    return {key: sum(r[key] for r in results) for key in results[0]}


def said(rt: Runtime, start: str) -> list[Message]:
    return [m for m in messages(rt) if (m.text or "").startswith(start)]


def test_reminder_escalation_and_expiry_each_once_with_two_schedulers(
    rt: Runtime, clock: Clock
) -> None:
    pending_post(rt)
    clock.at = PLANNED - timedelta(hours=2, seconds=1)
    assert race(rt, clock)["reminded"] == 0

    clock.at = PLANNED - timedelta(hours=2)
    assert race(rt, clock) == {"reminded": 1, "escalated": 0, "expired": 0, "resumed": 0}
    [reminder] = said(rt, "⏰")
    assert reminder.post_number == 1
    assert "#1 is planned for Mon 7 Dec, 12:00 UTC and still needs approval" in (
        reminder.text or ""
    )
    assert "@maria: approve 1" in (reminder.text or "")
    assert race(rt, clock)["reminded"] == 0  # a later tick: still one

    clock.at = PLANNED - timedelta(minutes=30)
    assert race(rt, clock) == {"reminded": 0, "escalated": 1, "expired": 0, "resumed": 0}
    [escalation] = said(rt, "🚨")
    assert "or it will not be published" in (escalation.text or "")
    assert len(said(rt, "⏰")) == 1

    clock.at = PLANNED
    assert race(rt, clock)["expired"] == 1
    assert race(rt, clock)["expired"] == 0
    assert post_state(rt, 1) == "expired"
    [expiry] = said(rt, "⌛")
    assert "was not approved by Mon 7 Dec, 12:00 UTC, so it was not published" in (
        expiry.text or ""
    )
    assert expiry.card is not None
    assert [b.label for b in expiry.card.buttons] == ["Reschedule", "Edit"]
    assert expiry.card.title.startswith("#1 · Expired")
    # Nothing goes out, and approving is refused with the way forward.
    assert rt.herald.dispatch_due() == 0
    assert outbox_files(rt) == []
    refused = rt.herald.handle(MARIA, "approve 1")
    assert refused.error and "reschedule it first" in (refused.text or "")
    with rt.db.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.post_id.is_not(None)))
        assert list(actions).count("post.expire") == 1


def test_reschedule_brings_it_back_for_approval_and_a_new_reminder(
    rt: Runtime, clock: Clock
) -> None:
    pending_post(rt)
    clock.at = PLANNED + timedelta(minutes=1)
    assert deadlines.watch(rt.herald.ctx)["expired"] == 1
    assert len(said(rt, "⏰")) == 0  # expired, not reminded too late
    reply = say(rt, 'reschedule 1 "2026-12-08 09:00 UTC"')
    assert "#1 is planned for Tue 8 Dec, 09:00 UTC, once approved" in (reply.text or "")
    assert post_state(rt, 1) == "pending_approval"
    clock.at = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    assert deadlines.watch(rt.herald.ctx)["reminded"] == 1
    say(rt, "approve 1")
    clock.at = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    assert deadlines.watch(rt.herald.ctx)["expired"] == 0
    assert rt.herald.dispatch_due() == 1


def test_policy_sets_the_lead_times_and_off_turns_them_off(rt: Runtime, clock: Clock) -> None:
    reply = say(rt, "policy reminder 3h escalate 10m")
    assert "reminder: 3 h before · escalation: 10 min before" in (reply.text or "")
    pending_post(rt)
    clock.at = PLANNED - timedelta(hours=3)
    assert deadlines.watch(rt.herald.ctx)["reminded"] == 1
    clock.at = PLANNED - timedelta(minutes=30)
    assert deadlines.watch(rt.herald.ctx)["escalated"] == 0
    clock.at = PLANNED - timedelta(minutes=10)
    assert deadlines.watch(rt.herald.ctx)["escalated"] == 1
    say(rt, "policy reminder off escalate off")
    assert "reminder: off · escalation: off" in (say(rt, "policy").text or "")
    bad = rt.herald.handle(MARIA, "policy reminder soon")
    assert bad.error and "a lead time from 1m to 7d" in (bad.text or "")
    assert "reminder: off" in (say(rt, "policy").text or "")  # the refusal changed nothing


def test_a_post_approved_in_time_is_neither_escalated_nor_expired(
    rt: Runtime, clock: Clock
) -> None:
    pending_post(rt)
    clock.at = PLANNED - timedelta(hours=1)
    assert deadlines.watch(rt.herald.ctx)["reminded"] == 1
    say(rt, "approve 1")
    clock.at = PLANNED
    assert deadlines.watch(rt.herald.ctx) == {
        "reminded": 0,
        "escalated": 0,
        "expired": 0,
        "resumed": 0,
    }
    assert rt.herald.dispatch_due() == 1
    with rt.db.session() as s:
        assert s.scalars(select(Target.state)).one().value == "queued"


def surfaces_of(card: Card) -> dict[str, list[tuple[str, str]]]:
    """What each surface offers for a card: (label, the grammar line a press runs)."""
    codec = TokenCodec([b"k" * 32])
    markup = keyboard(codec, 42, card)
    assert markup is not None
    telegram = []
    for row in markup.inline_keyboard:
        for b in row:
            intent = codec.open(42, str(b.callback_data))
            assert intent is not None
            telegram.append((b.text, button_line(intent.action, intent.number, intent.network)))
    slack = [
        (e["text"]["text"], button_line(e["action_id"].removeprefix(ACTION_PREFIX), e["value"]))
        for block in card_blocks(card)
        if block["type"] == "actions"
        for e in block["elements"]
    ]
    return {"slack": slack, "telegram": telegram, "terminal": choices_of(card)}


def test_the_reschedule_button_on_slack_telegram_and_the_terminal(
    rt: Runtime, clock: Clock
) -> None:
    pending_post(rt)
    clock.at = PLANNED
    deadlines.watch(rt.herald.ctx)
    [expiry] = said(rt, "⌛")
    assert expiry.card is not None
    offered = surfaces_of(expiry.card)
    for surface in ("slack", "telegram", "terminal"):
        assert offered[surface][0] == ("Reschedule", "reschedule 1"), surface
    # Pressed: back for approval at the best free hour of the coming week.
    reply = say(rt, "reschedule 1")
    assert reply.text and reply.text.startswith("🗓 #1 is planned for")
    assert post_state(rt, 1) == "pending_approval"
    with rt.db.session() as s:
        planned = s.scalars(select(Post.planned_at)).one()
        assert planned is not None and planned > clock.at


def test_a_tick_works_through_every_batch_once(
    rt: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deadlines, "BATCH", 2)
    for n in range(5):
        say(rt, f'draft Idea {n} --to outbox --at "2026-12-07 12:0{n} UTC"')
    with rt.db.session() as s:
        ids = list(s.scalars(select(Post.id).order_by(Post.id)))
    for post_id in ids:
        rt.herald.generate(post_id)
    clock.at = PLANNED - timedelta(hours=1, minutes=50)  # #1 to #5 are all due a reminder
    assert deadlines.watch(rt.herald.ctx)["reminded"] == 5
    # Nothing more is due, and a full batch of posts with nothing due ends the tick.
    assert deadlines.watch(rt.herald.ctx)["reminded"] == 0
    assert len(said(rt, "⏰")) == 5


def expired_post(rt: Runtime, clock: Clock) -> None:
    pending_post(rt)
    clock.at = PLANNED + timedelta(minutes=1)
    assert deadlines.watch(rt.herald.ctx)["expired"] == 1
    assert post_state(rt, 1) == "expired"


def planned_at(rt: Runtime) -> datetime | None:
    with rt.db.session() as s:
        return s.scalars(select(Post.planned_at)).one()


def test_an_edited_expired_post_goes_out_once_approved_not_at_its_passed_time(
    rt: Runtime, clock: Clock
) -> None:
    # Before the fix the edit kept 12:00: the card showed it, the next tick expired the post
    # again, and an approval in between published it at once "(its planned time has passed)".
    expired_post(rt, clock)
    reply = say(rt, "edit 1 outbox Launch day, edited")
    assert reply.card is not None
    assert reply.card.when == "as soon as approved"
    assert reply.card.note == (
        "Its time, Mon 7 Dec, 12:00 UTC, has passed: it goes out as soon as it is approved, "
        "or set one with schedule 1 <when>."
    )
    assert post_state(rt, 1) == "pending_approval"
    assert planned_at(rt) is None
    clock.at = PLANNED + timedelta(hours=1)
    assert deadlines.watch(rt.herald.ctx)["expired"] == 0
    assert post_state(rt, 1) == "pending_approval"
    assert len(said(rt, "⌛")) == 1
    approved = say(rt, "approve 1")
    assert "publishing now" in (approved.text or "")
    assert "passed" not in (approved.text or "")
    assert rt.herald.dispatch_due() == 1


def test_an_edited_expired_post_takes_a_new_time_and_refuses_a_passed_one(
    rt: Runtime, clock: Clock
) -> None:
    expired_post(rt, clock)
    # Still expired: reschedule refuses a time in the past and leaves it as it was.
    refused = rt.herald.handle(MARIA, 'reschedule 1 "2026-12-07 10:00 UTC"')
    assert refused.error and "Pick a time in the future" in (refused.text or "")
    assert post_state(rt, 1) == "expired"
    say(rt, "edit 1 outbox Launch day, edited")
    refused = rt.herald.handle(MARIA, 'schedule 1 "2026-12-07 10:00 UTC"')
    assert refused.error and "Pick a time in the future" in (refused.text or "")
    assert planned_at(rt) is None
    reply = say(rt, 'schedule 1 "2026-12-08 09:00 UTC"')
    assert "#1 is planned for Tue 8 Dec, 09:00 UTC, once approved" in (reply.text or "")
    clock.at = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    assert deadlines.watch(rt.herald.ctx)["reminded"] == 1
    clock.at = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    assert deadlines.watch(rt.herald.ctx)["expired"] == 1


def test_the_passed_time_is_told_in_the_persons_zone(settings: Settings, clock: Clock) -> None:
    runtime = runtime_with(settings, worker=False, timezone="Europe/Berlin")
    runtime.herald.ctx.clock = clock
    try:
        expired_post(runtime, clock)
        reply = say(runtime, "edit 1 outbox Launch day, edited")
        assert reply.card is not None and reply.card.note is not None
        assert reply.card.note.startswith(
            "Its time, Mon 7 Dec, 13:00 Europe/Berlin (12:00 UTC), has passed"
        )
    finally:
        runtime.close()


def test_a_redrafted_expired_post_loses_its_passed_time_too(rt: Runtime, clock: Clock) -> None:
    expired_post(rt, clock)
    reply = say(rt, "regenerate 1")
    assert "Its time, Mon 7 Dec, 12:00 UTC, has passed" in (reply.text or "")
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    assert post_state(rt, 1) == "pending_approval"
    assert planned_at(rt) is None
    assert deadlines.watch(rt.herald.ctx)["expired"] == 0
