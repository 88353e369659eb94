"""Collecting figures (issue 13): a published post is read back at +1 h, +24 h and +7 d (and
when asked), its card shows the figures, and the +24 h line lands in its thread; a 429 waits
for the network's time, a deleted post is never asked again, a disconnected account is never
called, two ticks read each post once, and a worker dying after its claim only delays.

The network is the outbox, whose figures are made up from the target id and the time since
its file's `published_at` (core.platforms.outbox): target 1 has 101 impressions, 4 likes and
2 clicks at +1 h; 1,569 impressions, 62 likes, 15 reposts, 10 replies, 5 quotes and 31 clicks
at +24 h; 2,480 impressions and 99 likes from +7 d on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.runtime import Runtime
from core.analytics import jobs, schedule
from core.errors import RateLimited, TokenExpired, Transient
from core.jobs import Job
from core.platforms import outbox as outbox_network
from core.ports import Reading
from core.posts.card import ASKING, Message
from core.settings import Settings
from storage.models import ConnectedAccount, Post, Target, TargetState
from storage.models_analytics import LatestFigures, MetricsSnapshot, Milestone, SnapshotDue
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.x import FakeX
from tests.support.clock import Clock
from tests.support.figures import ReadableOutbox, frozen_clock, readable_outbox
from tests.support.helpers import (
    actor,
    eventually,
    messages,
    outbox_files,
    post_state,
    target_states,
)
from tests.support.platforms import approved_and_queued, runtime_with
from tests.unit.analytics.seeding import Seeder

MARIA = actor("maria")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
AT_24H = "1,569 impressions · 62 likes · 15 reposts · 10 replies · 5 quotes · 31 clicks"


@pytest.fixture
def herald(idle_runtime: Runtime) -> tuple[Runtime, Clock, ReadableOutbox]:
    """Herald with no worker, its clock in the test's hands, publishing to the outbox."""
    clock = frozen_clock(idle_runtime)
    return idle_runtime, clock, readable_outbox(idle_runtime)


def published(rt: Runtime) -> int:
    """Post #1, drafted, approved and published to the outbox through the pipeline."""
    target_id = approved_and_queued(rt)
    rt.herald.publish(target_id)
    assert len(outbox_files(rt)) == 1
    assert target_id == 1  # the figures above are target 1's
    return target_id


def snapshots(rt: Runtime, target_id: int) -> list[tuple[Milestone, int, bool]]:
    """(milestone, likes, gone) of each snapshot of the target, oldest first."""
    with rt.db.session() as s:
        rows = s.execute(
            select(MetricsSnapshot.milestone, MetricsSnapshot.likes, MetricsSnapshot.gone)
            .where(MetricsSnapshot.target_id == target_id)
            .order_by(MetricsSnapshot.taken_at, MetricsSnapshot.id)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]


def pending(rt: Runtime, target_id: int) -> dict[Milestone, Any]:
    """Milestone → when it is tried next, for the target's rows not done."""
    with rt.db.session() as s:
        rows = s.execute(
            select(SnapshotDue.milestone, SnapshotDue.next_try_at).where(
                SnapshotDue.target_id == target_id, SnapshotDue.done_at.is_(None)
            )
        ).all()
        return dict(rows)


def published_at(rt: Runtime, target_id: int) -> Any:
    with rt.db.session() as s:
        return s.get_one(Target, target_id).published_at


def shown(rt: Runtime, number: int = 1) -> Message:
    reply = rt.herald.handle(MARIA, f"show {number}")
    assert not reply.error, reply.text
    return reply


def more_posts(rt: Runtime, outbox: ReadableOutbox, count: int, *, measured: bool) -> list[int]:
    """`count` more posts on the outbox, published now, each with its file; `measured`: at
    +24 h ten days ago instead (10, 20, 30 … likes), their own snapshots long collected."""
    ws = rt.herald.workspace_of(MARIA)
    seeder = Seeder(rt.db)
    now = rt.herald.ctx.clock.now()
    when = now - timedelta(days=10) if measured else now
    ids = []
    for n in range(1, count + 1):
        figures = {"likes": 10 * n} if measured else None
        target = seeder.post(ws, when, ("outbox", figures))["outbox"]
        outbox.file_for(f"outbox-{n + 1}", when)  # the seeder's external id: outbox-<number>
        ids.append(target)
    if measured:
        with rt.db.session() as s:
            s.execute(update(SnapshotDue).where(SnapshotDue.target_id.in_(ids)).values(done_at=now))
    return ids


