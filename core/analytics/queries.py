"""The reads behind `stats`, the digest and best time: a period's targets with their current
figures, one post's snapshots over time, and the figures a new snapshot is compared with.

How `stats 90d` stays fast over 100,000 targets with three snapshots each (bench/stats.py):
it never looks for the newest of a target's snapshots. Each target's current figures are
kept in `latest_figures`, written with the snapshot (core.analytics.store), beside copies of
its workspace and publication time; so a period is one range scan of one index,
`ix_latest_figures_workspace_published` (workspace_id, published_at), with no join. `summary`
has the database add the period up (per network, per local day, best and worst posts, the
period before) so a few hundred rows come back, not one per target, and core.analytics.figures
derives the rest (rates, change); links are read for the few posts shown. `published` returns
one plain tuple per target (epoch seconds, no ORM objects) for best time, which needs each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    case,
    cast,
    extract,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from core.analytics import figures
from core.analytics.figures import PostFigures, Summary, TargetFigures, Totals
from storage.models import Post, Target
from storage.models_analytics import LatestFigures, MetricsSnapshot, Milestone


def _in_period(
    workspace_id: int, start: datetime, end: datetime, network: str | None
) -> list[ColumnElement[bool]]:
    f = LatestFigures
    where = [f.workspace_id == workspace_id, f.published_at >= start, f.published_at < end]
    if network is not None:
        where.append(f.network == network)
    return where


def published_query(
    workspace_id: int, start: datetime, end: datetime, *, network: str | None = None
) -> Select[*tuple[Any, ...]]:
    """The statement behind `published`, one row per target in `TargetFigures` order
    (bench/stats.py shows its plan)."""
    f = LatestFigures
    return select(
        f.target_id,
        f.post_number,
        f.network,
        cast(extract("epoch", f.published_at), BigInteger),
        f.impressions,
        f.likes,
        f.reposts,
        f.replies,
        f.quotes,
        f.clicks,
        f.gone,
        f.taken_at.is_not(None),
    ).where(*_in_period(workspace_id, start, end, network))


def published(
    session: Session,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    network: str | None = None,
) -> list[TargetFigures]:
    """The workspace's targets published in [start, end), each with its newest figures."""
    query = published_query(workspace_id, start, end, network=network)
    return [TargetFigures._make(row) for row in session.execute(query)]


def _interactions() -> ColumnElement[int]:
    f = LatestFigures
    return f.likes + f.reposts + f.replies + f.quotes + func.coalesce(f.clicks, 0)


def _sums(posts: ColumnElement[int] | None = None) -> list[ColumnElement[Any]]:
    """The columns of a `Totals`, added up as figures.totals defines them (`posts`: how to
    count the posts, when the grouping knows better than counting distinct numbers)."""
    f = LatestFigures
    return [
        func.count(func.distinct(f.post_number)) if posts is None else posts,
        func.count(),
        func.sum(f.impressions),
        func.coalesce(func.sum(f.likes), 0),
        func.coalesce(func.sum(f.reposts), 0),
        func.coalesce(func.sum(f.replies), 0),
        func.coalesce(func.sum(f.quotes), 0),
        func.sum(f.clicks),
        func.coalesce(func.sum(case((f.impressions.is_not(None), _interactions()))), 0),
    ]


def _totals(row: Sequence[Any]) -> Totals:
    posts, targets, impressions, likes, reposts, replies, quotes, clicks, rated = row
    return Totals(
        posts=int(posts),
        targets=int(targets),
        impressions=None if impressions is None else int(impressions),
        likes=int(likes),
        reposts=int(reposts),
        replies=int(replies),
        quotes=int(quotes),
        clicks=None if clicks is None else int(clicks),
        rated_interactions=int(rated),
    )


def period_totals(
    session: Session,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    network: str | None = None,
) -> Totals:
    """`figures.totals(published(...))`, added up by the database."""
    where = _in_period(workspace_id, start, end, network)
    return _totals(session.execute(select(*_sums()).where(*where)).one())


