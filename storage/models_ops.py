"""What operators watch: a heartbeat row per live worker and scheduler process.

* `heartbeats`: one row per process (`kind` worker or scheduler, `name` its Celery hostname or
  beat's host and pid), its `beat_at` moved forward on a timer by the process itself and the
  row deleted when it stops cleanly. /readyz, `herald status` and the no-heartbeat alert read
  it: a row older than HERALD_HEARTBEAT_STALE_SECONDS is a process that died without saying so.
* `ops_alerts`: one row per alert ever raised (`key`, e.g. `heartbeat:worker`,
  `failures:linkedin`): whether it fires, when it was last told to the ops channel and when it
  recovered. Each change is one conditional UPDATE written with its message, so two evaluators
  running at once tell the channel once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import utcnow


class Heartbeat(Base):
    __tablename__ = "heartbeats"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_heartbeats_kind_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)


class OpsAlert(Base):
    __tablename__ = "ops_alerts"
    __table_args__ = (UniqueConstraint("key", name="uq_ops_alerts_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    firing: Mapped[bool] = mapped_column(Boolean, default=True)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class OpsCount(Base):
    __tablename__ = "ops_counts"
    __table_args__ = (UniqueConstraint("kind", "minute", name="uq_ops_counts_kind_minute"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    minute: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)
