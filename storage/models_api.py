"""The REST API's rows: personal access tokens and the answers to idempotent creates.

* `api_tokens`: one row per token a person made with `token new`. Only the SHA-256 of the
  token is kept (`digest`); the token itself is shown once and never stored. `prefix` is its
  first characters, safe to show in `token list`. A token acts as its member: what the member
  may do in chat, and no more (its `scopes` narrow it further).
* `api_idempotency`: the first answer to a create sent with an `Idempotency-Key`, per member
  and key, written in the create's own transaction: a retry gets the same answer and makes
  nothing new; the same key with another body is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, Member
from storage.types import utcnow


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("digest", name="uq_api_tokens_digest"),
        Index("ix_api_tokens_member_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole token
    scopes: Mapped[str] = mapped_column(String(64))  # "read,draft,approve"
    # Where the token was made: cards of the posts it drafts go there (or the approvals channel).
    conversation: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()


class ApiIdempotency(Base):
    __tablename__ = "api_idempotency"
    __table_args__ = (
        UniqueConstraint("member_id", "key", name="uq_api_idempotency_member_key"),
        Index("ix_api_idempotency_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