def summary(
    session: Session,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    tz: ZoneInfo,
    network: str | None = None,
    best: int = 3,
) -> Summary:
    """The `stats` answer for [start, end), compared with the period of the same length
    just before it. The database adds every figure up; a few hundred rows come back."""
    f = LatestFigures
    where = _in_period(workspace_id, start, end, network)
    per_network = select(f.network, *_sums()).where(*where).group_by(f.network)
    by_network = {row[0]: _totals(row[1:]) for row in session.execute(per_network)}
    posts = session.scalar(select(func.count(func.distinct(f.post_number))).where(*where))
    # Grouped outside: the day's expression has parameters, which PostgreSQL would not
    # match between the SELECT and a GROUP BY of their own.
    rows = (
        select(f.network, _local_day(start, end, tz).label("day"), _interactions().label("n"))
        .where(*where)
        .subquery()
    )
    days = select(rows.c.network, rows.c.day, func.sum(rows.c.n)).group_by(
        rows.c.network, rows.c.day
    )
    per_day = {(network, int(day)): int(value) for network, day, value in session.execute(days)}
    top, bottom = _best_and_worst(session, where, best)
    previous = period_totals(session, workspace_id, start - (end - start), start, network=network)
    shown = _details(session, workspace_id, [post.number for post in (*top, *bottom)])
    return figures.summarize(
        by_network,
        posts or 0,
        per_day,
        [replace(post, links=shown[post.number][0], gone=shown[post.number][1]) for post in top],
        [replace(post, links=shown[post.number][0], gone=shown[post.number][1]) for post in bottom],
        previous,
    )


def _local_day(start: datetime, end: datetime, tz: ZoneInfo) -> ColumnElement[int]:
    """The day in `tz` a target in [start, end) was published, as days since 1970-01-01."""
    column = LatestFigures.published_at
    changes = figures.offsets(start, end, tz)
    offset: ColumnElement[int] = literal(changes[0][1])
    if len(changes) > 1:
        offset = case(
            *((column < at, literal(before)) for (at, _), (_, before) in
              zip(changes[1:], changes, strict=False)),
            else_=literal(changes[-1][1]),
        )  # fmt: skip
    return (cast(extract("epoch", column), BigInteger) + offset) // 86400


def _best_and_worst(
    session: Session, where: list[ColumnElement[bool]], best: int
) -> tuple[list[PostFigures], list[PostFigures]]:
    """The `best` posts with figures that did best, and the `best` that did worst among the
    others, each best or worst first: one pass that adds up each post and ranks it both
    ways."""
    f = LatestFigures
    per_post = (
        select(
            f.post_number,
            *_sums(posts=literal(1)),
            func.sum(_interactions()).label("interactions"),
            func.coalesce(func.sum(f.impressions), 0).label("seen"),
        )
        .where(*where, f.taken_at.is_not(None))
        .group_by(f.post_number)
        .subquery()
    )
    rank = (per_post.c.interactions, per_post.c.seen, per_post.c.post_number)
    ranked = select(
        per_post,
        func.row_number().over(order_by=[c.desc() for c in rank]).label("high"),
        func.row_number().over(order_by=rank).label("low"),
    ).subquery()
    rows = session.execute(
        select(ranked).where((ranked.c.high <= best) | (ranked.c.low <= best))
    ).all()
    width = 1 + len(_sums())

    def posts(chosen: list[Any]) -> list[PostFigures]:
        return [PostFigures(number=row[0], totals=_totals(row[1:width])) for row in chosen]

    top = sorted((row for row in rows if row.high <= best), key=lambda row: row.high)
    bottom = sorted((row for row in rows if row.high > best), key=lambda row: row.low)
    return posts(top), posts(bottom[:best])


def _details(
    session: Session, workspace_id: int, numbers: list[int]
) -> dict[int, tuple[dict[str, str], tuple[str, ...]]]:
    """Post number → (network → its address there, networks where it was deleted), for the
    few posts a summary shows."""
    found: dict[int, tuple[dict[str, str], list[str]]] = {n: ({}, []) for n in numbers}
    if numbers:
        f = LatestFigures
        rows = session.execute(
            select(Post.number, Target.network, Target.external_url, f.gone)
            .join(Target, Target.post_id == Post.id)
            .join(f, f.target_id == Target.id)
            .where(Post.workspace_id == workspace_id, Post.number.in_(numbers))
            .order_by(Target.id)
        )
        for number, network, url, gone in rows:
            if url:
                found[number][0][network] = url
            if gone:
                found[number][1].append(network)
    return {n: (links, tuple(gone)) for n, (links, gone) in found.items()}


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
    s, f = MetricsSnapshot, LatestFigures
    query = (
        select(s.likes + s.reposts + s.replies + s.quotes, s.clicks)
        .join(f, f.target_id == s.target_id)
        .where(
            f.workspace_id == workspace_id,
            f.published_at >= since,
            s.milestone == milestone,
            s.gone.is_(False),
        )
    )
    if network is not None:
        query = query.where(f.network == network)
    if excluding:
        query = query.where(f.target_id.not_in(list(excluding)))
    return [int(counts) + (clicks or 0) for counts, clicks in session.execute(query)]
