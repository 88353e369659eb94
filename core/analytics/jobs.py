"""The collection tick: read published posts' figures back from their networks when their
snapshots are due (+1 h, +24 h and +7 d after publication, or asked for with `stats <n>`),
keep each reading, and say the +24 h figures in the post's thread.

A tick claims due rows of `snapshot_schedule` in batches (core.analytics.schedule.claim: SKIP
LOCKED, each row leased for `schedule.LEASE`), asks each (workspace, network) group's targets
with one `read` of that network's publisher, outside any transaction, and records what came
back in one short transaction per group. What becomes of a claimed row:

* read: a snapshot with the row's milestone; the row is done.
* gone (the network answered 404): one snapshot marked gone that keeps the last figures read;
  every pending row of the target is done, so it is never asked again.
* 429 (`RateLimited`): the group's rows wait until the network's `until`; nothing sleeps.
* left out of the answer, or any other error: the row backs off, `BACKOFF_FIRST` doubled at
  each attempt up to `BACKOFF_MAX`.
* no usable account for the network in the workspace (none connected, or only expired or
  revoked ones), or the network refused the token (`TokenExpired`, which marks the account
  expired): the network is not called; the rows wait `DISCONNECTED_WAIT`.
* a row whose next try would come more than `GIVE_UP` after it was due is done without a
  snapshot: a "+1 h" figure read days late measures nothing, and a post whose account is never
  reconnected must not be claimed forever.
* a target with no id on its network (a person said it went out, `posted`) or no longer
  published: nothing to ask by; done.

Every write checks that the row is still this claim's (not done, `attempts` as claimed): a
worker that outlived its lease finds the row taken by another tick and drops its reading, so
each milestone is recorded once however many ticks run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, tuple_, update
from sqlalchemy.orm import Session, joinedload, selectinload

from core import metrics
from core.analytics import figures, queries, schedule, store
from core.context import Context, Tx, run_tx
from core.errors import PublishError, RateLimited, TokenExpired
from core.jobs import Job
from core.messaging.say import notify
from core.networks import NETWORKS, get_network
from core.ports import FiguresRequest, Reading
from core.posts.card import Message, build_card, counts_text
from core.workspace.people import zone_of
from storage.models import ConnectedAccount, Post, Target, TargetState
from storage.models_analytics import LatestFigures, MetricsSnapshot, Milestone, SnapshotDue

log = logging.getLogger(__name__)

# Rows claimed per transaction: a batch's reads are a few requests per network (X takes 100
# ids a request), and its locks are held for milliseconds.
COLLECT_BATCH = 100
# How long one tick goes on claiming before it hands over to a fresh tick sent at once, so a
# worker thread is never held by one tick for long (reads wait on the networks).
COLLECT_SECONDS = 30.0
# Nobody reconnects an account within minutes: the tick runs every minute, and looking again
# each time would claim and move the same rows 360 times in six hours for nothing. The health
# check (every 6 h) warns the owner meanwhile; the first tick after a reconnection that is
# at most this long ago reads what was waiting.
DISCONNECTED_WAIT = timedelta(hours=6)
BACKOFF_FIRST = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=6)  # 5, 10, 20 … 320 min, then every 6 h
GIVE_UP = timedelta(days=3)
# The "your median" of the +24 h line: the workspace's posts on the same network this recent.
MEDIAN_WINDOW = timedelta(days=90)
UNUSABLE = ("expired", "revoked")
_SCHEDULE = cast(Table, SnapshotDue.__table__)


@dataclass(frozen=True)
class Claimed:
    """One claimed row of the schedule, as the claim left it."""

    row_id: int
    attempts: int
    milestone: Milestone
    due_at: datetime


@dataclass
class Work:
    """One target to read, and the rows of it this claim holds (usually one)."""

    request: FiguresRequest
    rows: list[Claimed] = field(default_factory=list)


@dataclass
class Batch:
    claimed: int = 0
    # (workspace id, network) -> its targets
    groups: dict[tuple[int, str], list[Work]] = field(default_factory=dict)


def collect(ctx: Context) -> int:
    """Read and record every due snapshot, batch by batch; the number of snapshots recorded.
    A tick out of time with a full last batch sends the next tick at once."""
    started = time.monotonic()
    recorded = 0
    while True:
        batch = run_tx(ctx, lambda tx: _claim_batch(ctx, tx))
        for (_, network), work in batch.groups.items():
            recorded += _read_group(ctx, network, work)
        if batch.claimed < COLLECT_BATCH:
            return recorded
        if time.monotonic() - started >= COLLECT_SECONDS:
            ctx.queue.enqueue(Job.COLLECT)
            return recorded


# --- claiming -------------------------------------------------------------------------------


def _claim_batch(ctx: Context, tx: Tx) -> Batch:
    rows = schedule.claim(tx.session, tx.now, COLLECT_BATCH)
    batch = Batch(claimed=len(rows))
    if not rows:
        return batch
    claimed = {
        row.id: (row.target_id, Claimed(row.id, row.attempts, row.milestone, row.due_at))
        for row in rows
    }
    targets = {
        target.id: target
        for target in tx.session.execute(
            select(
                Target.id,
                Target.network,
                Target.state,
                Target.external_id,
                Target.external_url,
                Target.account_id,
                Post.workspace_id,
                LatestFigures.gone,
            )
            .join(Post, Post.id == Target.post_id)
            .outerjoin(LatestFigures, LatestFigures.target_id == Target.id)
            .where(Target.id.in_({target_id for target_id, _ in claimed.values()}))
        )
    }
    closed: list[Claimed] = []
    works: dict[int, Work] = {}
    for target_id, row in claimed.values():
        target = targets.get(target_id)
        if (
            target is None
            or target.state != TargetState.PUBLISHED
            or not target.external_id
            or target.gone  # deleted on its network: never asked again, even on demand
        ):
            closed.append(row)
            continue
        work = works.get(target_id)
        if work is None:
            request = FiguresRequest(
                target_id=target_id,
                network=target.network,
                external_id=target.external_id,
                url=target.external_url,
                workspace_id=target.workspace_id,
                account_id=target.account_id,
            )
            work = works[target_id] = Work(request)
            batch.groups.setdefault((target.workspace_id, target.network), []).append(work)
        work.rows.append(row)
    _close(tx, closed)
    usable = _usable(ctx, tx.session, batch.groups)
    for key in list(batch.groups):
        waiting = [w for w in batch.groups[key] if not usable(w.request)]
        if waiting:
            # Never call a network for a workspace that has no usable account there.
            _move(tx, [row for w in waiting for row in w.rows], tx.now + DISCONNECTED_WAIT)
            batch.groups[key] = [w for w in batch.groups[key] if usable(w.request)]
            if not batch.groups[key]:
                del batch.groups[key]
    return batch


def _usable(
    ctx: Context, session: Session, groups: dict[tuple[int, str], list[Work]]
) -> Callable[[FiguresRequest], bool]:
    """Whether a request's account may be used: the target's own account, or any of the
    workspace's on that network, connected and neither expired nor revoked. A workspace with
    no account on a network is asked the publisher (the outbox needs none)."""
    if not groups:
        return lambda request: False
    rows = session.execute(
        select(
            ConnectedAccount.id,
            ConnectedAccount.workspace_id,
            ConnectedAccount.network,
            ConnectedAccount.status,
        ).where(
            ConnectedAccount.workspace_id.in_({ws for ws, _ in groups}),
            ConnectedAccount.network.in_({network for _, network in groups}),
        )
    )
    known: dict[tuple[int, str], set[int]] = {}
    good: set[int] = set()
    for account_id, workspace_id, network, status in rows:
        known.setdefault((workspace_id, network), set()).add(account_id)
        if status not in UNUSABLE:
            good.add(account_id)
    needs_none = {
        key
        for key in groups
        if key not in known and _needs_no_account(ctx, session, key[1], key[0])
    }

    def usable(request: FiguresRequest) -> bool:
        key = (request.workspace_id, request.network)
        if key in needs_none:
            return True
        if request.account_id is not None:
            return request.account_id in good
        return bool(known.get(key, set()) & good)

    return usable


def _needs_no_account(ctx: Context, session: Session, network: str, workspace_id: int) -> bool:
    publisher = ctx.publishers.get(network)
    return publisher is not None and publisher.is_connected(session, workspace_id)


# --- reading --------------------------------------------------------------------------------


def _read_group(ctx: Context, network: str, work: list[Work]) -> int:
    """One network call (the publisher batches as its API allows) and its outcome."""
    rows = [row for item in work for row in item.rows]
    publisher = ctx.publishers.get(network)
    read = getattr(publisher, "read", None)
    name = NETWORKS[network].display if network in NETWORKS else network
    try:
        if read is None:
            raise PublishError(f"Herald can't read figures from {name}")
        with metrics.calling(network):
            answer = cast(dict[int, Reading], read([item.request for item in work]))
    except RateLimited as exc:
        metrics.SNAPSHOT_READS.labels(network, "rate_limited").inc()
        until = exc.until
        log.info("%s asked to slow down reading figures; back at %s", name, until)
        run_tx(ctx, lambda tx: _move(tx, rows, until))
        return 0
    except TokenExpired as exc:
        metrics.SNAPSHOT_READS.labels(network, "token_expired").inc()
        log.warning("%s refused the token reading figures: %s", name, exc.reason)
        run_tx(ctx, lambda tx: _move(tx, rows, tx.now + DISCONNECTED_WAIT))
        return 0
    except PublishError as exc:
        metrics.SNAPSHOT_READS.labels(network, "failed").inc()
        log.warning("reading %d %s targets' figures failed: %s", len(work), name, exc.reason)
        run_tx(ctx, lambda tx: _back_off(tx, rows))
        return 0
    except Exception:  # one network's failure must not stop the others' collection
        metrics.SNAPSHOT_READS.labels(network, "failed").inc()
        log.exception("reading %d %s targets' figures failed", len(work), name)
        run_tx(ctx, lambda tx: _back_off(tx, rows))
        return 0
    metrics.SNAPSHOT_READS.labels(network, "ok").inc()
    stored = run_tx(ctx, lambda tx: _record(tx, work, answer))
    metrics.SNAPSHOTS.labels(network).inc(stored)
    return stored


# --- recording ------------------------------------------------------------------------------


def _record(tx: Tx, work: list[Work], answer: dict[int, Reading]) -> int:
    recorded = 0
    read: list[tuple[Work, Reading]] = []
    for item in work:
        reading = answer.get(item.request.target_id)
        if reading is None:  # not read this time
            _back_off(tx, item.rows)
        elif reading.gone:
            recorded += _gone(tx, item)
        else:
            read.append((item, reading))
    # A row another tick took once this claim's lease ran out is that tick's to record.
    mine = {row.row_id for row in _close(tx, [row for item, _ in read for row in item.rows])}
    snapshots = [
        _snapshot(item.request.target_id, row.milestone, tx.now, reading)
        for item, reading in read
        for row in item.rows
        if row.row_id in mine
    ]
    store.record_many(tx.session, snapshots)
    day = [snapshot for snapshot in snapshots if snapshot.milestone == Milestone.DAY]
    if day:
        _say_day(tx, work[0].request, day)
    return recorded + len(snapshots)


def _snapshot(
    target_id: int, milestone: Milestone, now: datetime, reading: Reading
) -> MetricsSnapshot:
    return MetricsSnapshot(
        target_id=target_id,
        milestone=milestone,
        taken_at=now,
        impressions=reading.impressions,
        likes=reading.likes,
        reposts=reading.reposts,
        replies=reading.replies,
        quotes=reading.quotes,
        clicks=reading.clicks,
        gone=False,
        raw=dict(reading.raw),
    )


def _gone(tx: Tx, item: Work) -> int:
    """Deleted on its network: keep the last figures read, marked gone, and ask no more."""
    mine = _close(tx, item.rows)
    if not mine:
        return 0
    target_id = item.request.target_id
    tx.session.execute(
        update(_SCHEDULE)
        .where(_SCHEDULE.c.target_id == target_id, _SCHEDULE.c.done_at.is_(None))
        .values(done_at=tx.now)
    )
    f = LatestFigures
    last = tx.session.execute(
        select(f.impressions, f.likes, f.reposts, f.replies, f.quotes, f.clicks).where(
            f.target_id == target_id, f.taken_at.is_not(None)
        )
    ).first()
    counts: dict[str, Any] = {} if last is None else dict(last._mapping)
    store.record(
        tx.session,
        MetricsSnapshot(
            target_id=target_id,
            milestone=mine[0].milestone,
            taken_at=tx.now,
            gone=True,
            raw={},
            **{"likes": 0, "reposts": 0, "replies": 0, "quotes": 0, **counts},
        ),
    )
    return 1


def _close(tx: Tx, rows: Sequence[Claimed]) -> list[Claimed]:
    """Mark rows done, each only if it is still this claim's (one UPDATE); those that were."""
    if not rows:
        return []
    c = _SCHEDULE.c
    done = set(
        tx.session.scalars(
            update(_SCHEDULE)
            .where(
                tuple_(c.id, c.attempts).in_([(row.row_id, row.attempts) for row in rows]),
                c.done_at.is_(None),
            )
            .values(done_at=tx.now)
            .returning(c.id)
        )
    )
    return [row for row in rows if row.row_id in done]


