"""The snapshot schedule: +1 h, +24 h and +7 d planned once at publication; a tick claims what
is due, soonest first, and two ticks never claim the same row."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from core.analytics import schedule
from storage.db import Database
from storage.models_analytics import Milestone, SnapshotDue
from tests.unit.analytics.seeding import Seeder

PUBLISHED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _published(seed: Seeder, count: int) -> list[int]:
    ws = seed.workspace()
    return [seed.post(ws, PUBLISHED, ("x", None))["x"] for _ in range(count)]


def test_plan_schedules_each_milestone_once(db: Database, seed: Seeder) -> None:
    (target,) = _published(seed, 1)
    for _ in range(2):
        with db.session() as s:
            schedule.plan(s, target, PUBLISHED)
    with db.session() as s:
        rows = s.query(SnapshotDue).order_by(SnapshotDue.due_at).all()
        assert [(r.milestone, r.due_at - PUBLISHED) for r in rows] == [
            (Milestone.HOUR, timedelta(hours=1)),
            (Milestone.DAY, timedelta(days=1)),
            (Milestone.WEEK, timedelta(days=7)),
        ]


def test_claim_takes_what_is_due_and_leases_it(db: Database, seed: Seeder) -> None:
    targets = _published(seed, 3)
    with db.session() as s:
        for target in targets:
            schedule.plan(s, target, PUBLISHED)

    just_after_1h = PUBLISHED + timedelta(hours=1, minutes=1)
    with db.session() as s:
        assert schedule.claim(s, PUBLISHED + timedelta(minutes=59), 10) == []
        claimed = schedule.claim(s, just_after_1h, 2)
        assert [(r.target_id, r.milestone) for r in claimed] == [
            (targets[0], Milestone.HOUR),
            (targets[1], Milestone.HOUR),
        ]
    with db.session() as s:
        (third,) = schedule.claim(s, just_after_1h, 10)
        assert third.target_id == targets[2]
        # Leased: not claimed again until the lease runs out, then claimed as a second attempt.
        assert schedule.claim(s, just_after_1h + timedelta(minutes=5), 10) == []
    with db.session() as s:
        again = schedule.claim(s, just_after_1h + schedule.LEASE, 10)
        assert {r.target_id for r in again} == set(targets)
        assert {r.attempts for r in again} == {2}


# SQLite serialises writers at BEGIN: only PostgreSQL has concurrent claims to race.
@pytest.mark.parametrize("backend", ["postgres"])
def test_two_ticks_claim_disjoint_rows(db: Database, seed: Seeder) -> None:
    targets = _published(seed, 20)
    with db.session() as s:
        for target in targets:
            schedule.plan(s, target, PUBLISHED)
    now = PUBLISHED + timedelta(hours=2)
    first_holds = threading.Event()
    second_done = threading.Event()
    got: dict[str, list[int]] = {}

    def first() -> None:
        with db.session() as s:
            got["first"] = [r.id for r in schedule.claim(s, now, 12)]
            first_holds.set()
            second_done.wait(10)  # keep the row locks while the other tick claims

    def second() -> None:
        first_holds.wait(10)
        with db.session() as s:
            got["second"] = [r.id for r in schedule.claim(s, now, 12)]
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(got["first"]) == 12 and len(got["second"]) == 8
    assert not set(got["first"]) & set(got["second"])