def test_figures_at_one_hour_a_day_and_a_week(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    more_posts(rt, outbox, 5, measured=True)  # 10 … 50 interactions at +24 h: the median 30
    with rt.db.session() as s:
        joined = s.get_one(LatestFigures, target)
        assert (joined.post_number, joined.taken_at, joined.likes) == (1, None, 0)
    assert set(pending(rt, target)) == {Milestone.HOUR, Milestone.DAY, Milestone.WEEK}

    clock.advance(HOUR - timedelta(minutes=1))
    assert rt.herald.collect() == 0
    assert outbox.calls == []  # nothing is due before +1 h

    clock.advance(timedelta(minutes=1))
    said = len(messages(rt))
    assert rt.herald.collect() == 1
    assert outbox.asked() == [target]
    assert snapshots(rt, target) == [(Milestone.HOUR, 4, False)]
    assert len(messages(rt)) == said  # +1 h is kept quietly
    (variant,) = shown(rt).card.variants  # type: ignore[union-attr]
    assert variant.figures == "📈 after 1 h: 101 impressions · 4 likes · 2 clicks"

    clock.advance(DAY - HOUR)
    assert rt.herald.collect() == 1
    assert snapshots(rt, target)[-1] == (Milestone.DAY, 62, False)
    line = messages(rt)[-1]
    assert line.text == (
        f"📈 #1 after 24 h on Outbox: {AT_24H} · 123 interactions, far above your median (4.1×)"
    )
    # The card comes with the line, redrawn with the figures (Slack and Telegram edit it in
    # place, the terminal prints it again).
    assert line.card is not None and line.post_number == 1
    (variant,) = line.card.variants
    assert variant.figures == f"📈 after 24 h: {AT_24H}"

    clock.advance(6 * DAY)
    assert rt.herald.collect() == 1
    assert [m for m, _, _ in snapshots(rt, target)] == [
        Milestone.HOUR,
        Milestone.DAY,
        Milestone.WEEK,
    ]
    assert len(messages(rt)) == said + 1  # only +24 h speaks
    assert pending(rt, target) == {}
    with rt.db.session() as s:
        current = s.get_one(LatestFigures, target)
        assert (current.impressions, current.likes) == (2480, 99)
    clock.advance(30 * DAY)
    assert rt.herald.collect() == 0
    assert outbox.asked() == [target] * 3  # once a milestone, never more


def test_the_first_post_measured_says_so(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    clock.advance(DAY)
    assert rt.herald.collect() == 2  # +1 h and +24 h both due: one read, each recorded
    assert outbox.asked() == [target]
    assert messages(rt)[-1].text == (
        f"📈 #1 after 24 h on Outbox: {AT_24H} · 123 interactions, your first Outbox post "
        "measured at 24 h"
    )


def test_asked_for_figures_are_read_at_once(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, _ = herald
    target = published(rt)
    clock.advance(timedelta(hours=5))
    with rt.herald.ctx.tx() as tx:
        schedule.ask(tx.session, [target], tx.now)
    assert rt.herald.collect() == 2  # the +1 h row, late, and the one asked for
    expected = outbox_network.figures(target, timedelta(hours=5)).likes
    assert sorted(snapshots(rt, target)) == sorted(
        [(Milestone.HOUR, expected, False), (Milestone.DEMAND, expected, False)]
    )
    assert set(pending(rt, target)) == {Milestone.DAY, Milestone.WEEK}


def test_a_429_waits_for_the_networks_time_and_reads_nothing_before(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    clock.advance(HOUR)
    until = clock.now() + timedelta(minutes=40)
    outbox.error = RateLimited("the read limit is used up", until)
    assert rt.herald.collect() == 0
    assert pending(rt, target)[Milestone.HOUR] == until
    outbox.error = None
    for _ in range(3):
        clock.advance(timedelta(minutes=13))  # 39 min: still waiting
        assert rt.herald.collect() == 0
    assert len(outbox.calls) == 1  # only the call that was refused
    clock.advance(timedelta(minutes=1))
    assert rt.herald.collect() == 1
    assert [m for m, _, _ in snapshots(rt, target)] == [Milestone.HOUR]


def test_a_deleted_post_keeps_its_last_figures_and_is_never_asked_again(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    clock.advance(HOUR)
    assert rt.herald.collect() == 1
    for path in outbox.folder.glob("*.json"):  # deleted on the network: a 404 from now on
        path.unlink()
    clock.advance(DAY - HOUR)
    said = len(messages(rt))
    assert rt.herald.collect() == 1
    assert snapshots(rt, target) == [(Milestone.HOUR, 4, False), (Milestone.DAY, 4, True)]
    assert pending(rt, target) == {}
    assert len(messages(rt)) == said  # no +24 h line for a post that is gone
    with rt.db.session() as s:
        current = s.get_one(LatestFigures, target)
        assert (current.gone, current.impressions, current.likes) == (True, 101, 4)
    (variant,) = shown(rt).card.variants  # type: ignore[union-attr]
    assert variant.figures == (
        "🗑 deleted on Outbox; last figures: 101 impressions · 4 likes · 2 clicks"
    )
    for _ in range(2):
        clock.advance(7 * DAY)
        with rt.herald.ctx.tx() as tx:  # even asked for, it is not read again
            schedule.ask(tx.session, [target], tx.now)
        assert rt.herald.collect() == 0
    assert outbox.asked() == [target, target]


def test_a_post_left_out_backs_off_and_is_given_up_after_days(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    (path,) = outbox.folder.glob("*.json")
    path.write_text("{}")  # a file with no publication time: the outbox leaves it out
    due = clock.advance(HOUR)
    waits = []
    for attempt in range(40):
        # Left out of the answer, or the network fails: both back off alike.
        outbox.error = Transient("503 from the network") if attempt % 2 else None
        assert rt.herald.collect() == 0
        later = pending(rt, target).get(Milestone.HOUR)
        if later is None:
            break
        waits.append(later - clock.now())
        clock.at = later
    assert waits[:8] == [timedelta(minutes=m) for m in (5, 10, 20, 40, 80, 160, 320, 360)]
    assert set(waits[7:]) == {jobs.BACKOFF_MAX}
    # Given up, with no snapshot, once the next try would come more than three days late.
    assert Milestone.HOUR not in pending(rt, target)
    assert jobs.GIVE_UP - jobs.BACKOFF_MAX < clock.now() - due <= jobs.GIVE_UP
    assert snapshots(rt, target) == []
    assert target in outbox.asked()


def test_a_refused_token_leaves_the_rows_for_later(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    clock.advance(HOUR)
    outbox.error = TokenExpired("the access token expired; reconnect the account")
    assert rt.herald.collect() == 0
    assert pending(rt, target)[Milestone.HOUR] == clock.now() + jobs.DISCONNECTED_WAIT
    assert snapshots(rt, target) == []


def test_a_worker_dying_after_its_claim_only_delays_by_the_lease(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    rt, clock, outbox = herald
    target = published(rt)
    clock.advance(HOUR)
    with rt.herald.ctx.tx() as tx:  # a tick claimed the row, then its worker died
        assert len(schedule.claim(tx.session, tx.now, jobs.COLLECT_BATCH)) == 1
    assert rt.herald.collect() == 0
    assert outbox.calls == []  # leased to the dead worker
    clock.advance(schedule.LEASE)
    assert rt.herald.collect() == 1
    assert [m for m, _, _ in snapshots(rt, target)] == [Milestone.HOUR]


def test_a_reading_that_outlived_its_lease_is_dropped(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    """A read slower than the lease: meanwhile another tick claimed the row and is reading
    it. The slow reading is not recorded; the row stays the other tick's."""
    rt, clock, outbox = herald
    target = published(rt)
    clock.advance(HOUR)
    slow_read = outbox.read

    def read_while_another_tick_claims(requests: Any) -> dict[int, Reading]:
        answer = slow_read(requests)
        clock.advance(schedule.LEASE)
        with rt.herald.ctx.tx() as tx:  # the other tick's claim
            assert len(schedule.claim(tx.session, tx.now, jobs.COLLECT_BATCH)) == 1
        return answer

    outbox.read = read_while_another_tick_claims  # type: ignore[method-assign]
    assert rt.herald.collect() == 0
    assert snapshots(rt, target) == []
    assert Milestone.HOUR in pending(rt, target)
    # The other tick died too: its lease runs out, and the next tick records a reading once.
    outbox.read = slow_read  # type: ignore[method-assign]
    clock.advance(schedule.LEASE)
    assert rt.herald.collect() == 1
    assert [m for m, _, _ in snapshots(rt, target)] == [Milestone.HOUR]


class Sent:
    """The job queue, remembering what was sent instead of sending it."""

    def __init__(self) -> None:
        self.jobs: list[str] = []

    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        self.jobs.append(task)


def test_a_tick_out_of_time_hands_over_to_the_next(
    herald: tuple[Runtime, Clock, ReadableOutbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, clock, outbox = herald
    published(rt)
    more_posts(rt, outbox, 4, measured=False)
    clock.advance(HOUR)
    monkeypatch.setattr(jobs, "COLLECT_BATCH", 2)
    monkeypatch.setattr(jobs, "COLLECT_SECONDS", 0.0)
    sent = Sent()
    rt.herald.ctx.queue = sent
    assert rt.herald.collect() == 2  # one full batch, then out of time
    assert sent.jobs == [Job.COLLECT]
    assert rt.herald.collect() == 2
    sent.jobs.clear()
    assert rt.herald.collect() == 1  # the last batch was not full: done
    assert sent.jobs == []


# SQLite serialises writers at BEGIN: only PostgreSQL has ticks running at once to race.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_ticks_at_once_read_each_post_once(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    clock = frozen_clock(rt)
    outbox = readable_outbox(rt, delay=0.2)
    targets = [published(rt), *more_posts(rt, outbox, 250, measured=False)]
    clock.advance(HOUR)
    start = threading.Barrier(2)
    recorded: list[int] = []

    def tick() -> None:
        start.wait()
        recorded.append(jobs.collect(rt.herald.ctx))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outbox.asked()) == sorted(targets)  # each read once
    assert sum(recorded) == len(targets) and all(recorded)  # and both ticks did some
    with rt.db.session() as s:
        rows = s.execute(select(MetricsSnapshot.target_id, MetricsSnapshot.milestone)).all()
    assert sorted(rows) == sorted((t, Milestone.HOUR) for t in targets)


# --- a network that needs an account ----------------------------------------------------------


@pytest.fixture
def masto(settings: Settings, fake_mastodon: FakeMastodon) -> Iterator[tuple[Runtime, int]]:
    rt = runtime_with(settings, worker=False)
    yield rt, fake_mastodon.connect(rt)
    rt.close()


def _statuses_read(fake: FakeMastodon) -> int:
    return len([r for r in fake.requests if r.method == "GET" and "/api/v1/statuses" in r.path])


def test_a_connected_account_is_read_through_its_network(
    masto: tuple[Runtime, int], fake_mastodon: FakeMastodon
) -> None:
    rt, _ = masto
    clock = frozen_clock(rt)
    target = approved_and_queued(rt, "mastodon")
    rt.herald.publish(target)
    (status,) = fake_mastodon.statuses
    fake_mastodon.react(status["id"], favourites_count=9, reblogs_count=2)
    clock.advance(HOUR)
    assert rt.herald.collect() == 1
    assert _statuses_read(fake_mastodon) == 1
    with rt.db.session() as s:
        current = s.get_one(LatestFigures, target)
        assert (current.likes, current.reposts, current.impressions) == (9, 2, None)


def test_x_is_read_through_its_api(settings: Settings, fake_x: FakeX) -> None:
    rt = runtime_with(settings, worker=False, **fake_x.herald_settings(), x_client_id="herald")
    try:
        fake_x.connect(rt)
        clock = frozen_clock(rt)
        target = approved_and_queued(rt, "x")
        rt.herald.publish(target)
        (post,) = fake_x.posts
        fake_x.figures[post["id"]] = {
            "like_count": 38,
            "retweet_count": 3,
            "reply_count": 1,
            "impression_count": 1204,
            "user_profile_clicks": 2,
        }
        clock.advance(HOUR)
        assert rt.herald.collect() == 1
        assert [seen.args["ids"] for seen in fake_x.seen("/2/tweets", "GET")] == [post["id"]]
        assert fake_x.schema_errors == []
        (variant,) = shown(rt).card.variants  # type: ignore[union-attr]
        assert variant.figures == (
            "📈 after 1 h: 1,204 impressions · 38 likes · 3 reposts · 1 reply · 2 clicks"
        )
    finally:
        rt.close()


@pytest.mark.parametrize("status", ["revoked", "expired", None])
def test_a_disconnected_account_is_never_called(
    masto: tuple[Runtime, int], fake_mastodon: FakeMastodon, status: str | None
) -> None:
    rt, account = masto
    clock = frozen_clock(rt)
    target = approved_and_queued(rt, "mastodon")
    rt.herald.publish(target)
    assert len(fake_mastodon.statuses) == 1
    with rt.db.session() as s:
        if status is None:  # disconnected: the account is gone
            s.delete(s.get_one(ConnectedAccount, account))
        else:  # as the network or the health check left it
            s.execute(
                update(ConnectedAccount).where(ConnectedAccount.id == account).values(status=status)
            )
    asked = len(fake_mastodon.requests)
    clock.advance(HOUR)
    assert rt.herald.collect() == 0
    assert len(fake_mastodon.requests) == asked  # not one request
    waiting = pending(rt, target)
    assert waiting[Milestone.HOUR] == clock.now() + jobs.DISCONNECTED_WAIT
    assert waiting[Milestone.DAY] == published_at(rt, target) + DAY  # not due: untouched
    clock.advance(jobs.DISCONNECTED_WAIT - timedelta(minutes=1))
    assert rt.herald.collect() == 0
    assert len(fake_mastodon.requests) == asked


def test_a_post_said_to_be_up_joins_the_figures_without_being_read(
    herald: tuple[Runtime, Clock, ReadableOutbox],
) -> None:
    """`posted`: a person confirms a post Herald could not check; it has no id to ask by."""
    rt, clock, outbox = herald
    target = approved_and_queued(rt)
    with rt.db.session() as s:
        assert s.scalars(select(Post.number)).one() == 1
        s.execute(  # as reconciliation leaves a post it could not check
            update(Target)
            .where(Target.id == target)
            .values(state=TargetState.FAILED, warnings={ASKING: True})
        )
    reply = rt.herald.handle(MARIA, "posted 1 outbox https://example.com/p/1")
    assert not reply.error, reply.text
    with rt.db.session() as s:
        assert s.get_one(LatestFigures, target).published_at == clock.now()
    clock.advance(DAY)
    assert rt.herald.collect() == 0
    assert outbox.calls == []
    assert pending(rt, target) == {Milestone.WEEK: published_at(rt, target) + 7 * DAY}


def test_stats_for_a_post_sends_a_tick_so_its_figures_come_before_the_beat(
    settings: Settings,
) -> None:
    """With a real worker whose beat would not tick for an hour, `stats 1` still brings its
    figures: the answer sends a collection tick of its own."""
    rt = runtime_with(settings, collect_seconds=3600.0)
    try:
        rt.herald.handle(MARIA, "draft Figures on request --to outbox")
        eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card")
        assert rt.herald.handle(MARIA, "approve 1").text.startswith("✅")  # type: ignore[union-attr]
        eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, what="the publish")
        with rt.db.session() as s:
            target = s.scalars(select(Target.id)).one()
        assert snapshots(rt, target) == []
        asked = rt.herald.handle(MARIA, "stats 1")
        assert "they usually come in within a minute" in (asked.text or "")
        eventually(lambda: snapshots(rt, target), timeout=15.0, what="the figures asked for")
        assert [milestone for milestone, _, _ in snapshots(rt, target)] == [Milestone.DEMAND]
        assert "  on request: " in (rt.herald.handle(MARIA, "stats 1").text or "")
    finally:
        rt.close()
