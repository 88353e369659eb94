"""`herald status`: readiness plus what an operator looks at next, read from the rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select

from core.context import Context
from core.generation.budget import budget_of, month_start
from core.operations.health import Check, readiness
from core.operations.heartbeats import Seen, seen
from core.scheduling.queries import backlog
from storage.models import ConnectedAccount, Target, TargetState, Workspace
from storage.models_llm import LlmUsage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FAILURE_WINDOW = timedelta(hours=24)
EXPIRY_WINDOW = timedelta(days=7)


def outcomes_by_network(session: Session, since: datetime) -> dict[str, dict[TargetState, int]]:
    """Targets published and failed since `since`, by network: what `herald status` and the
    failure-rate alert both read."""
    rows = session.execute(
        select(Target.network, Target.state, func.count())
        .where(
            Target.state.in_([TargetState.FAILED, TargetState.PUBLISHED]),
            Target.state_changed_at >= since,
        )
        .group_by(Target.network, Target.state)
    ).all()
    counts: dict[str, dict[TargetState, int]] = {}
    for network, state, n in rows:
        counts.setdefault(network, {})[TargetState(state)] = int(n)
    return counts


@dataclass(frozen=True)
class NetworkFailures:
    network: str
    failed: int
    published: int


@dataclass(frozen=True)
class Expiring:
    workspace: str
    network: str
    account: str
    expires_at: datetime | None  # None: already refused (status not ok)


@dataclass(frozen=True)
class Budget:
    workspace: str
    spent: float
    budget: float


@dataclass
class Status:
    now: datetime
    checks: list[Check]
    processes: list[Seen] = field(default_factory=list)
    due: int = 0
    lag_seconds: float = 0.0
    failing: list[NetworkFailures] = field(default_factory=list)
    expiring: list[Expiring] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)


def status(ctx: Context) -> Status:
    now = ctx.clock.now()
    report = Status(now=now, checks=readiness(ctx))
    if not report.checks[0].ok:
        return report  # no database: nothing else can be read
    report.processes = seen(ctx.db)
    with ctx.db.session() as session:
        waiting = backlog(session, now)
        report.due = waiting.due + waiting.queued
        report.lag_seconds = waiting.oldest_seconds
        since = now - FAILURE_WINDOW
        counts = outcomes_by_network(session, since)
        report.failing = sorted(
            (
                NetworkFailures(net, c.get(TargetState.FAILED, 0), c.get(TargetState.PUBLISHED, 0))
                for net, c in counts.items()
                if c.get(TargetState.FAILED, 0)
            ),
            key=lambda f: -f.failed,
        )
        accounts = session.execute(
            select(ConnectedAccount, Workspace.name)
            .join(Workspace, Workspace.id == ConnectedAccount.workspace_id)
            .where(
                or_(
                    ConnectedAccount.expires_at <= now + EXPIRY_WINDOW,
                    ConnectedAccount.status != "ok",
                )
            )
            .order_by(ConnectedAccount.expires_at)
        ).all()
        report.expiring = [
            Expiring(
                ws,
                a.network,
                a.display_name,
                a.expires_at if a.status == "ok" else None,
            )
            for a, ws in accounts
        ]
        spent = dict(
            session.execute(
                select(LlmUsage.workspace_id, func.sum(LlmUsage.cost_usd))
                .where(LlmUsage.created_at >= month_start(now))
                .group_by(LlmUsage.workspace_id)
            ).all()
        )
        for workspace in session.scalars(select(Workspace).where(Workspace.id.in_(spent))):
            report.budgets.append(
                Budget(
                    workspace.name,
                    float(spent[workspace.id] or 0.0),
                    budget_of(ctx.settings, workspace),
                )
            )
    report.budgets.sort(key=lambda b: -(b.spent / b.budget if b.budget else 0.0))
    return report
