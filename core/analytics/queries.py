"""The reads behind `stats`, the digest and best time: published targets with their newest
snapshot, and one post's snapshots over time.

How `stats 90d` stays fast over 100,000 targets with three snapshots each (bench/stats.py):
the period's targets come from `ix_targets_published_at` (a range scan, not the whole table),
and each one's newest snapshot from a correlated subquery

    SELECT id FROM metrics_snapshots WHERE target_id = t.id
    ORDER BY taken_at DESC, id DESC LIMIT 1

which PostgreSQL (and SQLite) answer with one backward probe of
`ix_metrics_snapshots_target_taken` (target_id, taken_at, id) per target, an index-only
scan: the cost grows with the targets in the period, never with the snapshots kept. The
figures come back as plain tuples (no ORM objects) and are added up in core.analytics.figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from core.analytics.figures import TargetFigures
from storage.models import Post, Target, TargetState
from storage.models_analytics import MetricsSnapshot, Milestone


def _newest_snapshot_id() -> ColumnElement[int]:
    return (
        select(MetricsSnapshot.id)
        .where(MetricsSnapshot.target_id == Target.id)
        .order_by(MetricsSnapshot.taken_at.desc(), MetricsSnapshot.id.desc())
        .limit(1)
        .correlate(Target)
        .scalar_subquery()
    )


def published_query(
    workspace_id: int, start: datetime, end: datetime, *, network: str | None = None
) -> Select[*tuple[Any, ...]]:
    """The statement behind `published` (bench/stats.py shows its plan)."""
    s = MetricsSnapshot
    query = (
        select(
            Target.id,
            Post.number,
            Target.network,
            Target.published_at,
            Target.external_url,
            s.id,
            s.impressions,
            s.likes,
            s.reposts,
            s.replies,
            s.quotes,
            s.clicks,
            s.gone,
        )
        .join(Post, Post.id == Target.post_id)
        .outerjoin(s, s.id == _newest_snapshot_id())
        .where(
            Post.workspace_id == workspace_id,
            Target.state == TargetState.PUBLISHED,
            Target.published_at >= start,
            Target.published_at < end,
        )
    )
    if network is not None:
        query = query.where(Target.network == network)
    return query


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
    return [
        TargetFigures(
            target_id=target_id,
            post_number=number,
            network=net,
            published_at=published_at,
            url=url,
            impressions=impressions,
            likes=likes or 0,
            reposts=reposts or 0,
            replies=replies or 0,
            quotes=quotes or 0,
            clicks=clicks,
            gone=bool(gone),
            measured=snapshot_id is not None,
        )
        for (
            target_id,
            number,
            net,
            published_at,
            url,
            snapshot_id,
            impressions,
            likes,
            reposts,
            replies,
            quotes,
            clicks,
            gone,
        ) in session.execute(query)
    ]


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
