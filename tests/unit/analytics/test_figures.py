"""`stats` arithmetic on rows seeded in the database, read back by core.analytics.queries, on
SQLite and PostgreSQL: the newest snapshot counts, other workspaces and periods do not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete

from core.analytics import figures, queries
from storage.db import Database
from storage.models_analytics import LatestFigures
from tests.unit.analytics.seeding import Seeder

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def counts(
    impressions: int | None,
    likes: int,
    reposts: int = 0,
    replies: int = 0,
    quotes: int = 0,
    clicks: int | None = None,
    gone: bool = False,
) -> dict[str, Any]:
    return {
        "impressions": impressions,
        "likes": likes,
        "reposts": reposts,
        "replies": replies,
        "quotes": quotes,
        "clicks": clicks,
        "gone": gone,
    }


@pytest.fixture
def week(seed: Seeder) -> int:
    """A workspace with four posts this week, one the week before, and a noisy neighbour."""
    ws = seed.workspace()
    first = seed.post(
        ws,
        NOW - timedelta(days=6),
        ("x", counts(1000, 30, reposts=5, replies=3, quotes=2, clicks=10)),
        ("linkedin", counts(2000, 40, reposts=4, replies=6)),
    )
    # A later look at #1 on X: 30 more likes. Only this newest snapshot counts.
    seed.snapshot(first["x"], NOW - timedelta(days=1), **counts(1000, 60, 5, 3, 2, clicks=10))
    # 23:30 UTC is already the next day in Berlin.
    seed.post(ws, datetime(2026, 11, 27, 23, 30, tzinfo=UTC), ("mastodon", counts(None, 5, 1)))
    seed.post(ws, NOW - timedelta(days=1), ("bluesky", None))  # not measured yet
    seed.post(ws, NOW - timedelta(days=2), ("x", counts(500, 1, clicks=0)))
    seed.post(ws, NOW - timedelta(days=10), ("x", counts(1000, 20)))  # the week before
    other = seed.workspace("other")
    seed.post(other, NOW - timedelta(days=2), ("x", counts(10**6, 9999)))
    return ws


def period(
    db: Database, ws: int, days: int, back: int = 0, **kw: str | None
) -> list[figures.TargetFigures]:
    end = NOW - timedelta(days=back)
    with db.session() as s:
        return queries.published(s, ws, end - timedelta(days=days), end, **kw)


def stats(db: Database, ws: int, days: int, **kw: str | None) -> figures.Summary:
    with db.session() as s:
        return queries.summary(s, ws, NOW - timedelta(days=days), NOW, tz=BERLIN, best=2, **kw)


def test_totals_per_network_top_bottom_and_change(db: Database, week: int) -> None:
    summary = stats(db, week, 7)

    t = summary.totals
    assert (t.posts, t.targets) == (4, 5)
    assert (t.impressions, t.likes, t.reposts, t.replies, t.quotes, t.clicks) == (
        3500,
        106,
        10,
        9,
        2,
        10,
    )
    assert t.interactions == 137
    # Mastodon reports no impressions: its 6 interactions are not in the rate.
    assert t.engagement_rate == pytest.approx(131 / 3500)

    assert list(summary.by_network) == ["x", "linkedin", "mastodon", "bluesky"]
    assert summary.by_network["x"].interactions == 81
    assert summary.by_network["x"].engagement_rate == pytest.approx(81 / 1500)
    assert summary.by_network["mastodon"].engagement_rate is None
    assert summary.by_network["bluesky"].interactions == 0

    assert [p.number for p in summary.top] == [1, 2]
    assert summary.top[0].totals.interactions == 130
    assert summary.top[0].links == {
        "x": "https://x.example/1",
        "linkedin": "https://linkedin.example/1",
    }
    # #3 has no figures yet: it is neither top nor bottom.
    assert [p.number for p in summary.bottom] == [4]

    assert summary.change.posts.ratio == pytest.approx(3.0)
    assert summary.change.interactions.ratio == pytest.approx((137 - 20) / 20)
    assert summary.change.impressions.ratio == pytest.approx(2.5)

    assert summary.daily["mastodon"] == [(date(2026, 11, 28), 6)]
    assert summary.daily["x"] == [(date(2026, 11, 24), 80), (date(2026, 11, 28), 1)]


@pytest.mark.parametrize(("days", "back", "network"), [(7, 0, None), (7, 7, None), (30, 0, "x")])
def test_the_database_adds_up_as_figures_does(
    db: Database, week: int, days: int, back: int, network: str | None
) -> None:
    end = NOW - timedelta(days=back)
    with db.session() as s:
        by_sql = queries.period_totals(s, week, end - timedelta(days=days), end, network=network)
    assert by_sql == figures.totals(period(db, week, days, back=back, network=network))
    assert by_sql.targets > 0


def test_one_network_and_an_empty_period(db: Database, week: int) -> None:
    x_only = stats(db, week, 7, network="x")
    assert list(x_only.by_network) == ["x"]
    assert [p.number for p in x_only.top] == [1, 4]
    assert x_only.top[0].totals.interactions == 80  # #1 on X alone
    assert x_only.change.interactions.ratio == pytest.approx((81 - 20) / 20)

    with db.session() as s:  # the last day: nothing was published
        summary = queries.summary(s, week, NOW - timedelta(hours=12), NOW, tz=BERLIN)
    assert summary.totals.posts == 0 and summary.totals.engagement_rate is None
    assert summary.top == [] and summary.bottom == [] and summary.daily == {}
    assert summary.change.interactions.ratio is None  # nothing the 12 h before either


def test_a_deleted_post_keeps_its_last_figures_and_says_so(db: Database, seed: Seeder) -> None:
    ws = seed.workspace()
    ids = seed.post(
        ws, NOW - timedelta(days=3), ("x", counts(800, 12)), ("mastodon", counts(None, 3))
    )
    seed.snapshot(ids["x"], NOW - timedelta(days=1), **counts(800, 12, gone=True))

    (post,) = stats(db, ws, 7).top
    assert post.gone == ("x",)
    assert post.totals.interactions == 15


def test_milestone_values_feed_the_median(db: Database, seed: Seeder) -> None:
    ws = seed.workspace()
    made = [
        seed.post(ws, NOW - timedelta(days=d), ("x", counts(100, likes, clicks=1)))
        for d, likes in ((5, 9), (4, 7), (3, 11), (2, 40))
    ]
    with db.session() as s:
        from storage.models_analytics import Milestone

        others = queries.at_milestone(
            s, ws, Milestone.DAY, NOW - timedelta(days=30), excluding=[made[-1]["x"]]
        )
    assert sorted(others) == [8, 10, 12]
    versus = figures.versus_median(41, others)
    assert versus.median == 10 and versus.ratio == pytest.approx(4.1)
    assert versus.verdict == "far above"


@pytest.mark.parametrize(
    ("value", "others", "ratio", "verdict"),
    [
        (21, [10, 8, 12], 2.1, "far above"),
        (4, [10, 8, 12], 0.4, "far below"),
        (11, [10, 8, 12], 1.1, None),
        (5, [0, 0, 1], None, None),  # a zero median has no multiple
        (5, [], None, None),
    ],
)
def test_versus_median(
    value: float, others: list[float], ratio: float | None, verdict: str | None
) -> None:
    versus = figures.versus_median(value, others)
    assert versus.ratio == (pytest.approx(ratio) if ratio is not None else None)
    assert versus.verdict == verdict


def test_an_older_snapshot_arriving_late_does_not_replace_a_newer_one(
    db: Database, seed: Seeder
) -> None:
    ws = seed.workspace()
    ids = seed.post(ws, NOW - timedelta(days=3), ("x", counts(800, 12)))  # taken at -2 d
    assert seed.snapshot(ids["x"], NOW - timedelta(days=1), **counts(900, 30))
    assert not seed.snapshot(ids["x"], NOW - timedelta(days=2, hours=1), **counts(850, 20))
    (row,) = period(db, ws, 7)
    assert (row.impressions, row.interactions) == (900, 30)
    with db.session() as s:
        from storage.models import Target

        history = queries.post_history(s, s.get_one(Target, ids["x"]).post_id)
    assert len(history) == 3  # every snapshot is kept for the trend


def test_one_posts_snapshots_over_time(db: Database, seed: Seeder) -> None:
    ws = seed.workspace()
    ids = seed.post(ws, NOW - timedelta(days=3), ("x", counts(800, 12)), ("mastodon", None))
    seed.snapshot(ids["x"], NOW - timedelta(days=1), **counts(900, 20, reposts=2, clicks=3))
    seed.snapshot(ids["mastodon"], NOW - timedelta(hours=2), **counts(None, 4, replies=1))
    with db.session() as s:
        from storage.models import Target

        post_id = s.get_one(Target, ids["x"]).post_id
        points = queries.post_history(s, post_id)
    assert [(p.network, p.taken_at, p.impressions, p.interactions) for p in points] == [
        ("x", NOW - timedelta(days=2), 800, 12),
        ("x", NOW - timedelta(days=1), 900, 25),
        ("mastodon", NOW - timedelta(hours=2), None, 5),
    ]


def test_days_are_the_workspaces_across_a_change_of_clocks(db: Database, seed: Seeder) -> None:
    # Berlin leaves summer time at 01:00 UTC on 25 Oct 2026.
    assert figures.offsets(
        datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC), BERLIN
    ) == [
        (datetime(2026, 10, 20, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 3600),
    ]
    ws = seed.workspace()
    for published, likes in (
        (datetime(2026, 10, 24, 21, 30, tzinfo=UTC), 1),  # 23:30 CEST, the 24th
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), 2),  # 00:30 CEST, the 25th
        (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), 4),  # 23:30 CET, the 25th
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), 8),  # 00:30 CET, the 26th
    ):
        seed.post(ws, published, ("x", counts(10, likes)))
    with db.session() as s:
        summary = queries.summary(
            s, ws, datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC), tz=BERLIN
        )
    assert summary.daily == {
        "x": [(date(2026, 10, 24), 1), (date(2026, 10, 25), 6), (date(2026, 10, 26), 8)]
    }


def test_a_snapshot_of_a_target_never_announced_still_counts(db: Database, seed: Seeder) -> None:
    ws = seed.workspace()
    ids = seed.post(ws, NOW - timedelta(days=2), ("x", None))
    with db.session() as s:  # as if it had been published before analytics knew of it
        s.execute(delete(LatestFigures))
    assert seed.snapshot(ids["x"], NOW - timedelta(days=1), **counts(300, 9))
    (row,) = period(db, ws, 7)
    assert (row.impressions, row.interactions, row.measured) == (300, 9, True)
