"""The audit trail: one row per change a person or a job made, in the change's transaction."""

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
) -> None:
    """Record `action` (e.g. "workspace.policy") with what it changed, at the transaction's now."""
    row = audit_row(
        workspace_id,
        action,
        now=tx.now,
        actor_id=actor_id,
        post_id=post_id,
        to_state=to_state,
        detail=detail,
    )
    tx.session.add(AuditEvent(**row))
