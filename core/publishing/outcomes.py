"""How a publish attempt ends: published, failed, deferred, unknown, or a question for a person.

Each outcome is one transaction that moves the target, closes its attempt row and says so in
the post's conversation. An unclear answer is never retried blind: it becomes `unknown` and
reconciliation looks for the post first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core import metrics
from core.analytics import store as analytics
from core.context import Context, Tx, run_tx
from core.errors import NotSent, PublishError, RateLimited, TokenExpired
from core.jobs import Job
from core.messaging.say import notify
from core.networks import get_network
from core.platforms.timing import MARGIN_SECONDS
from core.ports import Published
from core.posts.card import ASKING, Message, asking_cleared, build_card
from core.posts.lifecycle import move
from core.publishing import attempts
from core.timeparse import format_when
from core.workspace.people import zone_of
from storage.models import AttemptState, Target, TargetState

T = TargetState
# After our own database failed before a network call: soon, but not in a tight loop.
NOT_SENT_DELAY = 5.0


def record_success(ctx: Context, target_id: int, result: Published) -> None:
    run_tx(ctx, lambda tx: _confirm(tx, target_id, result))


def _confirm(tx: Tx, target_id: int, result: Published) -> None:
    target = attempts.load(tx, target_id)
    if target is None:
        return
    if not move(
        tx.session,
        target,
        "confirm",
        now=tx.now,
        workspace_id=target.post.workspace_id,
        external_id=result.external_id,
        external_url=result.url,
        published_at=tx.now,
        failure_reason=None,
    ):
        return
    attempts.finish(tx, target, AttemptState.SUCCEEDED, None)
    metrics.PUBLISHES.labels(target.network, "published").inc()
    if target.scheduled_at is not None:
        late = (tx.now - target.scheduled_at).total_seconds()
        metrics.PUBLISH_DELAY.labels(target.network).observe(max(0.0, late))
    # Publishing, the duplicate refusal confirmed by a lookup and reconciliation all end here.
    analytics.published(tx.session, target, first=True)
    post = target.post
    name = get_network(target.network).display
    notify(
        tx,
        post,
        Message(
            text=f"🚀 #{post.number} published · {name}: {result.url}", post_number=post.number
        ),
    )


def record_failure(ctx: Context, target_id: int, exc: Exception) -> None:
    with ctx.tx() as tx:
        target = tx.session.get(Target, target_id)
        if target is None or target.state != T.PUBLISHING:
            return
        post = target.post
        ws_id = post.workspace_id
        name = get_network(target.network).display
        reason = (
            exc.reason if isinstance(exc, PublishError) else "the network did not answer clearly"
        )
        metrics.PUBLISHES.labels(target.network, _outcome(exc)).inc()
        if isinstance(exc, NotSent):
            # Our own database failed before the call: nothing went out and the network said
            # nothing, so this is neither an attempt nor an unclear outcome. Try again soon.
            _defer(tx, target, tx.now + timedelta(seconds=NOT_SENT_DELAY), reason)
        elif isinstance(exc, RateLimited):
            # Refused, so certainly not posted: take a later slot instead of a sleeping worker.
            _defer(tx, target, exc.until, reason)
            tz = zone_of(post.author, post.workspace)
            notify(
                tx,
                post,
                Message(
                    text=f"⏳ {name} asked us to slow down; #{post.number} moves to "
                    f"{format_when(exc.until, tz, now=tx.now)}.",
                    post_number=post.number,
                ),
            )
        elif isinstance(exc, TokenExpired):
            fail(tx, target, reason, way_forward=f"Reconnect: connect {target.network}")
        elif isinstance(exc, PublishError) and not exc.retryable:
            fail(tx, target, reason)
        else:
            # A timeout or a crash: the post may exist. Ask the network before posting again.
            move(
                tx.session,
                target,
                "lose",
                now=tx.now,
                workspace_id=ws_id,
                detail={"reason": reason},
            )
            attempts.finish(tx, target, AttemptState.UNKNOWN, reason)
            target.failure_reason = reason
            # Our client gave up, but the network may still be storing the post: look only
            # once it could have finished, or the lookup misses it and we post it twice.
            wait = max(MARGIN_SECONDS, min(60.0, 2.0**target.attempts))
            tx.later(Job.RECONCILE, target.id, countdown=wait)


def _outcome(exc: Exception) -> str:
    """The metric's word for how an attempt failed (the branches of `record_failure`)."""
    if isinstance(exc, NotSent):
        return "not_sent"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, TokenExpired):
        return "token_expired"
    if isinstance(exc, PublishError) and not exc.retryable:
        return "rejected"
    return "unknown"


def _defer(tx: Tx, target: Target, until: datetime, reason: str) -> None:
    """Back to `scheduled` at `until`, giving the attempt back: only unclear outcomes count."""
    move(
        tx.session,
        target,
        "defer",
        now=tx.now,
        workspace_id=target.post.workspace_id,
        scheduled_at=until,
        attempts=max(0, target.attempts - 1),
        detail={"reason": reason},
    )
    attempts.finish(tx, target, AttemptState.FAILED, reason)


def fail(tx: Tx, target: Target, reason: str, *, way_forward: str | None = None) -> None:
    post = target.post
    move(
        tx.session,
        target,
        "fail",
        now=tx.now,
        workspace_id=post.workspace_id,
        failure_reason=reason,
        warnings=asking_cleared(target),
        detail={"reason": reason},
    )
    attempts.finish(tx, target, AttemptState.FAILED, reason)
    name = get_network(target.network).display
    notify(
        tx,
        post,
        Message(
            text=f"⚠ #{post.number} failed on {name}: {reason}. "
            + (way_forward or f"Try again: retry {post.number} {target.network}"),
            error=True,
            post_number=post.number,
        ),
    )


def ask_person(ctx: Context, target_id: int, why: str) -> None:
    """The network can't be asked: a person says whether the post went out. Never repost blind.

    The target rests as `failed` (nothing is in flight, and Retry means "post it") with a
    flag that makes its card ask "Did this go out?" instead of offering Retry.
    """
    with ctx.tx() as tx:
        target = tx.session.get(Target, target_id)
        if target is None or target.state not in {T.UNKNOWN, T.PUBLISHING}:
            return
        post = target.post
        name = get_network(target.network).display
        question = f"Did this go out on {name}? {why}, and its answer was lost"
        if not move(
            tx.session,
            target,
            "fail",
            now=tx.now,
            workspace_id=post.workspace_id,
            failure_reason=question,
            warnings={**(target.warnings or {}), ASKING: True},
            detail={"reason": question},
        ):
            return
        attempts.finish(tx, target, AttemptState.UNKNOWN, why)
        metrics.PUBLISHES.labels(target.network, "asked").inc()
        tx.session.refresh(post)
        card = build_card(post, tz=zone_of(post.author, post.workspace), now=tx.now)
        n, net = post.number, target.network
        notify(
            tx,
            post,
            Message(
                text=f"❓ Did #{n} go out on {name}? {why}, so look at the account: "
                f"posted {n} {net} [link] if it's up, retry {n} {net} to post it.",
                card=card,
                post_number=n,
            ),
        )
