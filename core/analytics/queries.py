"""The reads behind `stats`, the digest and best time: published targets with their newest
snapshot, and one post's snapshots over time.

How `stats 90d` stays fast over 100,000 targets with three snapshots each (bench/stats.py):
the period's targets come from `ix_targets_published_at` (a range scan, not the whole table),
and each one's newest snapshot id from a correlated subquery

    SELECT id FROM metrics_snapshots WHERE target_id = t.id
    ORDER BY taken_at DESC, id DESC LIMIT 1

which PostgreSQL (and SQLite) answer with one backward probe of
`ix_metrics_snapshots_target_taken` (target_id, taken_at, id) per target, an index-only
scan; the snapshot row itself is then one primary-key probe. The cost grows with the targets
in the period, never with the snapshots kept. The rows come back as plain tuples (no ORM
objects) and are added up in core.analytics.figures; the period before, which `stats` only
compares with, is added up by the database (`period_totals`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, BigInteger, Select, case, cast, extract, false, func, select
from sqlalchemy.orm import Session

from core.analytics.figures import TargetFigures, Totals
from storage.models import Post, Target, TargetState
from storage.models_analytics import MetricsSnapshot, Milestone


def _period(workspace_id: int, start: datetime, end: datetime, network: str | None) -> CTE:
    """The period's targets, each with the id of its newest snapshot. MATERIALIZED keeps
    PostgreSQL from folding it into the outer join, where it would hash every snapshot."""
    s = MetricsSnapshot
    newest = (
        select(s.id)
        .where(s.target_id == Target.id)
        .order_by(s.taken_at.desc(), s.id.desc())
        .limit(1)
        .correlate(Target)
        .scalar_subquery()
    )
    query = (
        select(
            Target.id.label("target_id"),
            Post.number.label("post_number"),
            Target.network,
            Target.published_at,
            Target.external_url,
            newest.label("snapshot_id"),
        )
        .join(Post, Post.id == Target.post_id)
        .where(
            Post.workspace_id == workspace_id,
            Target.state == TargetState.PUBLISHED,
            Target.published_at >= start,
            Target.published_at < end,
        )
    )
    if network is not None:
        query = query.where(Target.network == network)
    return query.cte("period").prefix_with("MATERIALIZED")


def published_query(
    workspace_id: int, start: datetime, end: datetime, *, network: str | None = None
) -> Select[*tuple[Any, ...]]:
    """The statement behind `published`, one row per target in `TargetFigures` order
    (bench/stats.py shows its plan)."""
    s, p = MetricsSnapshot, _period(workspace_id, start, end, network)
    return select(
        p.c.target_id,
        p.c.post_number,
        p.c.network,
        cast(extract("epoch", p.c.published_at), BigInteger),
        p.c.external_url,
        s.impressions,
        func.coalesce(s.likes, 0),
        func.coalesce(s.reposts, 0),
        func.coalesce(s.replies, 0),
        func.coalesce(s.quotes, 0),
        s.clicks,
        func.coalesce(s.gone, false()),
        p.c.snapshot_id.is_not(None),
    ).outerjoin(s, s.id == p.c.snapshot_id)


def published(
    session: Session,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    network: str | None = None,
) -> list[TargetFigures]:
    """The workspace's targets published in [start, end), each with its newest snapshot."""
    query = published_query(workspace_id, start, end, network=network)
    return [TargetFigures._make(row) for row in session.execute(query)]


def period_totals(
    session: Session,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    network: str | None = None,
) -> Totals:
    """`figures.totals(published(...))` added up by the database instead: for the period a
    summary is compared with, whose rows are never shown."""
    s, p = MetricsSnapshot, _period(workspace_id, start, end, network)
    interactions = s.likes + s.reposts + s.replies + s.quotes + func.coalesce(s.clicks, 0)
    row = session.execute(
        select(
            func.count(func.distinct(p.c.post_number)),
            func.count(),
            func.sum(s.impressions),
            func.coalesce(func.sum(s.likes), 0),
            func.coalesce(func.sum(s.reposts), 0),
            func.coalesce(func.sum(s.replies), 0),
            func.coalesce(func.sum(s.quotes), 0),
            func.sum(s.clicks),
            func.coalesce(func.sum(case((s.impressions.is_not(None), interactions))), 0),
        ).outerjoin(s, s.id == p.c.snapshot_id)
    ).one()
    posts, targets, impressions, likes, reposts, replies, quotes, clicks, rated = row
    return Totals(
        posts=posts,
        targets=targets,
        impressions=None if impressions is None else int(impressions),
        likes=int(likes),
        reposts=int(reposts),
        replies=int(replies),
        quotes=int(quotes),
        clicks=None if clicks is None else int(clicks),
        rated_interactions=int(rated),
    )


@dataclass(frozen=True)
class Point:
    """One snapshot of one target: a point on `stats <n>`'s chart."""

    network: str
    milestone: Milestone
    taken_at: datetime
    impressions: int | None
    interactions: int
    gone: bool


def post_history(session: Session, post_id: int) -> list[Point]:
    """Every snapshot of one post's targets, oldest first."""
    s = MetricsSnapshot
    rows = session.execute(
        select(
            Target.network,
            s.milestone,
            s.taken_at,
            s.impressions,
            s.likes,
            s.reposts,
            s.replies,
            s.quotes,
            s.clicks,
            s.gone,
        )
        .join(Target, Target.id == s.target_id)
        .where(Target.post_id == post_id)
        .order_by(s.taken_at, s.id)
    )
    return [
        Point(
            network=network,
            milestone=milestone,
            taken_at=taken_at,
            impressions=impressions,
            interactions=likes + reposts + replies + quotes + (clicks or 0),
            gone=gone,
        )
        for (
            network,
            milestone,
            taken_at,
            impressions,
            likes,
            reposts,
            replies,
            quotes,
            clicks,
            gone,
        ) in rows
    ]


def at_milestone(
    session: Session,
    workspace_id: int,
    milestone: Milestone,
    since: datetime,
    *,
    network: str | None = None,
    excluding: Sequence[int] = (),
) -> list[int]:
    """Interactions at `milestone` of the workspace's targets published since `since`: what a
    new snapshot is compared with ("2.1x your median"). `excluding`: target ids left out (the
    one being compared)."""
    s = MetricsSnapshot
    query = (
        select(s.likes + s.reposts + s.replies + s.quotes, s.clicks)
        .join(Target, Target.id == s.target_id)
        .join(Post, Post.id == Target.post_id)
        .where(
            Post.workspace_id == workspace_id,
            s.milestone == milestone,
            s.gone.is_(False),
            Target.published_at >= since,
        )
    )
    if network is not None:
        query = query.where(Target.network == network)
    if excluding:
        query = query.where(Target.id.not_in(list(excluding)))
    return [int(counts) + (clicks or 0) for counts, clicks in session.execute(query)]
