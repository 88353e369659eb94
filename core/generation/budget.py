"""Usage and cost of model calls, and each workspace's monthly budget.

Every call is recorded with its tokens and its cost (the price table is in settings, USD per
million input and output tokens). A workspace is warned once a month when its spend crosses 80 %
of the budget; the call that crosses 100 % is the last one that month, and the workspace is told
that drafts come from the offline templates until the month ends. A budget of 0 means no limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import metrics
from core.context import SystemClock, Tx
from core.generation.client import Usage
from core.jobs import AfterCommit
from core.messaging.say import say
from core.ports import Clock, JobQueue
from core.posts.card import Message
from core.settings import Settings
from storage.db import Database
from storage.models import Workspace
from storage.models_llm import LlmBudgetNotice, LlmUsage

log = logging.getLogger(__name__)
WARN_AT = 0.8


def budget_of(settings: Settings, workspace: Workspace | None) -> float:
    """USD a month the workspace may spend on the model; 0 means no limit."""
    own = (workspace.settings or {}).get("llm_budget_usd") if workspace is not None else None
    return float(own) if own is not None else settings.llm_monthly_budget_usd


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


@dataclass(frozen=True)
class Spend:
    spent: float
    budget: float

    @property
    def exhausted(self) -> bool:
        return self.budget > 0 and self.spent >= self.budget


def price_of(settings: Settings, model: str, answered: str | None = None) -> tuple[float, float]:
    """USD per million (input, output) tokens: the configured model, else the model the server
    named, else the longest price-table key either starts with; (0, 0) if none matches."""
    prices = settings.llm_prices
    for name in (model, answered):
        if name and name in prices:
            return prices[name]
    candidates = [key for key in prices if any(n and n.startswith(key) for n in (model, answered))]
    if candidates:
        return prices[max(candidates, key=len)]
    return (0.0, 0.0)


def cost_of(settings: Settings, model: str, usage: Usage) -> float:
    input_price, output_price = price_of(settings, model, usage.model)
    return (usage.prompt_tokens * input_price + usage.completion_tokens * output_price) / 1e6


class Ledger:
    """Records calls and answers "may this workspace still call the model this month?"."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock | None = None,
        queue: JobQueue | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock or SystemClock()
        # Without a queue, notices for Slack and Telegram wait for the sweeper to send them.
        self.queue = queue
        self._unpriced_warned: set[str] = set()

    def budget(self, session: Session, workspace_id: int) -> float:
        """The workspace's own monthly budget (`voice budget`), else the settings' one."""
        return budget_of(self.settings, session.get(Workspace, workspace_id))

    def spend(self, workspace_id: int) -> Spend:
        with self.db.session() as session:
            return Spend(
                self._spent(session, workspace_id, self.clock.now()),
                self.budget(session, workspace_id),
            )

    @staticmethod
    def _spent(session: Session, workspace_id: int, now: datetime) -> float:
        total = session.scalar(
            select(func.coalesce(func.sum(LlmUsage.cost_usd), 0.0)).where(
                LlmUsage.workspace_id == workspace_id, LlmUsage.created_at >= month_start(now)
            )
        )
        return float(total or 0.0)

    def record(
        self,
        usage: Usage,
        *,
        workspace_id: int,
        member_id: int | None,
        post_id: int | None,
        purpose: str,
        conversation: str | None,
    ) -> Spend:
        """Store one call; tell the workspace when it crosses 80 % or 100 % of its budget."""
        model = self.settings.llm_model
        unpriced = price_of(self.settings, model, usage.model) == (0.0, 0.0)
        if unpriced and model not in self._unpriced_warned:
            self._unpriced_warned.add(model)
            log.warning("no price for model %s in HERALD_LLM_PRICES: cost counts 0", model)
        cost = cost_of(self.settings, model, usage)
        now = self.clock.now()
        jobs = AfterCommit()
        with self.db.session() as session:
            before = self._spent(session, workspace_id, now)
            session.add(
                LlmUsage(
                    workspace_id=workspace_id,
                    member_id=member_id,
                    post_id=post_id,
                    purpose=purpose,
                    model=usage.model[:100],
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    cached_tokens=usage.cached_tokens,
                    cost_usd=cost,
                    created_at=now,
                )
            )
            after = before + cost
            budget = self.budget(session, workspace_id)
            if budget > 0 and conversation is not None:
                jobs = self._notify(session, workspace_id, before, after, now, conversation, budget)
        if self.queue is not None:  # after commit, as everywhere
            jobs.send(self.queue)
        label = metrics.workspace_label(workspace_id, self.settings.metrics_max_workspaces)
        metrics.LLM_TOKENS.labels(label, "prompt").inc(usage.prompt_tokens)
        metrics.LLM_TOKENS.labels(label, "completion").inc(usage.completion_tokens)
        metrics.LLM_COST.labels(label).inc(cost)
        return Spend(after, budget)

    def _notify(
        self,
        session: Session,
        workspace_id: int,
        before: float,
        after: float,
        now: datetime,
        conversation: str,
        budget: float,
    ) -> AfterCommit:
        """Say the crossing once (a unique row per level and month); the jobs to send after."""
        level = 100 if after >= budget else 80 if after >= budget * WARN_AT else 0
        if not level or (before >= budget if level == 100 else before >= budget * WARN_AT):
            return AfterCommit()
        month = month_start(now).strftime("%Y-%m")
        try:
            with session.begin_nested():
                session.add(
                    LlmBudgetNotice(
                        workspace_id=workspace_id, month=month, level=level, created_at=now
                    )
                )
        except IntegrityError:
            return AfterCommit()  # another worker told them already
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            return AfterCommit()
        resets = next_month(now).strftime("%-d %b")
        if level == 100:
            text = (
                f"⚠ This workspace has used its model budget for the month "
                f"(USD {after:,.2f} of {budget:,.2f}). Until {resets}, drafts come from the "
                "offline templates. To raise it, ask whoever runs Herald "
                "(HERALD_LLM_MONTHLY_BUDGET_USD)."
            )
        else:
            text = (
                f"⚠ This workspace has used {after / budget:.0%} of its model budget for the "
                f"month (USD {after:,.2f} of {budget:,.2f}). At 100 % drafts switch to the "
                f"offline templates until {resets}."
            )
        tx = Tx(session=session, now=now)
        say(tx, workspace, Message(text=text), conversation=conversation)
        return tx.after
