"""What Herald costs, per workspace and month: model spend (recorded per call) plus a share of
the deployment's own monthly bill (HERALD_INFRA_MONTHLY_USD) per active person.

An active person is a member who did something that month (any audit event of theirs: a
draft, an approval, a schedule). The bill is shared out evenly over the active people of the
whole install, so a workspace's share is its active people times the price of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.generation.budget import budget_of, month_start, next_month
from core.settings import Settings
from storage.models import AuditEvent, Workspace
from storage.models_llm import LlmUsage

COMPONENTS = ("compute", "database", "redis", "storage", "egress")


@dataclass(frozen=True)
class Share:
    workspace_id: int
    workspace: str
    active: int
    llm: float
    budget: float
    infra: float

    @property
    def total(self) -> float:
        return self.llm + self.infra


@dataclass(frozen=True)
class MonthCost:
    start: datetime
    active: int  # across the install
    infra_total: float
    shares: list[Share]

    @property
    def per_person(self) -> float:
        """Infrastructure for one active person (the whole bill when nobody was active)."""
        return self.infra_total / self.active if self.active else self.infra_total

    @property
    def llm(self) -> float:
        return sum(s.llm for s in self.shares)

    @property
    def total_per_person(self) -> float:
        """Everything (model and infrastructure) for one active person."""
        total = self.infra_total + self.llm
        return total / self.active if self.active else total

    def share(self, workspace_id: int) -> Share | None:
        return next((s for s in self.shares if s.workspace_id == workspace_id), None)


def month_cost(settings: Settings, session: Session, instant: datetime) -> MonthCost:
    """The month containing `instant`: so far when it is this month."""
    start, end = month_start(instant), next_month(instant)
    in_month = (AuditEvent.created_at >= start) & (AuditEvent.created_at < end)
    active = dict(
        session.execute(
            select(AuditEvent.workspace_id, func.count(func.distinct(AuditEvent.actor_id)))
            .where(in_month, AuditEvent.actor_id.is_not(None))
            .group_by(AuditEvent.workspace_id)
        ).all()
    )
    everyone = int(
        session.scalar(
            select(func.count(func.distinct(AuditEvent.actor_id))).where(
                in_month, AuditEvent.actor_id.is_not(None)
            )
        )
        or 0
    )
    spent = dict(
        session.execute(
            select(LlmUsage.workspace_id, func.sum(LlmUsage.cost_usd))
            .where(LlmUsage.created_at >= start, LlmUsage.created_at < end)
            .group_by(LlmUsage.workspace_id)
        ).all()
    )
    infra_total = sum(settings.infra_monthly_usd.get(c, 0.0) for c in COMPONENTS)
    per_person = infra_total / everyone if everyone else 0.0
    ids = set(active) | set(spent)
    workspaces = session.scalars(
        select(Workspace).where(Workspace.id.in_(ids)).order_by(Workspace.name)
    )
    shares = [
        Share(
            ws.id,
            ws.name,
            int(active.get(ws.id, 0)),
            float(spent.get(ws.id) or 0.0),
            budget_of(settings, ws),
            per_person * int(active.get(ws.id, 0)),
        )
        for ws in workspaces
    ]
    return MonthCost(start, everyone, infra_total, shares)


def month_name(start: datetime) -> str:
    return f"{start:%b %Y}"
