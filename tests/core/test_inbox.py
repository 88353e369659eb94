"""Commands accepted before an ack: many at once share a write, and each runs exactly once."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text

from bot.runtime import Runtime
from core.ratelimit import TooFast
from storage.models import InboxCommand, Post, SurfaceKind
from tests.support.helpers import accept_together, actor, eventually

MARIA = actor("maria")
# The terminal is never limited: a person on Slack is.
SLACKER = replace(MARIA, surface=SurfaceKind.SLACK, workspace_id="T0ACME", conversation="C0G")


def test_a_burst_of_commands_is_stored_and_run_once_each(runtime: Runtime) -> None:
    briefs = [f"draft Burst brief {i:02d} --to outbox" for i in range(40)]
    ids = accept_together(runtime, briefs)
    assert all(isinstance(i, int) for i in ids), ids
    assert len(set(ids)) == 40
    # That each caller got its own row's id is checked with no worker running (rows are
    # purged once run): test_callers_that_wait_and_callers_that_cannot_are_stored_together.

    def drafted() -> list[str]:
        with runtime.db.session() as s:
            return list(s.scalars(select(Post.brief)))

    eventually(lambda: len(drafted()) >= 40, timeout=60, what="40 drafts")
    assert sorted(drafted()) == sorted(f"Burst brief {i:02d}" for i in range(40))
    with runtime.db.session() as s:
        numbers = sorted(s.scalars(select(Post.number)))
        left = s.scalar(select(func.count()).select_from(InboxCommand))
    assert numbers == list(range(1, 41))
    assert left == 0  # run, then purged: no command text stays behind


def test_a_failed_write_reaches_every_caller_and_stores_nothing(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.accept(MARIA, "queue")  # the table exists and the pools are warm
    with rt.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE inbox_commands RENAME TO inbox_commands_away"))
    try:
        results = accept_together(rt, [f"draft Lost {i} --to outbox" for i in range(8)])
    finally:
        with rt.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbox_commands_away RENAME TO inbox_commands"))
    assert all(isinstance(r, Exception) for r in results), results
    with rt.db.session() as s:
        assert list(s.scalars(select(InboxCommand.text))) == ["queue"]
    # The next command goes through: the lead was handed back.
    assert isinstance(rt.herald.accept(MARIA, "queue"), int)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_an_ack_survives_the_database_dropping_its_connections(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    first = rt.herald.accept(MARIA, "queue")
    with rt.db.engine.begin() as conn:  # as a restart or a failover would
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    second = rt.herald.accept(MARIA, "draft After the restart --to outbox")
    assert first is not None and second is not None  # stored, not a replay
    assert second > first
    with rt.db.session() as s:
        texts = list(s.scalars(select(InboxCommand.text).order_by(InboxCommand.id)))
    assert texts == ["queue", "draft After the restart --to outbox"]  # stored once


def test_callers_that_wait_and_callers_that_cannot_are_stored_together(
    idle_runtime: Runtime,
) -> None:
    """Blocking callers (Socket Mode, Telegram) and event-loop callers (Slack over HTTP) share
    the lead: each gets its own row, whoever writes the batch."""
    rt = idle_runtime
    told: dict[str, int | Exception] = {}
    all_told = threading.Event()

    def later(i: int) -> None:
        text = f"draft Later {i:02d} --to outbox"

        def done(row_id: int, error: Exception | None) -> None:
            told[text] = error or row_id
            if len(told) == 20:
                all_told.set()

        rt.herald.accept_later(MARIA, text, done)

    barrier = threading.Barrier(40)
    waited: dict[str, int | None] = {}

    def blocking(i: int) -> None:
        barrier.wait()
        text = f"draft Waited {i:02d} --to outbox"
        waited[text] = rt.herald.accept(MARIA, text)

    def calling_later(i: int) -> None:
        barrier.wait()
        later(i)

    threads = [threading.Thread(target=blocking, args=(i,)) for i in range(20)]
    threads += [threading.Thread(target=calling_later, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all_told.wait(30), told
    assert len(waited) == 20
    ids = {**waited, **told}
    assert all(isinstance(i, int) for i in ids.values()), ids
    with rt.db.session() as s:
        stored = dict(s.execute(select(InboxCommand.id, InboxCommand.text)).all())
    assert len(stored) == 40
    assert {stored[i]: i for i in stored} == ids


def test_a_burst_over_the_limit_stores_only_the_allowed_and_each_trigger_once(
    idle_runtime: Runtime,
) -> None:
    """Limits and one-time keys are judged per command even when a batch counts them in one
    round trip: of 30 commands from one person with room for 20, 20 are stored and 10 told;
    of a trigger_id sent three times together, one is stored."""
    rt = idle_runtime
    ctx = rt.herald.ctx
    ctx.settings = ctx.settings.model_copy(update={"command_rate_limit": 20})
    fast = replace(SLACKER, user_id=f"U0{uuid.uuid4().hex[:8].upper()}")  # Redis outlives tests
    results = accept_together(rt, [f"queue {i}" for i in range(30)], [fast] * 30)
    refused = [r for r in results if isinstance(r, TooFast)]
    assert len(refused) == 10, results
    assert "faster than I can take them" in str(refused[0])
    assert sum(isinstance(r, int) for r in results) == 20

    once = f"trigger:{uuid.uuid4().hex}"
    other = replace(SLACKER, user_id=f"U0{uuid.uuid4().hex[:8].upper()}")
    barrier = threading.Barrier(3)
    got: list[int | None] = []

    def replayed() -> None:
        barrier.wait()
        got.append(rt.herald.accept(other, "draft Once only --to outbox", once=once))

    threads = [threading.Thread(target=replayed) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got, key=lambda g: g or 0)[:2] == [None, None] and got.count(None) == 2
    with rt.db.session() as s:
        stored = s.scalars(select(InboxCommand.actor)).all()
    assert sum(a["user_id"] == fast.user_id for a in stored) == 20
    assert sum(a["user_id"] == other.user_id for a in stored) == 1
