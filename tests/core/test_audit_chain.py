"""The audit log's hash chain: every insert path is chained, and a row changed, deleted,
inserted or moved afterwards is found; two transactions appending at once still give one
valid chain; pruning leaves a signed checkpoint that verifies."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Executable, delete, insert, select, text, update

from bot.cli import main
from bot.runtime import Runtime
from core.auditlog import upkeep
from storage import auditchain
from storage.auditchain import EVENTS
from storage.db import Database
from storage.models import AuditChain, AuditEvent, Workspace
from storage.vault import Vault, decode_key, new_key
from tests.support.figures import frozen_clock
from tests.support.helpers import actor, eventually, herald_env, post_state

MARIA, LEE = actor("maria"), actor("lee")


KEYS = upkeep.checkpoint_keys(Vault([decode_key(new_key())]))


def verify_with(rt: Runtime, keys: list[bytes]) -> auditchain.Verdict:
    (found,) = upkeep.verify(rt.db, keys)
    return found


def verdict(rt: Runtime) -> auditchain.Verdict:
    return verify_with(rt, KEYS)


def activity(rt: Runtime) -> None:
    """A few audited changes by both paths: chat commands (ORM rows) and a post's moves
    (the publishing path's Core INSERTs)."""
    rt.herald.handle(MARIA, "queue")
    rt.herald.handle(LEE, "queue")
    rt.herald.handle(MARIA, "role lee approver")
    rt.herald.handle(MARIA, "role lee editor")
    rt.herald.handle(MARIA, "draft Our API is live --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the draft")
    rt.herald.handle(MARIA, "cancel 1")


def rows(rt: Runtime) -> list[AuditEvent]:
    with rt.db.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_every_insert_path_is_chained_and_verifies(runtime: Runtime) -> None:
    activity(runtime)
    found = rows(runtime)
    actions = {row.action for row in found}
    assert {"member.role", "post.submit", "post.cancel"} <= actions
    assert [row.seq for row in found] == list(range(1, len(found) + 1))
    assert all(row.hash and row.prev_hash for row in found)
    assert found[0].prev_hash == auditchain.GENESIS
    for before, after in itertools.pairwise(found):
        assert after.prev_hash == before.hash
    result = verdict(runtime)
    assert result.ok, result.problems
    assert result.rows == len(found) and result.head == found[-1].hash


def _tamper(rt: Runtime, statement: Executable) -> list[str]:
    """Change the table behind Herald's back (as someone with the database's password)."""
    with rt.db.engine.begin() as conn:
        conn.execute(statement)
    return verdict(rt).problems


def test_an_edited_row_is_found(runtime: Runtime) -> None:
    activity(runtime)
    third = rows(runtime)[2]
    problems = _tamper(runtime, update(EVENTS).where(EVENTS.c.id == third.id).values(action="x"))
    assert problems == [f"row {third.id} (seq 3) was changed after it was written"]


def test_an_edited_detail_is_found(idle_runtime: Runtime) -> None:
    activity_without_worker(idle_runtime)
    row = next(r for r in rows(idle_runtime) if r.action == "member.role")
    with idle_runtime.db.session() as s:
        s.execute(
            update(AuditEvent).where(AuditEvent.id == row.id).values(detail={"role": "owner"})
        )
    assert verdict(idle_runtime).problems == [
        f"row {row.id} (seq {row.seq}): its detail was changed"
    ]
    # Marking it redacted does not hide the change: no `forget` names that row.
    with idle_runtime.db.engine.begin() as conn:
        conn.execute(
            update(AuditEvent).where(AuditEvent.id == row.id).values(redacted_at=datetime.now(UTC))
        )
    assert "no forget names it" in verdict(idle_runtime).problems[0]


def activity_without_worker(rt: Runtime) -> None:
    rt.herald.handle(MARIA, "queue")
    rt.herald.handle(LEE, "queue")
    rt.herald.handle(MARIA, "role lee approver")
    rt.herald.handle(MARIA, "role lee editor")
    rt.herald.handle(MARIA, "role lee viewer")


def test_a_deleted_row_is_found_in_the_middle_and_at_the_end(idle_runtime: Runtime) -> None:
    activity_without_worker(idle_runtime)
    found = rows(idle_runtime)
    assert len(found) == 3
    problems = _tamper(idle_runtime, delete(EVENTS).where(EVENTS.c.id == found[1].id))
    assert f"seq 2 missing before row {found[2].id} (deleted)" in problems
    assert f"row {found[2].id} (seq 3) does not follow the row before" in problems
    problems = _tamper(idle_runtime, delete(EVENTS).where(EVENTS.c.id == found[2].id))
    assert "the chain ends at seq 1 but its head says seq 3 (the newest rows were deleted)" in (
        problems
    )


def test_a_reordered_or_inserted_row_is_found(idle_runtime: Runtime) -> None:
    activity_without_worker(idle_runtime)
    one, two, _three = rows(idle_runtime)
    # Swap the places of two rows (their seqs), keeping their hashes.
    with idle_runtime.db.engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == one.id).values(seq=-1))
        conn.execute(update(AuditEvent).where(AuditEvent.id == two.id).values(seq=1))
        conn.execute(update(AuditEvent).where(AuditEvent.id == one.id).values(seq=2))
    problems = verdict(idle_runtime).problems
    assert f"row {two.id} (seq 1) does not follow the row before" in problems
    assert f"row {two.id} (seq 1) was changed after it was written" in problems
    with idle_runtime.db.engine.begin() as conn:  # put back: verifies again
        conn.execute(update(AuditEvent).where(AuditEvent.id == two.id).values(seq=-1))
        conn.execute(update(AuditEvent).where(AuditEvent.id == one.id).values(seq=1))
        conn.execute(update(AuditEvent).where(AuditEvent.id == two.id).values(seq=2))
    assert verdict(idle_runtime).ok
    # A row written behind Herald's back, with a made-up place and hash.
    with idle_runtime.db.engine.begin() as conn:
        conn.execute(
            insert(EVENTS).values(
                workspace_id=one.workspace_id,
                action="member.role",
                detail={"role": "owner"},
                created_at=one.created_at,
                seq=4,
                prev_hash=_three.hash,
                hash="f" * 64,
                detail_hash=auditchain.detail_hash({"role": "owner"}),
            )
        )
    problems = verdict(idle_runtime).problems
    assert any("(seq 4) was changed after it was written" in p for p in problems)
    assert any("head says seq 3" in p for p in problems)


