"""Best time to post: the workspace's own best hour wins once history shows it, the prior
decides on an empty workspace, and the `slot` rule keeps posts 30 minutes apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.analytics import best_time, queries
from core.analytics.figures import TargetFigures
from storage.db import Database
from tests.unit.analytics.seeding import Seeder

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def history(db: Database, seed: Seeder) -> list[TargetFigures]:
    """Eight weeks of LinkedIn: Thursdays 15:00 (Berlin) did ten times better than Tuesdays
    09:00, the hour the prior likes best. Local times: the weeks span the end of summer time."""
    ws = seed.workspace()
    for week in range(1, 9):
        thursday = datetime(2026, 11, 26, 15, 0, tzinfo=BERLIN) - timedelta(weeks=week)
        tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN) - timedelta(weeks=week)
        seed.post(ws, thursday, ("linkedin", {"impressions": 5000, "likes": 100}))
        seed.post(ws, tuesday, ("linkedin", {"impressions": 5000, "likes": 10}))
    with db.session() as s:
        return queries.published(s, ws, MONDAY - timedelta(days=90), MONDAY)


def test_the_historically_best_hour_wins(db: Database, seed: Seeder) -> None:
    scored = best_time.hours(history(db, seed), "linkedin", BERLIN)
    assert scored.history == 16
    assert scored.best() == (3, 15)  # Thursday, 15:00
    # The prior alone would have picked Tuesday 09:00; the history pulled it down.
    assert scored.cells[1, 9].estimate < best_time.prior("linkedin", 1, 9)

    slot = best_time.best_slot(scored, MONDAY, [], BERLIN)
    assert slot is not None
    assert slot.at == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert slot.reason == "Thu 15:00, your best hour on LinkedIn"


def test_a_busy_best_hour_gives_the_best_free_one(db: Database, seed: Seeder) -> None:
    scored = best_time.hours(history(db, seed), "linkedin", BERLIN)
    thursday_3pm = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)

    # Exactly 30 minutes away is allowed by the `slot` rule ...
    slot = best_time.best_slot(scored, MONDAY, [thursday_3pm + timedelta(minutes=30)], BERLIN)
    assert slot is not None and slot.at == thursday_3pm

    # ... 15 minutes is not: the next best is the soonest of the prior's best hours that history
    # has not spoiled: Tuesday 10:00, not Tuesday 09:00, where the posts did badly.
    slot = best_time.best_slot(scored, MONDAY, [thursday_3pm - timedelta(minutes=15)], BERLIN)
    assert slot is not None
    assert slot.at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert slot.reason == "Tue 10:00, your best free hour on LinkedIn"


def test_an_empty_workspace_falls_back_to_the_prior(db: Database, seed: Seeder) -> None:
    ws = seed.workspace()
    with db.session() as s:
        rows = queries.published(s, ws, MONDAY - timedelta(days=90), MONDAY)
    scored = best_time.hours(rows, "linkedin", BERLIN)
    assert scored.history == 0
    assert all(
        cell.estimate == best_time.prior("linkedin", day, hour)
        for (day, hour), cell in scored.cells.items()
    )
    slot = best_time.best_slot(scored, MONDAY, [], BERLIN)
    assert slot is not None
    # Tuesday and Wednesday 09:00-11:00 tie at the top of the prior: the soonest wins.
    assert slot.at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert slot.reason.startswith("Tue 09:00, usually a good hour on LinkedIn")


def test_slots_stay_on_whole_local_hours_across_a_dst_change() -> None:
    # Mondays 10:00 in Berlin, in winter (09:00 UTC); asked just before the clocks go forward.
    rows = [
        TargetFigures(
            target_id=n,
            post_number=n,
            network="x",
            likes=500 if n % 2 else 5,
            published=int(
                (
                    datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
                    + timedelta(weeks=n // 2, hours=n % 2 - 1)
                ).timestamp()
            ),
        )
        for n in range(20)
    ]
    scored = best_time.hours(rows, "x", BERLIN)
    assert scored.best() == (0, 10)
    slot = best_time.best_slot(scored, datetime(2027, 3, 27, 12, 0, tzinfo=UTC), [], BERLIN)
    assert slot is not None
    assert slot.at == datetime(2027, 3, 29, 8, 0, tzinfo=UTC)  # 10:00 CEST
    assert slot.reason == "Mon 10:00, your best hour on X"
