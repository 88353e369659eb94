"""Recording a batch of snapshots (a collection tick's, core.analytics.store.record_many) as
one at a time would: every snapshot kept, the newest of each target current, whatever order
they come in, and a target that missed joining the figures joins them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from core.analytics import store
from storage.db import Database
from storage.models_analytics import LatestFigures, MetricsSnapshot, Milestone, SnapshotDue
from tests.unit.analytics.seeding import Seeder

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _snapshot(target_id: int, hours_ago: int, likes: int) -> MetricsSnapshot:
    return MetricsSnapshot(
        target_id=target_id,
        milestone=Milestone.DEMAND,
        taken_at=NOW - timedelta(hours=hours_ago),
        likes=likes,
        impressions=likes * 10,
        raw={},
    )


def test_a_batch_keeps_every_snapshot_and_the_newest_of_each_target(
    db: Database, seed: Seeder
) -> None:
    ws = seed.workspace()
    x = seed.post(ws, NOW - timedelta(days=2), ("x", None))["x"]
    masto = seed.post(ws, NOW - timedelta(days=2), ("mastodon", None))["mastodon"]
    with db.session() as s:  # a target published without joining the figures (a lost write)
        s.execute(delete(LatestFigures).where(LatestFigures.target_id == masto))
        s.execute(delete(SnapshotDue).where(SnapshotDue.target_id == masto))
    with db.session() as s:
        store.record_many(
            s,
            [
                _snapshot(x, 1, 30),
                _snapshot(masto, 5, 7),
                _snapshot(x, 3, 20),
                _snapshot(masto, 2, 9),
            ],
        )
    with db.session() as s:
        current = {
            row.target_id: (row.likes, row.impressions, row.taken_at)
            for row in s.scalars(select(LatestFigures))
        }
        assert current == {
            x: (30, 300, NOW - timedelta(hours=1)),
            masto: (9, 90, NOW - timedelta(hours=2)),
        }
        assert s.scalar(select(func.count()).select_from(MetricsSnapshot)) == 4
        # The target that had missed `published` got its snapshots planned as well.
        assert s.scalar(select(func.count()).where(SnapshotDue.target_id == masto)) == 3
