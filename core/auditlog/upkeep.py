"""Checking and pruning the audit chains, for `herald audit verify` and `herald audit prune`.

Checkpoints are signed with a key derived from the install's secret key (storage.vault
`derived`): the database never holds it, so whoever can write the database cannot forge one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.audit import audit_row
from storage import auditchain
from storage.db import Database
from storage.models import AuditEvent, Workspace
from storage.vault import Vault

PURPOSE = "audit-checkpoint"


def checkpoint_keys(vault: Vault | None) -> list[bytes]:
    """The signing keys, current first; none without a vault."""
    return vault.derived(PURPOSE) if vault is not None else []


def verify(
    db: Database, keys: list[bytes], workspace_id: int | None = None
) -> list[auditchain.Verdict]:
    """Every workspace's chain (or one), checked."""
    with db.session() as session:
        ids = (
            [workspace_id]
            if workspace_id is not None
            else list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
        )
        conn = session.connection()
        return [auditchain.verify(conn, ws, keys) for ws in ids]


def prune(
    db: Database,
    keys: list[bytes],
    retention_days: int,
    now: datetime,
    *,
    broken: dict[int, str] | None = None,
) -> dict[int, int]:
    """Delete rows older than the retention in every workspace, one transaction each, leaving
    a signed checkpoint; rows deleted by workspace. A workspace whose chain does not verify
    keeps all its rows: it raises `auditchain.ChainBroken`, or, given `broken`, is noted there
    (workspace id: the problems) and the others are pruned.

    Safe to run twice at once (two schedulers): each workspace's prune holds its chain head
    locked from its first statement to its commit, so the second waits, then finds the rows
    gone and the checkpoint moved, and has nothing left to do."""
    if retention_days <= 0 or not keys:
        return {}
    cutoff = now - timedelta(days=retention_days)
    with db.session() as session:
        ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    pruned: dict[int, int] = {}
    for ws in ids:
        try:
            with db.session() as session:
                deleted = auditchain.prune(session.connection(), ws, cutoff, keys)
        except auditchain.ChainBroken as exc:
            if broken is None:
                raise
            broken[ws] = str(exc)
            continue
        if deleted:
            pruned[ws] = deleted
    return pruned


def record_everywhere(db: Database, action: str, detail: dict[str, Any], now: datetime) -> int:
    """An operator's install-wide action (`herald keys rotate`), audited in every workspace
    with the surface "cli"; the workspaces."""
    with db.session() as session:
        ids = list(session.scalars(select(Workspace.id)))
        for ws in ids:
            session.add(AuditEvent(**audit_row(ws, action, now=now, detail=detail, surface="cli")))
    return len(ids)
