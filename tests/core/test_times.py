"""Times in chat, through the grammar on both backends: "now" is the next tick, a zone typed is
echoed back, a repeated hour says which one it took, a phrase for today that has passed is
refused and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.runtime import Runtime
from storage.models import Post
from tests.support.helpers import (
    actor,
    eventually,
    outbox_files,
    post_state,
    snapshot,
    target_states,
)

MARIA = actor("maria")


class FixedClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def planned_at(rt: Runtime, number: int) -> datetime | None:
    with rt.db.session() as s:
        value = s.scalar(select(Post.planned_at).where(Post.number == number))
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def test_schedule_now_publishes_at_the_next_tick(runtime: Runtime) -> None:
    reply = runtime.herald.handle(MARIA, 'draft Later, then now --to outbox --at "tomorrow 9am"')
    assert not reply.error, reply.text
    eventually(lambda: post_state(runtime, 1) == "pending_approval", what="the card")
    runtime.herald.handle(MARIA, "approve 1")
    assert target_states(runtime, 1) == {"outbox": "scheduled"}
    assert outbox_files(runtime) == []

    reply = runtime.herald.handle(MARIA, "schedule 1 now")
    assert not reply.error, reply.text
    assert reply.text == "🗓 #1 goes out now."
    eventually(lambda: target_states(runtime, 1) == {"outbox": "published"}, what="publish")
    assert len(outbox_files(runtime)) == 1
    assert planned_at(runtime, 1) is None


def test_now_before_approval_means_as_soon_as_approved(runtime: Runtime) -> None:
    reply = runtime.herald.handle(MARIA, "draft Right away --to outbox --at now")
    assert not reply.error, reply.text
    assert reply.text == "Drafting #1 for Outbox…"
    eventually(lambda: post_state(runtime, 1) == "pending_approval", what="the card")
    assert planned_at(runtime, 1) is None
    runtime.herald.handle(MARIA, 'schedule 1 "in 2h"')
    reply = runtime.herald.handle(MARIA, "schedule 1 now")
    assert reply.text == "🗓 #1 will go out as soon as it is approved."
    assert planned_at(runtime, 1) is None
    approved = runtime.herald.handle(MARIA, "approve 1")
    assert approved.text == "✅ #1 approved by @maria · publishing now"
    eventually(lambda: target_states(runtime, 1) == {"outbox": "published"}, what="publish")


def test_in_30s_is_scheduled_30_seconds_ahead(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.ctx.clock = FixedClock(datetime(2026, 11, 26, 22, 18, tzinfo=UTC))
    rt.herald.handle(MARIA, "tz Europe/Berlin")
    reply = rt.herald.handle(MARIA, 'draft Soon --to outbox --at "in 30s"')
    assert not reply.error, reply.text
    assert planned_at(rt, 1) == datetime(2026, 11, 26, 22, 18, 30, tzinfo=UTC)


def test_a_typed_zone_and_a_repeated_hour_are_told_in_chat(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.ctx.clock = FixedClock(datetime(2026, 11, 26, 22, 18, tzinfo=UTC))
    rt.herald.handle(MARIA, "tz America/New_York")
    rt.herald.handle(MARIA, "draft Autumn sale --to outbox")
    reply = rt.herald.handle(MARIA, "schedule 1 2027-10-31 02:30 Europe/Berlin")
    assert not reply.error, reply.text
    assert reply.text == (
        "🗓 #1 is planned for Sun 31 Oct 2027, 02:30 Europe/Berlin (00:30 UTC; "
        "Sat 30 Oct 2027, 20:30 America/New_York), once approved. 02:30 comes twice on "
        "Sun 31 Oct 2027 in Europe/Berlin, as the clocks go back: I took the first (CEST, "
        '00:30 UTC). For the second (CET, 01:30 UTC), write "2027-10-31 01:30 UTC".'
    )
    assert planned_at(rt, 1) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    # Asking for the second one, as told, plans the second one.
    rt.herald.handle(MARIA, "schedule 1 2027-10-31 01:30 UTC")
    assert planned_at(rt, 1) == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    # The draft command echoes a typed zone the same way.
    reply = rt.herald.handle(MARIA, 'draft Tokyo launch --to outbox --at "tomorrow 9am Asia/Tokyo"')
    assert reply.text == (
        "Drafting #2 for Outbox for Sat 28 Nov, 09:00 Asia/Tokyo "
        "(00:00 UTC; Fri 27 Nov, 19:00 America/New_York)…"
    )


def test_tonight_when_it_has_passed_is_refused_and_changes_nothing(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.ctx.clock = FixedClock(datetime(2026, 11, 26, 22, 18, tzinfo=UTC))  # 23:18 Berlin
    rt.herald.handle(MARIA, "tz Europe/Berlin")
    rt.herald.handle(MARIA, 'draft Evening news --to outbox --at "tomorrow 9am"')
    before = snapshot(rt)
    reply = rt.herald.handle(MARIA, "schedule 1 tonight")
    assert reply.error
    assert reply.text == (
        'I can\'t schedule #1 for tonight: "tonight" means 20:00 today, and it is already 23:18 '
        'in Europe/Berlin. Pick a later time, e.g. "in 30m", "now" or "tomorrow night".'
    )
    reply = rt.herald.handle(MARIA, "draft More news --to outbox --at end of day")
    assert reply.error
    assert reply.text is not None
    assert reply.text.startswith('I can\'t schedule this post for end of day: "end of day" means')
    assert snapshot(rt) == before
    assert planned_at(rt, 1) == datetime(2026, 11, 27, 8, tzinfo=UTC)
    # Earlier the same day, tonight is tonight.
    rt.herald.ctx.clock = FixedClock(datetime(2026, 11, 26, 10, tzinfo=UTC))
    reply = rt.herald.handle(MARIA, "schedule 1 tonight")
    assert reply.text == (
        "🗓 #1 is planned for Thu 26 Nov, 20:00 Europe/Berlin (19:00 UTC), once approved."
    )
    reply = rt.herald.handle(MARIA, "schedule 1 next week")
    assert reply.text == (
        "🗓 #1 is planned for Mon 30 Nov, 09:00 Europe/Berlin (08:00 UTC), once approved."
    )
