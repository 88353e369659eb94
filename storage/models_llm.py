"""Tables of the llm feature: what every model call cost, and the budget notices already sent.

Their migrations are a branch of their own (`storage/migrations/versions/*_l0001_llm.py`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, intpk
from storage.types import utcnow


class LlmUsage(Base):
    """One model call: its tokens and what it cost, by workspace and by the member it served."""

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(24))  # draft, repair, interpret
    model: Mapped[str] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmBudgetNotice(Base):
    """A budget level (80 or 100 %) a workspace was told about in a month: each is said once."""

    __tablename__ = "llm_budget_notices"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "month", "level", name="uq_llm_budget_notices_workspace_month_level"
        ),
    )

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # "2026-11", UTC
    level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