def test_the_cli_says_ok_or_broken(idle_runtime: Runtime) -> None:
    activity_without_worker(idle_runtime)
    env = herald_env(idle_runtime.settings)
    ok = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "workspace 1: ok, 3 rows" in ok.output
    first = rows(idle_runtime)[0]
    _tamper(idle_runtime, update(EVENTS).where(EVENTS.c.id == first.id).values(actor_id=None))
    broken = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "workspace 1: BROKEN" in broken.output
    assert f"row {first.id} (seq 1) was changed after it was written" in broken.output


def test_two_transactions_appending_at_once_give_one_chain(idle_runtime: Runtime) -> None:
    """Both insert, then both commit at the same moment: the second sealer waits for the
    first's head (a row lock on PostgreSQL, the write lock on SQLite)."""
    from core.audit import audit_row

    rt = idle_runtime
    rt.herald.handle(MARIA, "queue")
    with rt.db.session() as s:
        ws = s.scalars(select(Workspace.id)).one()
    rounds, writers = 10, 2
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(rounds):
                with rt.db.session() as s:
                    now = datetime.now(UTC)
                    s.execute(
                        insert(EVENTS),
                        [audit_row(ws, "test.append", now=now, detail={"w": n, "i": i})],
                    )
                    s.add(AuditEvent(**audit_row(ws, "test.orm", now=now, detail={"w": n})))
                    if not rt.db.is_sqlite:  # SQLite's writers are serialised from BEGIN
                        barrier.wait(timeout=10)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verdict(rt)
    assert result.ok, result.problems
    assert result.rows == result.head_seq == rounds * writers * 2


def test_pruning_keeps_a_signed_checkpoint_that_verifies(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    clock = frozen_clock(rt)
    clock.advance(timedelta(days=-400))  # two changes a year ago, one now
    rt.herald.handle(MARIA, "queue")
    rt.herald.handle(LEE, "queue")
    rt.herald.handle(MARIA, "role lee approver")
    rt.herald.handle(MARIA, "role lee editor")
    clock.advance(timedelta(days=400))
    rt.herald.handle(MARIA, "role lee viewer")
    old = rows(rt)
    pruned = upkeep.prune(rt.db, KEYS, 365, clock.now())
    assert pruned == {old[0].workspace_id: 2}
    left = rows(rt)
    assert [row.seq for row in left] == [3]
    result = verify_with(rt, KEYS)
    assert result.ok, result.problems
    assert result.checkpoint_seq == 2
    # New rows chain on from the head as before; pruning again finds nothing more to do.
    rt.herald.handle(MARIA, "role lee approver")
    assert verify_with(rt, KEYS).ok
    assert upkeep.prune(rt.db, KEYS, 365, clock.now()) == {}
    # Without the install's key the checkpoint can't be trusted; with another's it fails.
    assert "can't be checked without the secret key" in verify_with(rt, []).problems[0]
    other = upkeep.checkpoint_keys(Vault([decode_key(new_key())]))
    assert "is not signed by this install" in verify_with(rt, other).problems[0]
    # A checkpoint moved on (to hide deleted rows) is not signed by this install either.
    with rt.db.engine.begin() as conn:
        conn.execute(update(AuditChain).values(checkpoint_seq=3, checkpoint_hash=left[0].hash))
        conn.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    assert "the checkpoint at row 3 is not signed by this install" in (
        verify_with(rt, KEYS).problems
    )


def test_pruning_refuses_a_broken_chain(idle_runtime: Runtime) -> None:
    activity_without_worker(idle_runtime)
    first = rows(idle_runtime)[0]
    _tamper(idle_runtime, update(EVENTS).where(EVENTS.c.id == first.id).values(action="x"))
    with pytest.raises(auditchain.ChainBroken):
        upkeep.prune(idle_runtime.db, KEYS, 1, datetime.now(UTC) + timedelta(days=30))
    assert len(rows(idle_runtime)) == 3


def test_rows_from_before_the_chain_are_its_start(tmp_path: Path) -> None:
    """Upgrading an install: the audit rows it already has are sealed by the migration."""
    from alembic import command

    db = Database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    command.upgrade(db.alembic_config(), "fl0001")
    at = "2026-11-30 10:00:00.000000"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workspaces (kind, external_id, name, timezone, post_seq, "
                "self_approval, approvals_required, default_networks, settings, created_at) "
                "VALUES ('terminal', 'local', 'Test', 'UTC', 0, 0, 1, 'outbox', '{}', :at)"
            ),
            {"at": at},
        )
        for action in ("workspace.config", "member.role"):
            conn.execute(
                text(
                    "INSERT INTO audit_events (workspace_id, action, detail, created_at) "
                    "VALUES (1, :action, '{\"a\": 1}', :at)"
                ),
                {"action": action, "at": at},
            )
    db.upgrade()
    (result,) = upkeep.verify(db, KEYS)
    db.dispose()
    assert result.ok, result.problems
    assert result.rows == result.head_seq == 2
