"""The audit log's hash chain: every audit row of a workspace carries the hash of its content
and of the row before it, so a row changed, deleted, inserted or moved afterwards is found.

Rows are sealed (given their place `seq`, `prev_hash` and `hash`) when their transaction
commits, not where they are inserted: the ORM path (`core.audit.audit`) and the publishing
path's Core INSERTs are chained alike, and no insert can forget to. Sealing takes the
workspace's chain head with `SELECT ... FOR UPDATE` on PostgreSQL (SQLite's BEGIN IMMEDIATE
already serialises writers), so two transactions appending at once chain one after the other.

What a row's hash covers: its id, workspace, seq, post, target, actor id, surface, action,
states, UTC time, the hash of its `detail` (not the detail itself: `forget` may pseudonymise
a detail and the chain still verifies) and the previous row's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Insert,
    RowMapping,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage.models import AuditChain, AuditEvent

GENESIS = "0" * 64
EVENTS = cast(Table, AuditEvent.__table__)
CHAINS = cast(Table, AuditChain.__table__)
_UNSEALED = "herald_audit_unsealed"  # connection info: workspaces to seal at commit
_KNOWN = "herald_audit_known"  # the INSERT about to run was seen as a construct
_INSERT = "INSERT INTO audit_events"
FORGET = "member.forget"  # its detail's "redacted_seqs" are the rows `forget` redacted


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return utc_iso(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical(value: object) -> bytes:
    """Sorted keys, no spaces, UTC ISO times: the same bytes for the same content anywhere."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode()


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def detail_hash(detail: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(canonical(dict(detail or {}))).hexdigest()


# What a row's hash reads, by name: also what migration en0002 reads to seal older rows, so
# a later column on audit_events changes nothing here.
HASHED = (
    "id",
    "workspace_id",
    "post_id",
    "target_id",
    "actor_id",
    "surface",
    "action",
    "from_state",
    "to_state",
    "detail",
    "created_at",
)


def _hashed() -> list[Any]:
    return [EVENTS.c[name] for name in HASHED]


def row_hash(row: Mapping[str, Any] | RowMapping, prev: str) -> str:
    """The hash of one sealed row: its fields (detail as its hash) and the previous hash."""
    body = {
        "v": 1,
        "id": row["id"],
        "workspace_id": row["workspace_id"],
        "seq": row["seq"],
        "post_id": row["post_id"],
        "target_id": row["target_id"],
        "actor_id": row["actor_id"],
        "surface": row["surface"],
        "action": row["action"],
        "from_state": row["from_state"],
        "to_state": row["to_state"],
        "detail_hash": row["detail_hash"],
        "created_at": utc_iso(row["created_at"]),
        "prev": prev,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


def checkpoint_message(workspace_id: int, seq: int, head: str) -> bytes:
    return canonical({"checkpoint": 1, "workspace_id": workspace_id, "seq": seq, "hash": head})


def sign(key: bytes, workspace_id: int, seq: int, head: str) -> str:
    return hmac.new(key, checkpoint_message(workspace_id, seq, head), hashlib.sha256).hexdigest()


# --- sealing ---------------------------------------------------------------------------------


def mark_audit_insert(
    conn: Connection,
    clause: Any,
    multiparams: Sequence[Any],
    params: Mapping[str, Any],
    _options: Any,
) -> None:
    """Engine hook (before_execute): note which workspaces this connection inserted audit
    rows for, so that its commit seals them. ORM flushes and Core INSERTs both pass here."""
    if not isinstance(clause, Insert) or clause.table is not EVENTS:
        return
    pending: set[int | None] = conn.info.setdefault(_UNSEALED, set())
    conn.info[_KNOWN] = True
    rows: list[Any] = []
    for item in multiparams or [params]:
        rows.extend(item if isinstance(item, list | tuple) else [item])
    for row in rows:
        pending.add(row.get("workspace_id") if isinstance(row, Mapping) else None)


def mark_other_insert(
    conn: Connection, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
) -> None:
    """Engine hook (before_cursor_execute): an audit INSERT that was no Insert construct
    (textual SQL) is sealed too, its workspaces looked up at commit."""
    if conn.info.pop(_KNOWN, False):
        return
    if statement.lstrip().startswith(_INSERT):
        conn.info.setdefault(_UNSEALED, set()).add(None)


def seal_on_commit(session: Session) -> None:
    """Session hook (before_commit): chain the rows this transaction inserted."""
    session.flush()
    conn = session.connection()
    pending: set[int | None] = conn.info.pop(_UNSEALED, set())
    if None in pending:
        seal_pending(conn)
    else:
        for workspace_id in sorted(ws for ws in pending if ws is not None):
            seal_workspace(conn, workspace_id)


def seal_pending(conn: Connection) -> int:
    """Seal every unsealed audit row this connection can see, workspace by workspace (in id
    order, the heads locked in workspace order so that two sealers cannot deadlock)."""
    workspaces = conn.execute(
        select(EVENTS.c.workspace_id).where(EVENTS.c.hash.is_(None)).distinct()
    ).scalars()
    return sum(seal_workspace(conn, ws) for ws in sorted(workspaces))


def _create_head(conn: Connection, workspace_id: int) -> None:
    values = {
        "workspace_id": workspace_id,
        "seq": 0,
        "head": GENESIS,
        "checkpoint_seq": 0,
        "checkpoint_hash": GENESIS,
    }
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(CHAINS).values(values).on_conflict_do_nothing())
    else:
        conn.execute(insert(CHAINS).values(values).prefix_with("OR IGNORE"))


def lock_head(conn: Connection, workspace_id: int) -> tuple[int, str]:
    """The workspace's chain head (seq, hash), locked until the transaction ends."""
    query = select(CHAINS.c.seq, CHAINS.c.head).where(CHAINS.c.workspace_id == workspace_id)
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        _create_head(conn, workspace_id)
        row = conn.execute(query.with_for_update()).one()
    return int(row.seq), str(row.head)


def _head_and_unsealed(conn: Connection, workspace_id: int) -> list[RowMapping]:
    """In one statement (it is on every audited commit): the head, locked, joined with the
    rows to seal, oldest first. When another transaction holds the head, PostgreSQL waits
    and then reads the head as that transaction left it."""
    joined = CHAINS.outerjoin(
        EVENTS, and_(EVENTS.c.workspace_id == CHAINS.c.workspace_id, EVENTS.c.hash.is_(None))
    )
    query = (
        select(CHAINS.c.seq.label("chain_seq"), CHAINS.c.head.label("chain_head"), *_hashed())
        .select_from(joined)
        .where(CHAINS.c.workspace_id == workspace_id)
        .order_by(EVENTS.c.id)
        .with_for_update(of=CHAINS)
    )
    found = list(conn.execute(query).mappings())
    if not found:  # the workspace's first audit row
        _create_head(conn, workspace_id)
        found = list(conn.execute(query).mappings())
    return found


def seal_workspace(conn: Connection, workspace_id: int) -> int:
    """Give the workspace's unsealed rows their place and hash: three statements (read and
    lock, write the rows, move the head), whatever the number of rows."""
    found = _head_and_unsealed(conn, workspace_id)
    seq, prev = int(found[0]["chain_seq"]), str(found[0]["chain_head"])
    rows = [row for row in found if row["id"] is not None]
    if not rows:
        return 0
    sealed = []
    for row in rows:
        seq += 1
        values = {**row, "seq": seq, "detail_hash": detail_hash(row["detail"])}
        digest = row_hash(values, prev)
        sealed.append(
            {
                "row_id": row["id"],
                "new_seq": seq,
                "new_detail_hash": values["detail_hash"],
                "new_prev": prev,
                "new_hash": digest,
            }
        )
        prev = digest
    conn.execute(
        update(EVENTS)
        .where(EVENTS.c.id == bindparam("row_id"))
        .values(
            seq=bindparam("new_seq"),
            detail_hash=bindparam("new_detail_hash"),
            prev_hash=bindparam("new_prev"),
            hash=bindparam("new_hash"),
        ),
        sealed,
    )
    conn.execute(
        update(CHAINS).where(CHAINS.c.workspace_id == workspace_id).values(seq=seq, head=prev)
    )
    return len(sealed)


# --- verifying -------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What `verify` found in one workspace's chain."""

    workspace_id: int
    rows: int = 0
    head_seq: int = 0
    head: str = GENESIS
    checkpoint_seq: int = 0
    redacted: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: Connection, workspace_id: int, keys: Sequence[bytes] = ()) -> Verdict:
    """Walk the workspace's chain from its checkpoint (or the start) to its head. `keys` are
    the checkpoint-signing keys (current first); without them a checkpoint is not trusted."""
    verdict = Verdict(workspace_id)
    chain = conn.execute(select(CHAINS).where(CHAINS.c.workspace_id == workspace_id)).first()
    unsealed = conn.execute(
        select(EVENTS.c.id)
        .where(EVENTS.c.workspace_id == workspace_id, EVENTS.c.hash.is_(None))
        .order_by(EVENTS.c.id)
    ).scalars()
    for row_id in unsealed:
        verdict.problems.append(f"row {row_id} is not in the chain (inserted outside Herald)")
    if chain is None:
        count = conn.execute(
            select(func.count()).where(EVENTS.c.workspace_id == workspace_id)
        ).scalar_one()
        if count and not verdict.problems:
            verdict.problems.append("the chain's head is missing")
        return verdict
    expected, prev = chain.checkpoint_seq + 1, chain.checkpoint_hash
    verdict.checkpoint_seq = chain.checkpoint_seq
    if chain.checkpoint_seq:
        if not keys:
            verdict.problems.append(
                "the checkpoint can't be checked without the secret key (HERALD_SECRET_KEY)"
            )
        elif not any(
            hmac.compare_digest(
                sign(key, workspace_id, chain.checkpoint_seq, chain.checkpoint_hash),
                chain.checkpoint_sig or "",
            )
            for key in keys
        ):
            verdict.problems.append(
                f"the checkpoint at row {chain.checkpoint_seq} is not signed by this install"
            )
    rows = conn.execute(
        select(EVENTS)
        .where(EVENTS.c.workspace_id == workspace_id, EVENTS.c.hash.is_not(None))
        .order_by(EVENTS.c.seq)
    ).mappings()
    declared: set[int] = set()  # the rows `forget` says it redacted
    redacted: list[tuple[int, int]] = []
    for row in rows:
        verdict.rows += 1
        if row["action"] == FORGET and row["hash"] is not None:
            declared.update(int(s) for s in (row["detail"] or {}).get("redacted_seqs", []))
        seq = row["seq"]
        if seq < expected:
            verdict.problems.append(f"row {row['id']} (seq {seq}) sits before the checkpoint")
            continue
        if seq > expected:
            gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected}-{seq - 1}"
            verdict.problems.append(f"{gap} missing before row {row['id']} (deleted)")
        if row["prev_hash"] != prev:
            verdict.problems.append(f"row {row['id']} (seq {seq}) does not follow the row before")
        if row_hash(row, row["prev_hash"]) != row["hash"]:
            verdict.problems.append(f"row {row['id']} (seq {seq}) was changed after it was written")
        elif row["redacted_at"] is None and detail_hash(row["detail"]) != row["detail_hash"]:
            verdict.problems.append(f"row {row['id']} (seq {seq}): its detail was changed")
        if row["redacted_at"] is not None:
            verdict.redacted += 1
            redacted.append((row["id"], seq))
        prev, expected = row["hash"], seq + 1
    for row_id, seq in redacted:
        if seq not in declared:
            verdict.problems.append(
                f"row {row_id} (seq {seq}): its detail was changed (marked redacted, "
                "but no forget names it)"
            )
    verdict.head_seq, verdict.head = chain.seq, chain.head
    if expected - 1 != chain.seq or prev != chain.head:
        verdict.problems.append(
            f"the chain ends at seq {expected - 1} but its head says seq {chain.seq}"
            + (" (the newest rows were deleted)" if expected - 1 < chain.seq else "")
        )
    return verdict


