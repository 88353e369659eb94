"""The post and target state machines, and the one function that moves either.

Every transition is one conditional UPDATE plus an audit row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import ClauseElement

from core.audit import audit_row
from storage.models import AuditEvent, Post, PostState, Target, TargetState

P = PostState
T = TargetState


S = TypeVar("S", PostState, TargetState)
AUDITS = cast(Table, AuditEvent.__table__)


@dataclass(frozen=True)
class Rule(Generic[S]):
    sources: frozenset[S]
    target: S


def _rule(sources: Collection[S], target: S) -> Rule[S]:
    return Rule(frozenset(sources), target)


POST_RULES: dict[str, Rule[PostState]] = {
    "submit": _rule({P.GENERATING}, P.PENDING_APPROVAL),
    "generation_failed": _rule({P.GENERATING}, P.DRAFT),
    "regenerate": _rule(
        {P.DRAFT, P.PENDING_APPROVAL, P.REJECTED, P.APPROVED, P.EXPIRED}, P.GENERATING
    ),
    "approve": _rule({P.PENDING_APPROVAL}, P.APPROVED),
    "reject": _rule({P.PENDING_APPROVAL}, P.REJECTED),
    "edit": _rule(
        {P.DRAFT, P.PENDING_APPROVAL, P.APPROVED, P.REJECTED, P.EXPIRED}, P.PENDING_APPROVAL
    ),
    "cancel": _rule(
        {P.GENERATING, P.DRAFT, P.PENDING_APPROVAL, P.APPROVED, P.REJECTED, P.EXPIRED},
        P.CANCELLED,
    ),
    # Still unapproved at its planned time (core/approvals/deadlines.py), and back for approval
    # at a new time.
    "expire": _rule({P.PENDING_APPROVAL}, P.EXPIRED),
    "renew": _rule({P.EXPIRED}, P.PENDING_APPROVAL),
}

TARGET_RULES: dict[str, Rule[TargetState]] = {
    "schedule": _rule({T.DRAFT}, T.SCHEDULED),
    "reschedule": _rule({T.SCHEDULED, T.FAILED}, T.SCHEDULED),
    "unschedule": _rule({T.SCHEDULED, T.FAILED}, T.DRAFT),
    "claim": _rule({T.SCHEDULED}, T.QUEUED),
    "start": _rule({T.QUEUED}, T.PUBLISHING),
    "confirm": _rule({T.PUBLISHING, T.UNKNOWN}, T.PUBLISHED),
    "fail": _rule({T.QUEUED, T.PUBLISHING, T.UNKNOWN}, T.FAILED),
    "lose": _rule({T.PUBLISHING}, T.UNKNOWN),
    "defer": _rule({T.QUEUED, T.PUBLISHING}, T.SCHEDULED),
    "resume": _rule({T.UNKNOWN}, T.PUBLISHING),
    # A person says a post Herald could not check did go out.
    "posted": _rule({T.FAILED}, T.PUBLISHED),
    "cancel": _rule({T.DRAFT, T.SCHEDULED, T.FAILED}, T.CANCELLED),
}


def move(
    session: Session,
    row: Post | Target,
    action: str,
    *,
    now: datetime,
    workspace_id: int | None = None,
    actor_id: int | None = None,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Apply `action` to a post or a target if it is still in an allowed state; False if
    someone was faster (the row is then re-read). `values` are further columns to set.

    Written with Core statements, as targets are moved on the publishing path: the ORM's
    bulk-update and unit-of-work machinery cost more CPU than the two round trips. The loaded
    row is brought up to date by hand, as the ORM's synchronisation would. A target's
    `workspace_id` is given by callers that have it, so that nothing loads its post for it.
    """
    rule: Rule[Any]
    if isinstance(row, Post):
        rule, stamp, kind = POST_RULES[action], "updated_at", "post"
        post_id, target_id = row.id, None
        workspace_id = row.workspace_id
    else:
        rule, stamp, kind = TARGET_RULES[action], "state_changed_at", "target"
        post_id, target_id = row.post_id, row.id
        if workspace_id is None:
            workspace_id = row.post.workspace_id
    table = cast(Table, type(row).__table__)
    before = row.state
    changes = {"state": rule.target, stamp: now, **values}
    session.flush()  # what the caller changed goes first, as autoflush did
    conn = session.connection()
    result = conn.execute(
        update(table).where(table.c.id == row.id, table.c.state.in_(rule.sources)).values(**changes)
    )
    if result.rowcount != 1:
        session.refresh(row)
        return False
    computed = [key for key, value in changes.items() if isinstance(value, ClauseElement)]
    for key, value in changes.items():
        if key not in computed:
            set_committed_value(row, key, value)
    if computed:  # an expression (`x + 1`): its value is read back when next used
        session.expire(row, computed)
    conn.execute(
        insert(AUDITS),
        audit_row(
            workspace_id,
            f"{kind}.{action}",
            now=now,
            actor_id=actor_id,
            post_id=post_id,
            target_id=target_id,
            from_state=before.value,
            to_state=rule.target.value,
            detail=detail,
        ),
    )
    return True


def move_targets(
    session: Session,
    targets: Sequence[tuple[int, int, int]],
    action: str,
    *,
    now: datetime,
) -> list[int]:
    """Apply `action` to many targets, given as (id, post id, workspace id), in one UPDATE and
    one audit INSERT, however many there are; the ids that moved. A target no longer in an
    allowed state (someone was faster) is left out, as `move` would leave it."""
    rule = TARGET_RULES[action]
    if not targets:
        return []
    # One source state, or the audit row could not say which state each target left.
    (source,) = rule.sources
    moved = set(
        session.scalars(
            update(Target)
            .where(Target.id.in_([row[0] for row in targets]), Target.state == source)
            .values(state=rule.target, state_changed_at=now)
            .returning(Target.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        return []
    session.execute(
        insert(AuditEvent),
        [
            audit_row(
                workspace_id,
                f"target.{action}",
                now=now,
                post_id=post_id,
                target_id=target_id,
                from_state=source.value,
                to_state=rule.target.value,
            )
            for target_id, post_id, workspace_id in targets
            if target_id in moved
        ],
    )
    return [row[0] for row in targets if row[0] in moved]
