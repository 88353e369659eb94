"""Publish attempts: the request a target makes, and the attempt rows that record each try.

Every attempt is committed as `publishing` before the network call, so a crash in the middle
leaves a row that says so; reconciliation reads the first attempt's start to know how far
back to look for a post that may already be up.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from functools import cache
from typing import cast

from sqlalchemy import Insert, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.orm import joinedload

from core.context import Tx
from core.platforms.timing import LOOKBACK_SKEW_SECONDS
from core.ports import PublishRequest
from core.posts.lifecycle import move
from core.publishing.pause import freezes
from storage.models import AttemptState, Post, PublishAttempt, Target


def request_for(target: Target) -> PublishRequest:
    post = target.post
    return PublishRequest(
        target_id=target.id,
        network=target.network,
        text=target.text,
        # One key per target, the same on every attempt: the network (or reconciliation) can
        # tell a second attempt from a second post.
        idempotency_key=f"herald-{post.workspace_id}-{post.id}-{target.id}",
        workspace=post.workspace.name,
        post_number=post.number,
        workspace_id=post.workspace_id,
        parts=tuple(target.parts or ()),
        media=tuple(target.media or ()),
        account_id=target.account_id,
    )


def load(tx: Tx, target_id: int) -> Target | None:
    """The target with its post and workspace, in one SELECT (they are all read on the way)."""
    return tx.session.scalars(
        select(Target)
        .where(Target.id == target_id)
        .options(joinedload(Target.post, innerjoin=True).joinedload(Post.workspace, innerjoin=True))
    ).first()


def load_unless_paused(tx: Tx, target_id: int) -> tuple[Target, bool] | None:
    """`load`, and whether a pause holds the target's workspace, in the same one SELECT (the
    publish path counts its statements)."""
    workspace = select(Post.workspace_id).where(Post.id == Target.post_id).scalar_subquery()
    row = tx.session.execute(
        select(Target, freezes(workspace, tx.now).label("paused"))
        .where(Target.id == target_id)
        .options(joinedload(Target.post, innerjoin=True).joinedload(Post.workspace, innerjoin=True))
    ).first()
    return None if row is None else (row[0], bool(row[1]))


def begin(tx: Tx, target: Target, action: str) -> PublishRequest | None:
    """Move the target into `publishing` (by `action`) and open its next attempt row."""
    ws_id = target.post.workspace_id
    number = target.attempts + 1
    if not move(tx.session, target, action, now=tx.now, workspace_id=ws_id, attempts=number):
        return None
    request = request_for(target)
    # `attempts` counts this round (a Retry starts a new one); attempt rows number all of them,
    # the next number taken in the INSERT itself rather than by a query before it.
    tx.session.connection().execute(
        _open_sql(),
        {
            "target": target.id,
            "key": request.idempotency_key,
            "started": tx.now,
            "state": AttemptState.STARTED,
        },
    )
    return request


def finish(tx: Tx, target: Target, state: AttemptState, error: str | None) -> None:
    """Close the target's latest attempt with its outcome."""
    tx.session.connection().execute(
        _close_sql(),
        {"target": target.id, "outcome": state, "reason": error, "finished": tx.now},
    )


def looking_back(tx: Tx, target_id: int, request: PublishRequest) -> PublishRequest:
    """The request, with how far back a lookup reads: the target's first attempt's start."""
    first = tx.session.scalar(
        select(func.min(PublishAttempt.started_at)).where(PublishAttempt.target_id == target_id)
    )
    if first is None:
        return request
    return dataclasses.replace(request, since=first - timedelta(seconds=LOOKBACK_SKEW_SECONDS))


# The attempt rows are written with Core statements built once: on the publish path the ORM's
# bulk machinery and rebuilding the statement cost more CPU than the database round trip.
def _attempts_table() -> Table:
    return cast(Table, PublishAttempt.__table__)


@cache
def _open_sql() -> Insert:
    rows = _attempts_table()
    number = (
        select(func.coalesce(func.max(rows.c.number), 0) + 1)
        .where(rows.c.target_id == bindparam("target"))
        .scalar_subquery()
    )
    return insert(rows).values(
        target_id=bindparam("target"),
        number=number,
        idempotency_key=bindparam("key"),
        state=bindparam("state", type_=rows.c.state.type),
        started_at=bindparam("started", type_=rows.c.started_at.type),
    )


@cache
def _close_sql() -> Update:
    rows = _attempts_table()
    earlier = rows.alias("earlier")  # its own name, or the subquery would correlate
    latest = (
        select(func.max(earlier.c.number))
        .where(earlier.c.target_id == bindparam("target"))
        .scalar_subquery()
    )
    return (
        update(rows)
        .where(rows.c.target_id == bindparam("target"), rows.c.number == latest)
        .values(
            state=bindparam("outcome", type_=rows.c.state.type),
            error=bindparam("reason", type_=rows.c.error.type),
            finished_at=bindparam("finished", type_=rows.c.finished_at.type),
        )
    )
