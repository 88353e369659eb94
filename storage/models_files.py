"""Files that travel with Herald's chat messages (a chart, a CSV export), kept apart from the
message's JSON payload.

* `outbound_files`: one row per file of an `outbound_messages` row, written in the message's
  transaction. `sent_at` is set once the file's surface took it (Slack shared it, Telegram
  sent it), so a delivery retried after a later step failed never sends it again. The bytes
  are short-lived: delivery drops them once the message is delivered, the sweeper after a
  day whatever happened (core/messaging/files.py); a message takes its files with it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import utcnow


class MessageFile(Base):
    __tablename__ = "outbound_files"
    # A message's files in the order they were given; the sweeper's look by age.
    __table_args__ = (
        Index("ix_outbound_files_message_id", "message_id", "id"),
        Index("ix_outbound_files_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
