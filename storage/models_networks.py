"""Tables of the networks feature (their migrations are a branch of their own).

* `oauth_states`: one row per `connect` link, so a callback is accepted once, for the
  workspace and person it was made for, before it expires; the PKCE verifier is sealed.
* `network_apps`: OAuth apps Herald registered on the fly (one per Mastodon instance).
* `account_states`: what Herald learned about a connected account while using it: until when
  the network asked us to wait, when its owner was last warned, where to warn them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import utcnow


class OAuthState(Base):
    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(32))
    conversation: Mapped[str] = mapped_column(String(200))
    # The PKCE code verifier (and nothing else secret), sealed like every other credential.
    verifier: Mapped[bytes] = mapped_column(
        LargeBinary, info={"sealed": True, "bound_to": ("nonce",)}
    )
    # Non-secret choices made at `connect`: the Mastodon instance, a LinkedIn organization.
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NetworkApp(Base):
    __tablename__ = "network_apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "mastodon:https://mastodon.social"
    key: Mapped[str] = mapped_column(String(300), unique=True)
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret: Mapped[bytes] = mapped_column(
        LargeBinary, info={"sealed": True, "bound_to": ("key",)}
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountState(Base):
    __tablename__ = "account_states"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("connected_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    rate_limited_until: Mapped[datetime | None]
    rate_limit_reason: Mapped[str | None] = mapped_column(Text)
    refreshed_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Where private warnings for this account go (the conversation `connect` came from).
    conversation: Mapped[str] = mapped_column(String(200), default="")
