"""The dispatcher tick: claim every due target and send each its publish job.

The database is the schedule: `scheduled_at` lives on the target row, and a tick every few
seconds moves the due ones from `scheduled` to `queued`.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from core.context import Context, Tx, run_tx
from core.jobs import Job
from core.posts.lifecycle import move_targets
from core.publishing.pause import freezes
from storage.models import Post, PostState, Target, TargetState

P, T = PostState, TargetState
# Targets claimed per transaction: short enough that locks are held for milliseconds, big
# enough that a burst of thousands costs a few dozen round trips.
DISPATCH_BATCH = 200
# How long one tick goes on claiming before it hands over to a fresh tick sent at once, so a
# worker thread is never held by one tick for long.
DISPATCH_SECONDS = 2.0


def dispatch_due(ctx: Context) -> int:
    """Claim every due target, batch by batch, each batch its own short transaction; a tick
    out of time with a full last batch sends the next tick at once. Rows are locked with SKIP
    LOCKED (SQLite: BEGIN IMMEDIATE), so ticks running at once never claim a target twice."""
    started = time.monotonic()
    claimed = 0
    while True:
        batch = run_tx(ctx, _claim_batch)
        claimed += batch
        if batch < DISPATCH_BATCH:
            return claimed
        if time.monotonic() - started >= DISPATCH_SECONDS:
            ctx.queue.enqueue(Job.DISPATCH)
            return claimed


def _claim_batch(tx: Tx) -> int:
    due = tx.session.execute(
        select(Target.id, Target.post_id, Post.workspace_id)
        .join(Post, Post.id == Target.post_id)
        .where(
            Target.state == T.SCHEDULED,
            Target.scheduled_at <= tx.now,
            Post.state == P.APPROVED,
            ~freezes(Post.workspace_id, tx.now),
        )
        .order_by(Target.scheduled_at, Target.id)
        .limit(DISPATCH_BATCH)
        .with_for_update(skip_locked=True, of=Target)
    ).all()
    rows = [(target_id, post_id, ws_id) for target_id, post_id, ws_id in due]
    moved = move_targets(tx.session, rows, "claim", now=tx.now)
    for target_id in moved:
        tx.later(Job.PUBLISH, target_id)
    return len(moved)
