"""A person's second factor (TOTP) and the sensitive command waiting for its code.

* `second_factors`: one per person on a surface (Telegram and Slack user ids name the same
  person in every chat of theirs, so enrolling in a private chat covers the groups too). The
  TOTP secret is sealed by the vault, bound to its row's surface and user. `last_step` is the
  newest 30-second step a code was accepted for: a code is taken once, never again (replay).
  `failures` counts wrong codes since `failed_since`; too many within the window lock
  attempts until it ends.
* `second_factor_asks`: a sensitive command Herald asked the code for; the next message of
  that person answers it. The command is sealed (it may carry an app password); one per
  person and workspace, the newest replacing any older one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import utcnow


class SecondFactor(Base):
    __tablename__ = "second_factors"
    __table_args__ = (
        UniqueConstraint("surface", "user_id", name="uq_second_factors_surface_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    surface: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    secret: Mapped[bytes] = mapped_column(
        LargeBinary, info={"sealed": True, "bound_to": ("surface", "user_id")}
    )
    # None until the person sent a first code from their app: enrolment is finished then.
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(default=0)
    failed_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecondFactorAsk(Base):
    __tablename__ = "second_factor_asks"
    __table_args__ = (
        UniqueConstraint(
            "surface", "workspace", "user_id", name="uq_second_factor_asks_surface_person"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    surface: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64))  # the surface's workspace id
    user_id: Mapped[str] = mapped_column(String(64))
    command: Mapped[bytes] = mapped_column(
        LargeBinary, info={"sealed": True, "bound_to": ("surface", "workspace", "user_id")}
    )
    until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
