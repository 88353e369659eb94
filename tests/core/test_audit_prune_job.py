"""The audit prune on the scheduler, on both backends: daily when HERALD_AUDIT_RETENTION_DAYS
is set, nothing at 0; `herald audit verify` passes after it; two at once (two schedulers)
delete each row once and write the checkpoint once; a broken chain is left whole and the
other workspaces are still pruned."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.schedules import crontab
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import event, func, select, update

from bot.cli import main
from bot.runtime import Runtime, build_runtime
from core.audit import audit_row
from core.auditlog import upkeep
from core.jobs import Job
from core.settings import Settings
from storage.auditchain import EVENTS
from storage.models import AuditChain, AuditEvent, Workspace
from storage.vault import new_key
from tests.support.helpers import actor, herald_env
from workers.app import create_celery

MARIA = actor("maria")
NOW = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)
OLD = NOW - timedelta(days=400)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def keeping(settings: Settings, days: int) -> Settings:
    """The test's settings with a retention and a secret key of their own (so the CLI, built
    from the same environment, checks the checkpoint with the key that signed it)."""
    return settings.model_copy(
        update={"audit_retention_days": days, "secret_key": SecretStr(new_key())}
    )


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = build_runtime(keeping(settings, 365))
    yield runtime
    runtime.close()


def seed(rt: Runtime, workspace: str = "local", count: int = 3) -> int:
    """A workspace whose chain holds `count` rows from 400 days ago, then one from now."""
    with rt.db.session() as s:
        before = {w for w in s.scalars(select(Workspace.id))}
    rt.herald.ctx.clock = Clock(OLD)
    rt.herald.handle(actor("maria", workspace=workspace), "queue")  # makes the workspace
    with rt.db.session() as s:
        (ws,) = set(s.scalars(select(Workspace.id))) - before
        s.add_all(
            AuditEvent(**audit_row(ws, "test.old", now=OLD, detail={"n": n})) for n in range(count)
        )
    with rt.db.session() as s:
        s.add(AuditEvent(**audit_row(ws, "test.now", now=NOW)))
    rt.herald.ctx.clock = Clock(NOW)
    return ws


def audit_rows(rt: Runtime, ws: int) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.workspace_id == ws)) or 0


def run_task(rt: Runtime) -> Any:
    """The scheduled task, as a worker runs it (registered on the app, routed by name)."""
    # .result, not .get(): once a worker has run in this process (an earlier test), Celery
    # refuses a blocking get() as if it were called from inside a task.
    result = rt.celery.tasks[str(Job.PRUNE_AUDIT)].apply()
    assert result.successful(), result.traceback
    return result.result


def test_the_scheduler_prunes_the_audit_log_daily_only_with_a_retention(
    settings: Settings,
) -> None:
    forever = create_celery(keeping(settings, 0))
    assert "prune-audit" not in forever.conf.beat_schedule
    app = create_celery(keeping(settings, 30))
    entry = app.conf.beat_schedule["prune-audit"]
    assert entry["task"] == "herald.prune_audit"
    assert entry["schedule"] == crontab(minute=30, hour=3)
    assert str(Job.PRUNE_AUDIT) in app.tasks
    assert app.conf.task_routes[str(Job.PRUNE_AUDIT)]["queue"].endswith(".maintain")


def test_the_scheduled_prune_leaves_a_chain_that_verifies(rt: Runtime) -> None:
    ws = seed(rt)
    assert audit_rows(rt, ws) == 4
    assert run_task(rt) == {"rows": 3, "workspaces": 1}
    assert audit_rows(rt, ws) == 1
    (verdict,) = upkeep.verify(rt.db, list(rt.herald.ctx.audit_keys))
    assert verdict.ok, verdict.problems
    assert verdict.checkpoint_seq == 3
    # The operator's `herald audit verify` agrees, with the install's key from the environment.
    env = herald_env(rt.settings)
    assert rt.settings.secret_key is not None
    env["HERALD_SECRET_KEY"] = rt.settings.secret_key.get_secret_value()
    checked = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert checked.exit_code == 0, checked.output
    assert f"workspace {ws}: ok, 1 rows after checkpoint 3" in checked.output
    # The next day finds nothing more, and new rows chain on.
    rt.herald.handle(MARIA, "queue")
    assert run_task(rt) == {"rows": 0, "workspaces": 0}
    assert all(v.ok for v in upkeep.verify(rt.db, list(rt.herald.ctx.audit_keys)))


def test_retention_zero_or_no_key_prunes_nothing(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ws = seed(rt)
    rt.herald.ctx.settings = rt.settings.model_copy(update={"audit_retention_days": 0})
    assert run_task(rt) == {"rows": 0, "workspaces": 0}
    assert audit_rows(rt, ws) == 4
    rt.herald.ctx.settings = rt.settings
    keys, rt.herald.ctx.audit_keys = rt.herald.ctx.audit_keys, ()
    with caplog.at_level(logging.WARNING, logger="core.auditlog.jobs"):
        assert run_task(rt) == {"rows": 0, "workspaces": 0}
    assert "no HERALD_SECRET_KEY to sign the checkpoint with" in caplog.text
    assert audit_rows(rt, ws) == 4
    rt.herald.ctx.audit_keys = keys
    assert run_task(rt)["rows"] == 3


def test_a_broken_chain_is_left_whole_and_the_others_are_pruned(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    broken = seed(rt, "team-a")
    fine = seed(rt, "team-b")
    with rt.db.engine.begin() as conn:  # someone edits a row outside Herald
        first = conn.execute(
            select(func.min(EVENTS.c.id)).where(EVENTS.c.workspace_id == broken)
        ).scalar_one()
        conn.execute(update(EVENTS).where(EVENTS.c.id == first).values(action="x"))
    with caplog.at_level(logging.ERROR, logger="core.auditlog.jobs"):
        assert run_task(rt) == {"rows": 3, "workspaces": 1}
    assert f"audit log of workspace {broken} not pruned: its chain does not verify" in (caplog.text)
    assert audit_rows(rt, broken) == 4
    assert audit_rows(rt, fine) == 1


def test_two_schedulers_pruning_at_once_delete_each_row_once(rt: Runtime) -> None:
    """Two prunes on two engines start together: the second waits for the first's lock on
    the chain head (a row lock on PostgreSQL, the write lock on SQLite), then finds nothing
    left. One checkpoint is written, and the chain verifies."""
    ws = seed(rt, count=200)
    other = build_runtime(rt.settings)
    other.herald.ctx.clock = rt.herald.ctx.clock
    writes: list[str] = []

    def count_checkpoints(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE AUDIT_CHAINS SET CHECKPOINT_SEQ"):
            writes.append(statement)

    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def prune(runtime: Runtime) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(run_task(runtime))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        for runtime in (rt, other):
            event.listen(runtime.db.engine, "before_cursor_execute", count_checkpoints)
        threads = [threading.Thread(target=prune, args=(r,)) for r in (rt, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.close()
    assert errors == []
    assert sorted(r["rows"] for r in results) == [0, 200]
    assert len(writes) == 1
    assert audit_rows(rt, ws) == 1
    (verdict,) = upkeep.verify(rt.db, list(rt.herald.ctx.audit_keys))
    assert verdict.ok, verdict.problems
    with rt.db.session() as s:
        assert s.scalars(select(AuditChain.checkpoint_seq)).one() == 200
