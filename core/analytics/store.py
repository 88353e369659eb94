"""Writing what analytics learns: a published target joins the figures (zeros, and its
snapshots planned), and each snapshot is kept and, when it is the newest, becomes the
target's current figures. Both run in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from core.analytics import schedule
from storage.models import Target
from storage.models_analytics import LatestFigures, MetricsSnapshot


def published(session: Session, target: Target, *, first: bool = False) -> None:
    """`target` was just published: give it a row of figures and plan its snapshots. Safe to
    call twice.

    `first`: the caller has just moved the target to `published` itself (a conditional
    UPDATE that only one transaction wins, and `published` is a final state), so it has no
    figures and no snapshot planned yet: both are inserted without looking first, two
    statements on the publishing path instead of four."""
    assert target.published_at is not None, "only a published target has figures"
    if first:
        session.execute(insert(LatestFigures).values(**_figures_row(target)))
        schedule.plan_new(session, target.id, target.published_at)
        return
    if session.get(LatestFigures, target.id) is None:
        session.add(LatestFigures(**_figures_row(target)))
    schedule.plan(session, target.id, target.published_at)


def _figures_row(target: Target) -> dict[str, Any]:
    """A published target's figures before any snapshot: zeros, nothing taken yet."""
    return {
        "target_id": target.id,
        "workspace_id": target.post.workspace_id,
        "post_number": target.post.number,
        "network": target.network,
        "published_at": target.published_at,
        "likes": 0,
        "reposts": 0,
        "replies": 0,
        "quotes": 0,
        "gone": False,
    }


def record(session: Session, snapshot: MetricsSnapshot) -> bool:
    """Keep `snapshot`; make it the target's current figures unless a newer one already is
    (snapshots of one target may arrive out of order). Whether it became current."""
    session.add(snapshot)
    session.flush()
    if session.get(LatestFigures, snapshot.target_id) is None:
        # Published without passing through `published` (it cannot have been missed twice).
        published(session, session.get_one(Target, snapshot.target_id))
        session.flush()
    current = LatestFigures
    moved = session.execute(
        update(current)
        .where(
            current.target_id == snapshot.target_id,
            or_(current.taken_at.is_(None), current.taken_at <= snapshot.taken_at),
        )
        .values(
            taken_at=snapshot.taken_at,
            impressions=snapshot.impressions,
            likes=snapshot.likes,
            reposts=snapshot.reposts,
            replies=snapshot.replies,
            quotes=snapshot.quotes,
            clicks=snapshot.clicks,
            gone=snapshot.gone,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0))


_COUNTS = ("impressions", "likes", "reposts", "replies", "quotes", "clicks", "gone")


def record_many(session: Session, snapshots: Sequence[MetricsSnapshot]) -> None:
    """`record` for a batch (what a collection tick read from one network): the snapshots in
    one INSERT and the current figures moved in one UPDATE sent for every snapshot, in order,
    instead of three statements each."""
    if not snapshots:
        return
    session.add_all(snapshots)
    session.flush()
    targets = {snapshot.target_id for snapshot in snapshots}
    joined = set(
        session.scalars(select(LatestFigures.target_id).where(LatestFigures.target_id.in_(targets)))
    )
    for missing in sorted(targets - joined):
        published(session, session.get_one(Target, missing))
    session.flush()
    table = cast(Table, LatestFigures.__table__)
    c = table.c
    session.execute(
        update(table)
        .where(
            c.target_id == bindparam("b_target"),
            or_(c.taken_at.is_(None), c.taken_at <= bindparam("b_taken")),
        )
        .values(taken_at=bindparam("b_taken"), **{k: bindparam(f"b_{k}") for k in _COUNTS}),
        [
            {
                "b_target": snapshot.target_id,
                "b_taken": snapshot.taken_at,
                **{f"b_{k}": getattr(snapshot, k) for k in _COUNTS},
            }
            for snapshot in snapshots
        ],
    )
