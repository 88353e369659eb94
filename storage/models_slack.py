"""Tables of the Slack feature and their small repository: installs, OAuth states, card refs.

Installations hold one bot token per workspace (sealed by the vault); OAuth states are the
one-time `state` values of the install flow; card refs map a posted card (team, channel, ts)
back to its post number, so a reply in the card's thread can name the post.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Database
from storage.models import Base, intpk
from storage.types import utcnow
from storage.vault import Vault, VaultError, sealed_context

log = logging.getLogger(__name__)


def token_context(team_id: str) -> str:
    """A bot token is bound to its workspace's row: copied to another team's, it won't open."""
    return sealed_context("slack_installations", "bot_token", team_id)


class SlackInstallation(Base):
    __tablename__ = "slack_installations"
    __table_args__ = (UniqueConstraint("team_id", name="uq_slack_installations_team_id"),)

    id: Mapped[intpk]
    team_id: Mapped[str] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(32))
    bot_id: Mapped[str] = mapped_column(String(32))
    bot_user_id: Mapped[str] = mapped_column(String(32))
    bot_scopes: Mapped[str] = mapped_column(String(1000), default="")
    installer_user_id: Mapped[str | None] = mapped_column(String(32))
    # Sealed by storage.vault (the `sealed` mark lets `herald keys rotate` find it).
    bot_token: Mapped[bytes] = mapped_column(
        LargeBinary, info={"sealed": True, "bound_to": ("team_id",)}
    )
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackOAuthState(Base):
    __tablename__ = "slack_oauth_states"
    __table_args__ = (UniqueConstraint("state", name="uq_slack_oauth_states_state"),)

    id: Mapped[intpk]
    state: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SlackCard(Base):
    """Where a post's card was posted, so thread replies and clicks find the post."""

    __tablename__ = "slack_cards"
    __table_args__ = (
        UniqueConstraint("team_id", "channel", "ts", name="uq_slack_cards_team_channel_ts"),
        Index("ix_slack_cards_team_post", "team_id", "post_number"),
    )

    id: Mapped[intpk]
    team_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(32))
    post_number: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class BotInstall:
    """An installed workspace's bot, token opened."""

    team_id: str
    team_name: str | None
    enterprise_id: str | None
    app_id: str | None
    bot_id: str
    bot_user_id: str
    bot_scopes: str
    installer_user_id: str | None
    bot_token: str
    installed_at: datetime


class SlackRepository:
    """Every read and write of the Slack tables; each call is its own short transaction."""

    def __init__(self, db: Database, vault: Vault | None) -> None:
        self.db = db
        self.vault = vault

    # --- installations -------------------------------------------------------------------

    def save_install(self, install: BotInstall) -> None:
        if self.vault is None:
            raise RuntimeError("Set HERALD_SECRET_KEY: Slack tokens are stored encrypted.")
        sealed = self.vault.seal_text(install.bot_token, token_context(install.team_id))
        with self.db.session() as session:
            row = session.scalars(
                select(SlackInstallation).where(SlackInstallation.team_id == install.team_id)
            ).one_or_none()
            if row is None:
                row = SlackInstallation(team_id=install.team_id)
                session.add(row)
            row.team_name = install.team_name
            row.enterprise_id = install.enterprise_id
            row.app_id = install.app_id
            row.bot_id = install.bot_id
            row.bot_user_id = install.bot_user_id
            row.bot_scopes = install.bot_scopes
            row.installer_user_id = install.installer_user_id
            row.bot_token = sealed
            row.installed_at = install.installed_at

    def find_install(self, team_id: str) -> BotInstall | None:
        with self.db.session() as session:
            row = session.scalars(
                select(SlackInstallation).where(SlackInstallation.team_id == team_id)
            ).one_or_none()
            if row is None or self.vault is None:
                return None
            try:
                token = self.vault.open_text(row.bot_token, token_context(row.team_id))
            except VaultError as exc:
                # Another key, or a token moved from another team's row: not usable here.
                log.warning("the bot token of %s does not open: %s", team_id, exc)
                return None
            return BotInstall(
                team_id=row.team_id,
                team_name=row.team_name,
                enterprise_id=row.enterprise_id,
                app_id=row.app_id,
                bot_id=row.bot_id,
                bot_user_id=row.bot_user_id,
                bot_scopes=row.bot_scopes,
                installer_user_id=row.installer_user_id,
                bot_token=token,
                installed_at=row.installed_at,
            )

    def delete_install(self, team_id: str) -> bool:
        with self.db.session() as session:
            result = session.execute(
                delete(SlackInstallation).where(SlackInstallation.team_id == team_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- OAuth states --------------------------------------------------------------------

    def issue_state(self, state: str, ttl: timedelta) -> None:
        now = utcnow()
        with self.db.session() as session:
            session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now))
            session.add(SlackOAuthState(state=state, expires_at=now + ttl))

    def consume_state(self, state: str) -> bool:
        """True once for a state that was issued and has not expired."""
        with self.db.session() as session:
            row = session.scalars(
                select(SlackOAuthState).where(SlackOAuthState.state == state)
            ).one_or_none()
            if row is None:
                return False
            session.delete(row)
            return row.expires_at > utcnow()

    # --- card refs -----------------------------------------------------------------------

    def remember_card(self, team_id: str, channel: str, ts: str, post_number: int) -> None:
        try:
            with self.db.session() as session:
                session.add(
                    SlackCard(team_id=team_id, channel=channel, ts=ts, post_number=post_number)
                )
        except IntegrityError:  # a redelivered card: the ref is already there
            pass

    def post_of_card(self, team_id: str, channel: str, ts: str) -> int | None:
        with self.db.session() as session:
            number = session.scalar(
                select(SlackCard.post_number).where(
                    SlackCard.team_id == team_id, SlackCard.channel == channel, SlackCard.ts == ts
                )
            )
            return int(number) if number is not None else None

    def forget_team(self, team_id: str) -> None:
        """An uninstalled workspace: drop its token and card refs (posts stay in core)."""
        with self.db.session() as session:
            session.execute(delete(SlackInstallation).where(SlackInstallation.team_id == team_id))
            session.execute(delete(SlackCard).where(SlackCard.team_id == team_id))
