"""The work behind the chat: generation, the dispatcher tick, publishing, reconciliation, sweeping.

Every function takes ids, re-reads the rows, checks their state and does nothing when the work is
already done, so a task delivered twice or re-sent by the sweeper is harmless.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import TypeVar, cast

from sqlalchemy import Insert, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import joinedload

from core import delivery, inbox
from core.context import Context, Tx
from core.errors import CannotCheck, Duplicate, NotSent, PublishError, RateLimited, TokenExpired
from core.lifecycle import move_post, move_target, move_targets
from core.networks import get_network
from core.platforms.timing import IN_FLIGHT_SECONDS, LOOKBACK_SKEW_SECONDS, MARGIN_SECONDS
from core.ports import GenerationRequest, Published, Publisher, PublishRequest
from core.timeparse import format_when
from core.views import ASKING, Message, asking_cleared, build_card, networks_phrase
from core.workspaces import notify, zone_of
from storage.models import (
    AttemptState,
    OutboundMessage,
    Post,
    PostState,
    PublishAttempt,
    Target,
    TargetState,
)

log = logging.getLogger(__name__)
P, T = PostState, TargetState
GENERATE = "herald.generate_post"
PUBLISH = "herald.publish_target"
RECONCILE = "herald.reconcile_target"
# After our own database failed before a network call: soon, but not in a tight loop.
NOT_SENT_DELAY = 5.0
DISPATCH = "herald.dispatch_due"
# Targets claimed per transaction: short enough that locks are held for milliseconds, big
# enough that a burst of thousands costs a few dozen round trips.
DISPATCH_BATCH = 200
# How long one tick goes on claiming before it hands over to a fresh tick sent at once, so a
# worker thread is never held by one tick for long.
DISPATCH_SECONDS = 2.0
# Tries of one transaction whose connection the server dropped (no pre-ping per checkout).
TX_TRIES = 3
R = TypeVar("R")


# --- generation ----------------------------------------------------------------------------


def generate(ctx: Context, post_id: int) -> None:
    with ctx.tx() as tx:
        post = tx.session.get(Post, post_id)
        if post is None or post.state != P.GENERATING:
            return
        revision = post.revision
        request = GenerationRequest(
            brief=post.brief,
            networks=tuple(t.network for t in post.targets),
            workspace_name=post.workspace.name,
            post_number=post.number,
            feedback=post.feedback,
            workspace_id=post.workspace_id,
            post_id=post.id,
            author_id=post.author_id,
        )
    try:
        variants = ctx.generator.generate(request)
        by_network = {v.network: v for v in variants}
        missing = [n for n in request.networks if n not in by_network]
        if missing:
            raise ValueError(f"the generator returned nothing for {', '.join(missing)}")
    except Exception as exc:
        log.exception("generation failed for post %s", post_id)
        _generation_failed(ctx, post_id, revision, exc)
        return
    with ctx.tx() as tx:
        post = tx.session.get(Post, post_id)
        if post is None or post.state != P.GENERATING or post.revision != revision:
            return  # cancelled, or a newer regenerate owns this post now
        for target in post.targets:
            variant = by_network[target.network]
            network = get_network(target.network)
            warnings = list(variant.warnings)
            if not network.fits(variant.text):
                warnings.append(
                    f"⚠ {network.length(variant.text):,}/{network.limit:,} {network.unit}: "
                    "too long to publish; edit it"
                )
            target.text = variant.text
            target.parts = list(variant.parts)
            if variant.alt_texts and target.media:
                # The model's alt-text suggestions fill in what the person left empty.
                target.media = [
                    {**item, "alt": item.get("alt") or alt}
                    for item, alt in zip(target.media, variant.alt_texts, strict=False)
                ] + list(target.media[len(variant.alt_texts) :])
            target.warnings = {"items": warnings}
        move_post(tx.session, post, "submit", now=tx.now, detail={"generator": ctx.generator.label})
        tx.session.refresh(post)
        ws = post.workspace
        note = None
        if ctx.generator.label == "offline":
            note = "Offline template: set HERALD_LLM_BASE_URL to draft with a model."
        card = build_card(
            post, tz=zone_of(post.author, ws), now=tx.now, status="Waiting for approval", note=note
        )
        notify(tx, post, Message(card=card, post_number=post.number))


def _generation_failed(ctx: Context, post_id: int, revision: int, exc: Exception) -> None:
    with ctx.tx() as tx:
        post = tx.session.get(Post, post_id)
        if post is None or post.state != P.GENERATING or post.revision != revision:
            return
        problem = f"Drafting failed: {exc}"[:500]
        move_post(tx.session, post, "generation_failed", now=tx.now, problem=problem)
        notify(
            tx,
            post,
            Message(
                text=f"⚠ I couldn't draft #{post.number}: {exc}. Try again: regenerate "
                f"{post.number}",
                error=True,
                post_number=post.number,
            ),
        )


# --- the dispatcher tick -------------------------------------------------------------------


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
            ctx.queue.enqueue(DISPATCH)
            return claimed


def _claim_batch(tx: Tx) -> int:
    due = tx.session.execute(
        select(Target.id, Target.post_id, Post.workspace_id)
        .join(Post, Post.id == Target.post_id)
        .where(
            Target.state == T.SCHEDULED,
            Target.scheduled_at <= tx.now,
            Post.state == P.APPROVED,
        )
        .order_by(Target.scheduled_at, Target.id)
        .limit(DISPATCH_BATCH)
        .with_for_update(skip_locked=True, of=Target)
    ).all()
    rows = [(target_id, post_id, ws_id) for target_id, post_id, ws_id in due]
    moved = move_targets(tx.session, rows, "claim", now=tx.now)
    for target_id in moved:
        tx.later(PUBLISH, target_id)
    return len(moved)


def run_tx(ctx: Context, body: Callable[[Tx], R]) -> R:
    """Run `body` in a transaction, again on a fresh connection when the server dropped the
    one it had (a restart, a failover, `pg_terminate_backend`): cheaper than a pre-ping on
    every checkout. Safe because every body re-reads its rows and checks their state first;
    if a commit went through before the connection died, the second run finds the work done."""
    for attempt in range(1, TX_TRIES + 1):
        try:
            with ctx.tx() as tx:
                return body(tx)
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == TX_TRIES:
                raise
            log.warning("database connection lost; running the transaction again")
    raise AssertionError("unreachable")


# --- publishing ----------------------------------------------------------------------------


def _request(target: Target) -> PublishRequest:
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


def _load(tx: Tx, target_id: int) -> Target | None:
    """The target with its post and workspace, in one SELECT (they are all read on the way)."""
    return tx.session.scalars(
        select(Target)
        .where(Target.id == target_id)
        .options(joinedload(Target.post, innerjoin=True).joinedload(Post.workspace, innerjoin=True))
    ).first()


def _begin_attempt(tx: Tx, target: Target, action: str) -> PublishRequest | None:
    ws_id = target.post.workspace_id
    number = target.attempts + 1
    if not move_target(tx.session, target, action, now=tx.now, workspace_id=ws_id, attempts=number):
        return None
    request = _request(target)
    # `attempts` counts this round (a Retry starts a new one); attempt rows number all of them,
    # the next number taken in the INSERT itself rather than by a query before it.
    tx.session.connection().execute(
        _open_attempt_sql(),
        {
            "target": target.id,
            "key": request.idempotency_key,
            "started": tx.now,
            "state": AttemptState.STARTED,
        },
    )
    return request


# The attempt rows are written with Core statements built once: on the publish path the ORM's
# bulk machinery and rebuilding the statement cost more CPU than the database round trip.
def _attempts_table() -> Table:
    return cast(Table, PublishAttempt.__table__)


@cache
def _open_attempt_sql() -> Insert:
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
def _close_attempt_sql() -> Update:
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


def publish(ctx: Context, target_id: int) -> None:
    """Commit the attempt as `publishing`, then call the network once."""
    request = run_tx(ctx, lambda tx: _start(tx, target_id))
    if request is not None:
        _call_network(ctx, request)


def _start(tx: Tx, target_id: int) -> PublishRequest | None:
    target = _load(tx, target_id)
    if target is None:
        return None
    if target.state == T.UNKNOWN:
        tx.later(RECONCILE, target.id)
        return None
    if target.state != T.QUEUED:
        return None  # already taken by another delivery of this task
    return _begin_attempt(tx, target, "start")


def _call_network(ctx: Context, request: PublishRequest) -> None:
    publisher = ctx.publishers.get(request.network)
    try:
        if publisher is None:
            raise PublishError(f"{get_network(request.network).display} is not connected any more")
        result = publisher.publish(request)
    except Duplicate as exc:
        # Refused as a repeat: of our own earlier attempt, if the account has this text since
        # that attempt began. Confirmed by looking it up, never assumed.
        try:
            found = _confirm_duplicate(ctx, publisher, request)
        except CannotCheck as cannot:
            _ask_person(ctx, request.target_id, cannot.reason)
            return
        if found is None:
            _record_failure(ctx, request.target_id, exc)
        else:
            _record_success(ctx, request.target_id, found)
    except PublishError as exc:
        _record_failure(ctx, request.target_id, exc)
    except Exception as exc:  # the call may have reached the network: reconcile, never repost
        log.exception("publish of target %s ended in an unexpected error", request.target_id)
        _record_failure(ctx, request.target_id, exc)
    else:
        _record_success(ctx, request.target_id, result)


def _looking_back(tx: Tx, target_id: int, request: PublishRequest) -> PublishRequest:
    """The request, with how far back a lookup reads: the target's first attempt's start."""
    first = tx.session.scalar(
        select(func.min(PublishAttempt.started_at)).where(PublishAttempt.target_id == target_id)
    )
    if first is None:
        return request
    return dataclasses.replace(request, since=first - timedelta(seconds=LOOKBACK_SKEW_SECONDS))


def _confirm_duplicate(
    ctx: Context, publisher: Publisher | None, request: PublishRequest
) -> Published | None:
    if publisher is None:
        return None
    with ctx.tx() as tx:
        request = _looking_back(tx, request.target_id, request)
    try:
        found: Published | None = publisher.find(request)
    except CannotCheck:
        raise
    except Exception:
        log.exception("could not confirm the duplicate refusal of target %s", request.target_id)
        return None
    return found


def _finish_attempt(tx: Tx, target: Target, state: AttemptState, error: str | None) -> None:
    tx.session.connection().execute(
        _close_attempt_sql(),
        {"target": target.id, "outcome": state, "reason": error, "finished": tx.now},
    )


def _record_success(ctx: Context, target_id: int, result: Published) -> None:
    run_tx(ctx, lambda tx: _confirm(tx, target_id, result))


def _confirm(tx: Tx, target_id: int, result: Published) -> None:
    target = _load(tx, target_id)
    if target is None:
        return
    if not move_target(
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
    _finish_attempt(tx, target, AttemptState.SUCCEEDED, None)
    post = target.post
    name = get_network(target.network).display
    notify(
        tx,
        post,
        Message(
            text=f"🚀 #{post.number} published · {name}: {result.url}", post_number=post.number
        ),
    )


def _record_failure(ctx: Context, target_id: int, exc: Exception) -> None:
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
            _fail(tx, target, reason, way_forward=f"Reconnect: connect {target.network}")
        elif isinstance(exc, PublishError) and not exc.retryable:
            _fail(tx, target, reason)
        else:
            # A timeout or a crash: the post may exist. Ask the network before posting again.
            move_target(
                tx.session,
                target,
                "lose",
                now=tx.now,
                workspace_id=ws_id,
                detail={"reason": reason},
            )
            _finish_attempt(tx, target, AttemptState.UNKNOWN, reason)
            target.failure_reason = reason
            # Our client gave up, but the network may still be storing the post: look only
            # once it could have finished, or the lookup misses it and we post it twice.
            wait = max(MARGIN_SECONDS, min(60.0, 2.0**target.attempts))
            tx.later(RECONCILE, target.id, countdown=wait)


def _defer(tx: Tx, target: Target, until: datetime, reason: str) -> None:
    """Back to `scheduled` at `until`, giving the attempt back: only unclear outcomes count."""
    move_target(
        tx.session,
        target,
        "defer",
        now=tx.now,
        workspace_id=target.post.workspace_id,
        scheduled_at=until,
        attempts=max(0, target.attempts - 1),
        detail={"reason": reason},
    )
    _finish_attempt(tx, target, AttemptState.FAILED, reason)


def _fail(tx: Tx, target: Target, reason: str, *, way_forward: str | None = None) -> None:
    post = target.post
    move_target(
        tx.session,
        target,
        "fail",
        now=tx.now,
        workspace_id=post.workspace_id,
        failure_reason=reason,
        warnings=asking_cleared(target),
        detail={"reason": reason},
    )
    _finish_attempt(tx, target, AttemptState.FAILED, reason)
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


def _ask_person(ctx: Context, target_id: int, why: str) -> None:
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
        if not move_target(
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
        _finish_attempt(tx, target, AttemptState.UNKNOWN, why)
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


def reconcile(ctx: Context, target_id: int) -> None:
    """Settle a target whose last attempt ended without an answer: found, or post again."""
    with ctx.tx() as tx:
        target = tx.session.get(Target, target_id)
        if target is None or target.state != T.UNKNOWN:
            return
        request = _looking_back(tx, target.id, _request(target))
        attempts = target.attempts
    publisher = ctx.publishers.get(request.network)
    try:
        found = publisher.find(request) if publisher is not None else None
    except CannotCheck as exc:
        _ask_person(ctx, target_id, exc.reason)
        return
    except Exception:
        log.exception("reconciliation lookup failed for target %s", target_id)
        with ctx.tx() as tx:
            target = tx.session.get(Target, target_id)
            if target is not None and target.state == T.UNKNOWN:
                tx.later(RECONCILE, target.id, countdown=60.0)
        return
    if found is not None:
        _record_success(ctx, target_id, found)
        return
    with ctx.tx() as tx:
        target = tx.session.get(Target, target_id)
        if target is None or target.state != T.UNKNOWN or target.attempts != attempts:
            return
        if attempts >= ctx.settings.max_publish_attempts:
            _fail(
                tx,
                target,
                f"gave up after {attempts} attempts ({target.failure_reason or 'no answer'})",
            )
            return
        retry = _begin_attempt(tx, target, "resume")
    if retry is not None:
        # The same look-back, so a thread half out is finished rather than started again.
        _call_network(ctx, dataclasses.replace(retry, since=request.since))


# --- the sweeper ---------------------------------------------------------------------------


def sweep(ctx: Context) -> dict[str, int]:
    """Re-send lost nudges and hand stale attempts to reconciliation. Rows are the truth."""
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
            tx.later(PUBLISH, target.id)
            counts["queued"] += 1
        stale = select(Target).where(
            Target.state == T.PUBLISHING,
            Target.state_changed_at < older(s.stale_publishing_seconds or IN_FLIGHT_SECONDS),
        )
        for target in tx.session.scalars(stale.with_for_update(skip_locked=True, of=Target)):
            if move_target(
                tx.session,
                target,
                "lose",
                now=now,
                workspace_id=target.post.workspace_id,
                detail={"reason": "the worker stopped during the attempt"},
            ):
                _finish_attempt(tx, target, AttemptState.UNKNOWN, "worker stopped")
                tx.later(RECONCILE, target.id)
                counts["publishing"] += 1
        stale = select(Target).where(
            Target.state == T.UNKNOWN, Target.state_changed_at < older(s.stale_queued_seconds)
        )
        for target in tx.session.scalars(stale.with_for_update(skip_locked=True, of=Target)):
            tx.later(RECONCILE, target.id)
            counts["unknown"] += 1
        posts = select(Post).where(
            Post.state == P.GENERATING, Post.updated_at < older(s.stale_generating_seconds)
        )
        for post in tx.session.scalars(posts.with_for_update(skip_locked=True, of=Post)):
            tx.later(GENERATE, post.id)
            counts["generating"] += 1
    for row_id in inbox.unstarted(ctx, s.stale_queued_seconds):
        ctx.queue.enqueue(inbox.RUN, row_id)
    lost = delivery.undelivered(ctx, timedelta(seconds=s.stale_queued_seconds))
    for message_id in lost:
        ctx.queue.enqueue(delivery.DELIVER, message_id)
    counts["messages"] = len(lost)
    delivery.forget_old_events(ctx)
    return counts


# --- what is still moving --------------------------------------------------------------------


def in_flight(
    ctx: Context, workspace_id: int, numbers: list[int], *, drafts_only: bool = False
) -> list[str]:
    """Work the given posts still have in progress right now (future schedules excluded)."""
    if not numbers:
        return []
    with ctx.tx() as tx:
        busy: list[str] = []
        posts = tx.session.scalars(
            select(Post).where(Post.workspace_id == workspace_id, Post.number.in_(numbers))
        ).all()
        for post in posts:
            if post.state == P.GENERATING:
                busy.append(f"#{post.number} is being drafted")
                continue
            if drafts_only:
                continue
            moving = [
                t.network
                for t in post.targets
                if t.state in {T.QUEUED, T.PUBLISHING, T.UNKNOWN}
                or (
                    t.state == T.SCHEDULED
                    and t.scheduled_at is not None
                    and t.scheduled_at <= tx.now
                    and post.state == P.APPROVED
                )
            ]
            if moving:
                busy.append(f"#{post.number} is being published to {networks_phrase(moving)}")
        return busy


def outbound_after(ctx: Context, workspace_id: int, after_id: int) -> list[tuple[int, Message]]:
    with ctx.tx() as tx:
        rows = tx.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.workspace_id == workspace_id, OutboundMessage.id > after_id)
            .order_by(OutboundMessage.id)
        ).all()
        return [(row.id, Message.from_payload(row.payload)) for row in rows]


def last_outbound_id(ctx: Context, workspace_id: int) -> int:
    from sqlalchemy import func

    with ctx.tx() as tx:
        value = tx.session.scalar(
            select(func.max(OutboundMessage.id)).where(OutboundMessage.workspace_id == workspace_id)
        )
        return int(value or 0)
