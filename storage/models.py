"""Typed SQLAlchemy models: workspaces, members, posts and their targets, approvals,
publish attempts, audit events, connected accounts and outbound chat messages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


intpk = Annotated[int, mapped_column(primary_key=True)]
created = Annotated[datetime, mapped_column(default=utcnow)]


class SurfaceKind(enum.StrEnum):
    TERMINAL = "terminal"
    SLACK = "slack"
    TELEGRAM = "telegram"


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    APPROVER = "approver"
    VIEWER = "viewer"


class PostState(enum.StrEnum):
    GENERATING = "generating"
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # Still unapproved at its planned time: not published, waiting to be rescheduled.
    EXPIRED = "expired"


class TargetState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    PUBLISHING = "publishing"
    UNKNOWN = "unknown"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AttemptState(enum.StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("kind", "external_id", name="uq_workspaces_kind_external"),)

    id: Mapped[intpk]
    kind: Mapped[SurfaceKind] = mapped_column(_enum(SurfaceKind, "surface_kind"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    post_seq: Mapped[int] = mapped_column(Integer, default=0)
    self_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    default_networks: Mapped[str] = mapped_column(String(200), default="outbox")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created]


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id", name="uq_members_workspace_external"),
    )

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created]

    workspace: Mapped[Workspace] = relationship()


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number", name="uq_posts_workspace_number"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    number: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    brief: Mapped[str] = mapped_column(Text)
    state: Mapped[PostState] = mapped_column(_enum(PostState, "post_state"), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    planned_at: Mapped[datetime | None]
    # Attached media before it is fitted per network: [{"key", "content_type", "alt", ...}].
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    conversation: Mapped[str] = mapped_column(String(200), default="")
    generator: Mapped[str] = mapped_column(String(64), default="")
    # Where the post's card lives on its chat surface (Slack "channel:ts", Telegram
    # "chat:message"), so each step can update it in place.
    card_ref: Mapped[str | None] = mapped_column(String(200))
    feedback: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)
    # The planned time the approval reminder and the escalation were sent for (each once per
    # planned time: a new time earns a new reminder). See core/approvals/deadlines.py.
    reminded_for: Mapped[datetime | None]
    escalated_for: Mapped[datetime | None]
    created_at: Mapped[created]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    workspace: Mapped[Workspace] = relationship()
    author: Mapped[Member] = relationship()
    targets: Mapped[list[Target]] = relationship(
        back_populates="post", order_by="Target.id", cascade="all, delete-orphan"
    )


class Target(Base):
    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("post_id", "network", name="uq_targets_post_network"),
        Index("ix_targets_state_scheduled_at", "state", "scheduled_at"),
    )

    id: Mapped[intpk]
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    # An X thread: the parts after the first (`text` is the first). Empty for a single post.
    parts: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Media for this network: [{"key", "content_type", "alt", ...}] (see the media store).
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The account this target posts as (None: the network needs none, e.g. outbox).
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("connected_accounts.id", ondelete="SET NULL")
    )
    warnings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[TargetState] = mapped_column(_enum(TargetState, "target_state"))
    scheduled_at: Mapped[datetime | None]
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]

    post: Mapped[Post] = relationship(back_populates="targets")


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("post_id", "member_id", "revision", name="uq_approvals_post_member_rev"),
    )

    id: Mapped[intpk]
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    revision: Mapped[int]
    created_at: Mapped[created]

    member: Mapped[Member] = relationship()


class PublishAttempt(Base):
    __tablename__ = "publish_attempts"
    __table_args__ = (UniqueConstraint("target_id", "number", name="uq_attempts_target_number"),)

    id: Mapped[intpk]
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    number: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(100))
    state: Mapped[AttemptState] = mapped_column(_enum(AttemptState, "attempt_state"))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[created]
    finished_at: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    target_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created]
    # Where the change came from: slack, telegram, terminal, api, cli; None for a job.
    surface: Mapped[str | None] = mapped_column(String(16))
    # The hash chain (storage.auditchain): filled when the row's transaction commits, never
    # by the code that inserts it, so every insert path (ORM or Core) is chained alike.
    seq: Mapped[int | None] = mapped_column(Integer)
    detail_hash: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    # Set by `forget`: the detail was pseudonymised; its original is covered by detail_hash.
    redacted_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("workspace_id", "seq", name="uq_audit_events_workspace_seq"),
        Index(
            "ix_audit_events_unsealed",
            "workspace_id",
            postgresql_where="hash IS NULL",
            sqlite_where="hash IS NULL",
        ),
    )


class AuditChain(Base):
    """One workspace's chain head and, after pruning, its signed checkpoint (the last pruned
    row's seq and hash, HMAC-signed with a key derived from the install's secret)."""

    __tablename__ = "audit_chains"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, default=0)
    head: Mapped[str] = mapped_column(String(64))
    checkpoint_seq: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint_hash: Mapped[str] = mapped_column(String(64))
    checkpoint_at: Mapped[datetime | None]
    checkpoint_sig: Mapped[str | None] = mapped_column(String(64))


class Pause(Base):
    """Publishing frozen for one workspace, or for the whole install (`workspace_id` None),
    from `started_at` until someone resumes (`ended_at`) or `until` passes."""

    __tablename__ = "pauses"
    __table_args__ = (Index("ix_pauses_open", "ended_at", "workspace_id"),)

    id: Mapped[intpk]
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    by_name: Mapped[str] = mapped_column(String(200))  # "@maria", or "the operator"
    by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # Where the pause was asked, so that the resume (even a timed one) is said there.
    conversation: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime]
    until: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class ConnectedAccount(Base):
    __tablename__ = "connected_accounts"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "network", "account_id", name="uq_accounts_workspace_network_account"
        ),
    )

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    connected_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # Sealed by storage.vault, bound to this row's natural key (known before the INSERT);
    # the `sealed` mark lets `herald keys rotate` find it.
    credentials: Mapped[bytes] = mapped_column(
        LargeBinary, info={"sealed": True, "bound_to": ("workspace_id", "network", "account_id")}
    )
    expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(24), default="ok")
    created_at: Mapped[created]


class OutboundMessage(Base):
    """A message for a chat surface, written in the same transaction as the change it reports."""

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_workspace_id", "workspace_id", "id"),)

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]]
    # Set for a private message (a DM or an ephemeral): the surface's user id.
    recipient: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None]
    # Its text (or new card) went out and only its files were left when the delivery was
    # interrupted: a retry sends the files alone (storage/models_files.py).
    text_sent_at: Mapped[datetime | None]
    created_at: Mapped[created]


class InboundEvent(Base):
    """An event id a surface delivered (Slack event_id, Telegram update_id): processed once."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("surface", "key", name="uq_inbound_events_surface_key"),)

    id: Mapped[intpk]
    surface: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[created] = mapped_column(index=True)


class InboxCommand(Base):
    """A command accepted from a chat surface before its ack, run by a worker afterwards.

    Writing this one row (and enqueueing its id) is all a Slack ack waits for.
    """

    __tablename__ = "inbox_commands"

    id: Mapped[intpk]
    surface: Mapped[str] = mapped_column(String(16))
    actor: Mapped[dict[str, Any]]
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created] = mapped_column(index=True)
    started_at: Mapped[datetime | None]


class PendingGuess(Base):
    """A command Herald guessed from someone's free text and asked them to confirm: `yes` from
    the same person in the same conversation runs `line`, before `expires_at`."""

    __tablename__ = "pending_guesses"
    __table_args__ = (
        UniqueConstraint("member_id", "conversation", name="uq_pending_guesses_member_id"),
    )

    id: Mapped[intpk]
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    conversation: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    created_at: Mapped[created]