def _move(tx: Tx, rows: Iterable[Claimed], until: datetime) -> None:
    """Try again at `until`, or give up on a row that would then be too late to mean much."""
    for row in rows:
        if until - row.due_at > GIVE_UP:
            if _still_mine(tx, row, done_at=tx.now):
                log.info("gave up the %s snapshot of schedule row %s", row.milestone, row.row_id)
        else:
            _still_mine(tx, row, next_try_at=until)


def _back_off(tx: Tx, rows: Iterable[Claimed]) -> None:
    for row in rows:
        wait = min(BACKOFF_FIRST * 2 ** max(0, row.attempts - 1), BACKOFF_MAX)
        _move(tx, [row], tx.now + wait)


def _still_mine(tx: Tx, row: Claimed, **values: Any) -> bool:
    moved = tx.session.execute(
        update(_SCHEDULE)
        .where(
            _SCHEDULE.c.id == row.row_id,
            _SCHEDULE.c.done_at.is_(None),
            _SCHEDULE.c.attempts == row.attempts,
        )
        .values(**values)
    )
    return bool(getattr(moved, "rowcount", 0))


# --- the +24 h line -------------------------------------------------------------------------


def _say_day(tx: Tx, group: FiguresRequest, snapshots: list[MetricsSnapshot]) -> None:
    """For each post: its card, redrawn with its figures, and one line in its thread, this
    network's +24 h figures against the workspace's median on the same network. The median is
    read once for the group (one workspace, one network), of the posts before it: those
    measured in the same tick are not compared with each other."""
    others = queries.at_milestone(
        tx.session,
        group.workspace_id,
        Milestone.DAY,
        tx.now - MEDIAN_WINDOW,
        network=group.network,
        excluding=[snapshot.target_id for snapshot in snapshots],
    )
    name = get_network(group.network).display
    posts = {
        target_id: post
        for post, target_id in tx.session.execute(
            select(Post, Target.id)
            .join(Target, Target.post_id == Post.id)
            .where(Target.id.in_([snapshot.target_id for snapshot in snapshots]))
            .options(
                selectinload(Post.targets),
                joinedload(Post.author),
                joinedload(Post.workspace),
            )
        ).unique()
    }
    for snapshot in snapshots:
        post = posts[snapshot.target_id]
        interactions = snapshot.likes + snapshot.reposts + snapshot.replies + snapshot.quotes
        counts = counts_text(
            impressions=snapshot.impressions,
            likes=snapshot.likes,
            reposts=snapshot.reposts,
            replies=snapshot.replies,
            quotes=snapshot.quotes,
            clicks=snapshot.clicks,
        )
        versus = figures.versus_median(interactions + (snapshot.clicks or 0), others)
        card = build_card(post, tz=zone_of(post.author, post.workspace), now=tx.now)
        text = day_line(post.number, name, counts, versus)
        notify(tx, post, Message(text=text, card=card, post_number=post.number))


def day_line(number: int, network: str, counts: str, versus: figures.VersusMedian) -> str:
    """ "📈 #12 after 24 h on X: 1,204 impressions · 38 likes · 41 interactions, 2.1x your
    median" (a multiplication sign, not an x). The median is of the same network only: an
    ordinary post does ten times better on one network than on another, so a median across
    networks would say nothing."""
    value = int(versus.value)
    noun = "interaction" if value == 1 else "interactions"
    if versus.median is None:
        compared = f"{value:,} {noun}, your first {network} post measured at 24 h"
    elif versus.ratio is None:
        compared = f"{value:,} {noun}; your median {network} post had none at 24 h"
    elif versus.verdict is not None:
        compared = f"{value:,} {noun}, {versus.verdict} your median ({_times(versus.ratio)})"
    else:
        compared = f"{value:,} {noun}, {_times(versus.ratio)} your median"
    return f"📈 #{number} after 24 h on {network}: {counts} · {compared}"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 0.1 else f"{ratio:.1f}×"
