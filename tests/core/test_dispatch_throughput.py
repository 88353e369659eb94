"""Dispatch keeps up with the workers: a tick claims everything due, never twice, and a publish
costs a fixed, small number of SQL statements and survives a dropped database connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import make_transient

from bot.runtime import Runtime, build_runtime
from core.jobs import Job
from core.scheduling import jobs as pipeline
from core.settings import Settings
from storage.models import AuditEvent, Post, PublishAttempt, Target, TargetState
from tests.support.helpers import actor, outbox_files

MARIA = actor("maria")
# What one publish costs on the database, counted at the cursor: a transaction before the
# network call (load the target with its post and workspace, move it, audit row, attempt row)
# and one after (load, move, close the attempt, audit row, the published message). It was 15
# when the post and workspace were loaded lazily and the attempt looked up by query. Since
# issue 13 a published target also joins the figures: its `latest_figures` row and its three
# snapshots planned, two INSERTs without a look first (core.analytics.store.published, first=True).
# Since the audit chain (issue 15), each of the two commits seals its audit row: read and lock
# the workspace's chain head with the rows to seal (one statement), write their hashes, move
# the head (storage.auditchain.seal_workspace): 3 statements a transaction, 17 in all.
PUBLISH_STATEMENTS = 17


def _due_targets(rt: Runtime, count: int) -> list[int]:
    """`count` approved outbox targets due now: one made through the chat, the rest copies."""
    reply = rt.herald.handle(MARIA, "draft Throughput --to outbox")
    assert reply.post_number == 1
    with rt.db.session() as s:
        post_id = s.scalars(select(Target.post_id)).one()
    rt.herald.generate(post_id)
    assert rt.herald.handle(MARIA, "approve 1").text.startswith("✅")  # type: ignore[union-attr]
    with rt.db.session() as s:
        post = s.scalars(select(Post)).one()
        target = post.targets[0]
        assert target.state == TargetState.SCHEDULED
        s.expunge_all()
        for number in range(2, count + 1):
            copy_post, copy_target = _copy(post), _copy(target)
            copy_post.number = number
            copy_post.targets = [copy_target]
            copy_target.text = f"{target.text} {number}"
            s.add(copy_post)
        s.flush()
        return list(s.scalars(select(Target.id).order_by(Target.id)))


def _copy(row: Any) -> Any:
    fresh = type(row)()
    for column in row.__table__.columns:
        if column.key != "id":
            setattr(fresh, column.key, getattr(row, column.key))
    make_transient(fresh)
    return fresh


def _states(rt: Runtime) -> dict[str, int]:
    with rt.db.session() as s:
        rows = s.execute(select(Target.state, func.count()).group_by(Target.state)).all()
        return {state.value: n for state, n in rows}


def _claims_per_target(rt: Runtime) -> dict[int | None, int]:
    with rt.db.session() as s:
        rows = s.execute(
            select(AuditEvent.target_id, func.count())
            .where(AuditEvent.action == "target.claim")
            .group_by(AuditEvent.target_id)
        ).all()
        return {target_id: n for target_id, n in rows}


class Recorder:
    """The job queue, remembering what was sent instead of sending it."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[int, ...]]] = []

    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        self.jobs.append((task, args))


@contextmanager
def _statements(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite says it, psycopg does not
            seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)


def test_one_tick_claims_everything_due(idle_runtime: Runtime) -> None:
    count = pipeline.DISPATCH_BATCH * 2 + 7
    ids = _due_targets(idle_runtime, count)
    sent = Recorder()
    idle_runtime.herald.ctx.queue = sent
    assert idle_runtime.herald.dispatch_due() == count
    assert _states(idle_runtime) == {"queued": count}
    assert sorted(args[0] for task, args in sent.jobs if task == Job.PUBLISH) == ids
    assert idle_runtime.herald.dispatch_due() == 0