# --- pruning ---------------------------------------------------------------------------------


class ChainBroken(Exception):
    """Pruning refused: the rows it would delete do not verify (they would hide the damage)."""


def prune(conn: Connection, workspace_id: int, cutoff: datetime, keys: Sequence[bytes]) -> int:
    """Delete the workspace's rows older than `cutoff` (the oldest run of them, in chain
    order) and keep a checkpoint signed with `keys[0]` in their place (older keys still
    verify an earlier checkpoint); the rows deleted."""
    seal_workspace(conn, workspace_id)
    head_seq, _head = lock_head(conn, workspace_id)
    chain = conn.execute(select(CHAINS).where(CHAINS.c.workspace_id == workspace_id)).one()
    first_kept = conn.execute(
        select(func.min(EVENTS.c.seq)).where(
            EVENTS.c.workspace_id == workspace_id, EVENTS.c.created_at >= cutoff
        )
    ).scalar_one_or_none()
    through = head_seq if first_kept is None else first_kept - 1
    if through <= chain.checkpoint_seq:
        return 0
    verdict = verify(conn, workspace_id, keys)
    if not verdict.ok:
        raise ChainBroken("; ".join(verdict.problems))
    last = conn.execute(
        select(EVENTS.c.hash).where(EVENTS.c.workspace_id == workspace_id, EVENTS.c.seq == through)
    ).scalar_one()
    deleted = conn.execute(
        delete(EVENTS).where(EVENTS.c.workspace_id == workspace_id, EVENTS.c.seq <= through)
    ).rowcount
    conn.execute(
        update(CHAINS)
        .where(CHAINS.c.workspace_id == workspace_id)
        .values(
            checkpoint_seq=through,
            checkpoint_hash=last,
            checkpoint_at=cutoff,
            checkpoint_sig=sign(keys[0], workspace_id, through, last),
        )
    )
    return int(deleted)
