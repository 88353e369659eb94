"""The sweeper: re-send lost nudges and hand stale attempts to reconciliation. Rows are the truth.

Celery messages are nudges: Redis restarting loses them, never a post. Every few minutes this
looks for rows whose job should have run by now and sends it again; every job is safe twice.
It also drops what is kept only for a while: old inbound event ids, message files, and the
REST API's Idempotency-Key answers older than a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.api.idempotency import forget_old_keys
from core.context import Context
from core.jobs import Job
from core.messaging import delivery, files, inbox
from core.platforms.timing import IN_FLIGHT_SECONDS
from core.posts.lifecycle import move
from core.publishing import attempts
from storage.models import AttemptState, Post, PostState, Target, TargetState

P, T = PostState, TargetState


def sweep(ctx: Context) -> dict[str, int]:
    """Re-send lost nudges and hand stale attempts to reconciliation; what it found, by kind."""
    s = ctx.settings
    counts = {"queued": 0, "publishing": 0, "unknown": 0, "generating": 0}
    with ctx.tx() as tx:
        now = tx.now

        def older(seconds: float) -> datetime:
            return now - timedelta(seconds=seconds)

        stale = select(Target).where(
            Target.state == T.QUEUED, Target.state_changed_at < older(s.stale_queued_seconds)
        )
        for target in tx.session.scalars(stale.with_for_update(skip_locked=True, of=Target)):
            tx.later(Job.PUBLISH, target.id)
            counts["queued"] += 1
        stale = select(Target).where(
            Target.state == T.PUBLISHING,
            Target.state_changed_at < older(s.stale_publishing_seconds or IN_FLIGHT_SECONDS),
        )
        for target in tx.session.scalars(stale.with_for_update(skip_locked=True, of=Target)):
            if move(
                tx.session,
                target,
                "lose",
                now=now,
                workspace_id=target.post.workspace_id,
                detail={"reason": "the worker stopped during the attempt"},
            ):
                attempts.finish(tx, target, AttemptState.UNKNOWN, "worker stopped")
                tx.later(Job.RECONCILE, target.id)
                counts["publishing"] += 1
        stale = select(Target).where(
            Target.state == T.UNKNOWN, Target.state_changed_at < older(s.stale_queued_seconds)
        )
        for target in tx.session.scalars(stale.with_for_update(skip_locked=True, of=Target)):
            tx.later(Job.RECONCILE, target.id)
            counts["unknown"] += 1
        posts = select(Post).where(
            Post.state == P.GENERATING, Post.updated_at < older(s.stale_generating_seconds)
        )
        for post in tx.session.scalars(posts.with_for_update(skip_locked=True, of=Post)):
            tx.later(Job.GENERATE, post.id)
            counts["generating"] += 1
    for row_id in inbox.unstarted(ctx, s.stale_queued_seconds):
        ctx.queue.enqueue(Job.RUN_INBOUND, row_id)
    lost = delivery.undelivered(ctx, timedelta(seconds=s.stale_queued_seconds))
    for message_id in lost:
        ctx.queue.enqueue(Job.DELIVER, message_id)
    counts["messages"] = len(lost)
    delivery.forget_old_events(ctx)
    files.forget_old(ctx)
    counts["idempotency_keys"] = forget_old_keys(ctx)
    return counts
