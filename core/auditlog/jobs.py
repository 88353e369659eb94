"""The daily audit prune, run by the scheduler (Celery beat) when HERALD_AUDIT_RETENTION_DAYS
is set: `herald audit prune` without cron."""

from __future__ import annotations

import logging

from core.auditlog import upkeep
from core.context import Context

log = logging.getLogger(__name__)


def prune(ctx: Context) -> dict[str, int]:
    """Prune every workspace's audit rows past the retention; how many rows went, in how
    many workspaces. Nothing at retention 0 (keep forever) or without a secret key to sign the
    checkpoint with; a workspace whose chain does not verify is left whole and logged as an
    error (pruning it would hide the damage), the others are pruned."""
    days = ctx.settings.audit_retention_days
    if days <= 0:
        return {"rows": 0, "workspaces": 0}
    if not ctx.audit_keys:
        log.warning(
            "audit log not pruned: HERALD_AUDIT_RETENTION_DAYS is %s but there is no "
            "HERALD_SECRET_KEY to sign the checkpoint with (herald keys new makes one)",
            days,
        )
        return {"rows": 0, "workspaces": 0}
    broken: dict[int, str] = {}
    pruned = upkeep.prune(ctx.db, list(ctx.audit_keys), days, ctx.clock.now(), broken=broken)
    for workspace_id, problems in broken.items():
        log.error(
            "audit log of workspace %s not pruned: its chain does not verify (%s). "
            "Run herald audit verify.",
            workspace_id,
            problems,
        )
    return {"rows": sum(pruned.values()), "workspaces": len(pruned)}
