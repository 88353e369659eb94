"""Tables of the analytics feature: what each published post did on its network, when to look
again, and the workspace's weekly digest.

* `metrics_snapshots`: one row each time Herald read a published target's figures. Kept, not
  overwritten, so trends can be drawn; the newest row per target is the current figure.
* `snapshot_schedule`: one row per (target, milestone) saying when to read next. The tick
  claims due rows with ``FOR UPDATE SKIP LOCKED``, as the dispatcher claims due targets; the
  unique key means a milestone is collected once however many ticks run. The ``demand`` row
  is re-armed (``done_at`` cleared) each time someone asks.
* `latest_figures`: each target's newest figures, what `stats` reads (see the class).
* `digest_settings` and `digests_sent`: the weekday and hour a workspace wants its digest, and
  one row per digest sent, unique on (workspace, period start), so two schedulers racing for
  the same week send it once.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, _enum
from storage.types import utcnow


class Milestone(enum.StrEnum):
    """When a snapshot is taken, counted from the target's `published_at`."""

    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"
    DEMAND = "demand"  # someone asked (`stats <n>`), not on the schedule


class MetricsSnapshot(Base):
    __tablename__ = "metrics_snapshots"
    __table_args__ = (
        # One target's snapshots in time order: a post's trend (`stats <n>`), and the newest
        # one when a target's current figures must be rebuilt.
        Index("ix_metrics_snapshots_target_taken", "target_id", "taken_at", "id"),
        CheckConstraint(
            "likes >= 0 AND reposts >= 0 AND replies >= 0 AND quotes >= 0", name="counts_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    milestone: Mapped[Milestone] = mapped_column(_enum(Milestone, "milestone"))
    taken_at: Mapped[datetime]
    # None where the network does not tell (Mastodon and Bluesky have no impressions; clicks
    # need X's non-public metrics or LinkedIn's share statistics).
    impressions: Mapped[int | None] = mapped_column(Integer)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    reposts: Mapped[int] = mapped_column(Integer, default=0)  # shares, reblogs, retweets
    replies: Mapped[int] = mapped_column(Integer, default=0)  # comments
    quotes: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int | None] = mapped_column(Integer)
    # The network answered 404: the post was deleted there. Its figures are the last known
    # ones (zeros when none), and nothing more is collected for it.
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    # The few raw fields the figures came from, for support; never a whole API response.
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SnapshotDue(Base):
    __tablename__ = "snapshot_schedule"
    __table_args__ = (
        UniqueConstraint("target_id", "milestone", name="uq_snapshot_schedule_target_milestone"),
        # The tick's query: pending rows, soonest first. Done rows stay (they are the record
        # that the milestone was collected) but fall out of this partial index.
        Index(
            "ix_snapshot_schedule_pending",
            "next_try_at",
            postgresql_where="done_at IS NULL",
            sqlite_where="done_at IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    milestone: Mapped[Milestone] = mapped_column(_enum(Milestone, "milestone"))
    due_at: Mapped[datetime]
    # When the tick may take it: `due_at` at first, later after a 429 or a network error.
    next_try_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None]


class DigestSetting(Base):
    """`config digest monday 9am`: in the workspace's time zone. No row: the default (on,
    Monday 09:00)."""

    __tablename__ = "digest_settings"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour_range"),
    )

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    weekday: Mapped[int] = mapped_column(SmallInteger, default=0)  # 0 is Monday, as in Python
    hour: Mapped[int] = mapped_column(SmallInteger, default=9)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestSent(Base):
    __tablename__ = "digests_sent"
    __table_args__ = (
        UniqueConstraint("workspace_id", "period_start", name="uq_digests_sent_workspace_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # The instant (UTC) the week the digest went out in began: local Monday 00:00 in the
    # workspace's time zone (core.analytics.digest). The digest covers the seven days before
    # its hour; keying it by the calendar week keeps it to one a week even when the day or
    # hour is changed in between.
    period_start: Mapped[datetime]
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class LatestFigures(Base):
    """Each published target's newest figures, kept beside its snapshots: what `stats`, the
    digest and best time read. One row per target from its publication (zeros, `taken_at`
    None until the first snapshot), moved forward by each newer snapshot in the same
    transaction (core.analytics.store). Copies the workspace, post number, network and
    publication time so a period is one range scan of one index, with no join and no
    newest-of-N search per target."""

    __tablename__ = "latest_figures"
    __table_args__ = (
        Index("ix_latest_figures_workspace_published", "workspace_id", "published_at"),
    )

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    post_number: Mapped[int]
    network: Mapped[str] = mapped_column(String(32))
    published_at: Mapped[datetime]
    taken_at: Mapped[datetime | None]  # of the snapshot these figures come from
    impressions: Mapped[int | None] = mapped_column(Integer)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    reposts: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    quotes: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int | None] = mapped_column(Integer)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