def test_a_tick_out_of_time_hands_over_to_the_next(
    idle_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick that used its time with work still due sends itself again at once, instead of
    leaving the rest to wait for the next beat."""
    count = pipeline.DISPATCH_BATCH * 2 + 1
    _due_targets(idle_runtime, count)
    monkeypatch.setattr(pipeline, "DISPATCH_SECONDS", 0.0)
    sent = Recorder()
    idle_runtime.herald.ctx.queue = sent
    assert idle_runtime.herald.dispatch_due() == pipeline.DISPATCH_BATCH
    assert (Job.DISPATCH, ()) in sent.jobs
    assert idle_runtime.herald.dispatch_due() == pipeline.DISPATCH_BATCH
    sent.jobs.clear()
    assert idle_runtime.herald.dispatch_due() == 1  # the last batch was not full: done
    assert (Job.DISPATCH, ()) not in sent.jobs
    assert _states(idle_runtime) == {"queued": count}


def test_ticks_at_once_never_claim_a_target_twice(idle_runtime: Runtime) -> None:
    count = pipeline.DISPATCH_BATCH * 3 + 11
    ids = _due_targets(idle_runtime, count)
    sent = Recorder()
    idle_runtime.herald.ctx.queue = sent
    claimed: list[int] = []
    start = threading.Barrier(4)

    def tick() -> None:
        start.wait()
        claimed.append(idle_runtime.herald.dispatch_due())

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(claimed) == count
    assert _claims_per_target(idle_runtime) == dict.fromkeys(ids, 1)
    published = [args[0] for task, args in sent.jobs if task == Job.PUBLISH]
    assert sorted(published) == ids  # one publish job per target, none twice


def test_a_publish_costs_few_statements(idle_runtime: Runtime) -> None:
    first, second = _due_targets(idle_runtime, 2)
    idle_runtime.herald.ctx.queue = Recorder()
    assert idle_runtime.herald.dispatch_due() == 2
    idle_runtime.herald.publish(first)  # warms the caches a long-running worker has
    with _statements(idle_runtime) as seen:
        idle_runtime.herald.publish(second)
    assert _states(idle_runtime) == {"published": 2}
    assert len(seen) <= PUBLISH_STATEMENTS, "\n".join(seen)


def _terminate_connections(url: str) -> int:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("+psycopg", "").rsplit("/", 1)[0] + "/test") as conn:
        conn.autocommit = True
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_publish_survives_every_connection_terminated(settings: Settings) -> None:
    """No pre-ping per checkout (as `herald worker` runs): a connection the server dropped
    fails its transaction, which runs again on a fresh one. The post goes out once, with no
    error and no waiting."""
    idle_runtime = build_runtime(settings, pre_ping=False)
    try:
        _publish_through_terminated_connections(idle_runtime)
    finally:
        idle_runtime.close()


def _publish_through_terminated_connections(idle_runtime: Runtime) -> None:
    first, second, third = _due_targets(idle_runtime, 3)
    idle_runtime.herald.ctx.queue = Recorder()
    assert idle_runtime.herald.dispatch_due() == 3
    idle_runtime.herald.publish(first)
    url = idle_runtime.settings.database_url
    assert url is not None
    assert _terminate_connections(url) >= 1
    idle_runtime.herald.publish(second)
    _terminate_connections(url)
    assert idle_runtime.herald.dispatch_due() == 0
    idle_runtime.herald.publish(third)
    assert _states(idle_runtime) == {"published": 3}
    assert len(outbox_files(idle_runtime)) == 3
    with idle_runtime.db.session() as s:
        attempts = s.scalars(select(PublishAttempt.target_id).order_by(PublishAttempt.target_id))
        assert list(attempts) == [first, second, third]


def test_a_target_taken_back_is_not_published(idle_runtime: Runtime) -> None:
    """The publish re-reads the row: a target no longer queued is left alone."""
    first, second = _due_targets(idle_runtime, 2)
    idle_runtime.herald.ctx.queue = Recorder()
    assert idle_runtime.herald.dispatch_due() == 2
    with idle_runtime.db.session() as s:
        s.execute(update(Target).where(Target.id == second).values(state=TargetState.FAILED))
    idle_runtime.herald.publish(first)
    idle_runtime.herald.publish(second)
    assert _states(idle_runtime) == {"published": 1, "failed": 1}
    assert len(outbox_files(idle_runtime)) == 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_command_right_after_the_database_dropped_every_connection_is_answered(
    idle_runtime: Runtime,
) -> None:
    """Processes that answer people keep the pre-ping: a command is not run again, so the first
    one after a database restart must not fail."""
    assert not idle_runtime.herald.handle(actor(), "queue").error
    assert idle_runtime.settings.database_url is not None
    assert _terminate_connections(idle_runtime.settings.database_url) >= 1
    reply = idle_runtime.herald.handle(actor(), "queue")
    assert not reply.error, reply.text
