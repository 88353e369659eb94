"""The audit trail: one row per change a person or a job made, in the change's transaction.

Rows are hash-chained per workspace when their transaction commits (storage.auditchain), so
whoever inserts them (here, or the publishing path's Core INSERTs) needs to do nothing more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.context import Tx
from storage.models import AuditEvent


def audit_row(
    workspace_id: int,
    action: str,
    *,
    now: datetime,
    actor_id: int | None = None,
    post_id: int | None = None,
    target_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
    surface: str | None = None,
) -> dict[str, Any]:
    """An audit row's values, for a Core INSERT (the publishing path) or `audit` below."""
    return {
        "workspace_id": workspace_id,
        "post_id": post_id,
        "target_id": target_id,
        "actor_id": actor_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail or {},
        "created_at": now,
        "surface": surface,
    }


def audit(
    tx: Tx,
    workspace_id: int,
    action: str,
    *,
    actor_id: int | None = None,
    post_id: int | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    surface: str | None = None,
) -> None:
    """Record `action` (e.g. "workspace.policy") with what it changed, at the transaction's now.

    `before` is what the change replaced (kept in the detail as "before"); `surface` is where
    it came from when that is not the workspace's chat ("cli", "api"); None for a person in
    the workspace's chat or a job (the log shows the workspace's surface or "job")."""
    if before is not None:
        detail = {**(detail or {}), "before": before}
    row = audit_row(
        workspace_id,
        action,
        now=tx.now,
        actor_id=actor_id,
        post_id=post_id,
        to_state=to_state,
        detail=detail,
        surface=surface,
    )
    tx.session.add(AuditEvent(**row))
