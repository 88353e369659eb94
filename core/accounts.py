"""Connected network accounts: the token health check, and which posts a lost account puts at
risk. The connect, accounts and disconnect commands are in core.workspace.connect."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.context import Context, Tx
from core.errors import PublishError
from core.messaging.say import say
from core.networks import get_network
from core.platforms.base import AccountPublisher, Hub
from core.posts.card import Message
from core.timeparse import format_when
from core.workspace import oauth
from core.workspace.people import zone_of
from storage.models import (
    ConnectedAccount,
    Member,
    Post,
    PostState,
    Target,
    TargetState,
    Workspace,
)
from storage.models_networks import AccountState

log = logging.getLogger(__name__)
WARN_BEFORE = timedelta(days=7)
WARN_EVERY = timedelta(hours=23)
RENEW_BEFORE = timedelta(hours=12)
_AT_RISK = (TargetState.DRAFT, TargetState.SCHEDULED, TargetState.QUEUED, TargetState.FAILED)


def at_risk(tx: Tx, ws: Workspace, network: str) -> list[tuple[int, datetime | None]]:
    rows = tx.session.execute(
        select(Post.number, Target.scheduled_at)
        .join(Target, Target.post_id == Post.id)
        .where(
            Post.workspace_id == ws.id,
            Target.network == network,
            Target.state.in_(_AT_RISK),
            Post.state.in_((PostState.PENDING_APPROVAL, PostState.APPROVED)),
        )
        .order_by(Target.scheduled_at, Post.number)
    ).all()
    return [(int(n), when) for n, when in rows]


def risk_text(items: list[tuple[int, datetime | None]], tz: Any, now: datetime) -> str:
    if not items:
        return ""
    parts = [
        f"#{n} ({format_when(when, tz, now=now)})" if when else f"#{n}" for n, when in items[:10]
    ]
    return " Posts at risk: " + ", ".join(parts) + "."


# --- the health check (the herald.check_accounts beat task, every 6 hours) -------------------


def check_health(ctx: Context) -> int:
    """Renew tokens near expiry and warn owners; returns how many accounts need attention."""
    hub = ctx.need_hub()
    with ctx.tx() as tx:
        ids = list(tx.session.scalars(select(ConnectedAccount.id).order_by(ConnectedAccount.id)))
    attention = 0
    for account_id in ids:
        try:
            if _check_one(ctx, hub, account_id):
                attention += 1
        except Exception:  # one broken account must not stop the others' checks
            log.exception("health check failed for account %s", account_id)
            attention += 1
    return attention


def _check_one(ctx: Context, hub: Hub, account_id: int) -> bool:
    with ctx.tx() as tx:
        row = tx.session.get(ConnectedAccount, account_id)
        if row is None:
            return False
        network, status, expires = row.network, row.status, row.expires_at
        now = tx.now
    publisher = ctx.publishers.get(network)
    problem: str | None = None
    if status in ("expired", "revoked"):
        problem = "was disconnected by the network (revoked or expired)"
    elif expires is not None and expires <= now + WARN_BEFORE:
        account = hub.account(network, None, account_id)
        renewable = isinstance(publisher, AccountPublisher) and publisher.can_renew(account)
        if renewable and expires <= now + RENEW_BEFORE:
            assert isinstance(publisher, AccountPublisher)
            try:
                hub.refresh(account, publisher.renew, force=True)
                return False
            except PublishError as exc:
                hub.set_status(account_id, "expired", exc.reason)
                problem = f"could not be renewed ({exc.reason})"
        elif not renewable:
            problem = "has expired" if expires <= now else "expires on {when}"
    if problem is None:
        return False
    _warn(ctx, account_id, problem)
    return True


def _warn(ctx: Context, account_id: int, problem: str) -> None:
    with ctx.tx() as tx:
        row = tx.session.get(ConnectedAccount, account_id)
        if row is None:
            return
        state = tx.session.get(AccountState, account_id)
        if state is None:
            state = AccountState(account_id=account_id, conversation="")
            tx.session.add(state)
        if state.warned_at is not None and state.warned_at > tx.now - WARN_EVERY:
            return  # one warning a day is enough
        owner = tx.session.get(Member, row.connected_by_id) if row.connected_by_id else None
        ws = tx.session.get(Workspace, row.workspace_id)
        if owner is None or ws is None:
            return
        tz = zone_of(owner, ws)
        when = format_when(row.expires_at, tz, now=tx.now) if row.expires_at else ""
        display = get_network(row.network).display
        conversation = (
            state.conversation or ws.settings.get("approvals_channel") or owner.external_id
        )
        if row.network in ("x", "linkedin", "facebook"):
            how = "Reconnect: " + oauth.begin(ctx, tx, ws, owner, row.network, conversation)
        elif row.network == "mastodon":
            host = row.account_id.partition("@")[2]
            how = "Reconnect: " + oauth.begin(
                ctx, tx, ws, owner, "mastodon", conversation, {"instance": f"https://{host}"}
            )
        else:
            how = f"Reconnect with: connect {row.network} <handle> <app password>"
        risk = risk_text(at_risk(tx, ws, row.network), tz, tx.now)
        text = (
            f"⚠ Your {display} account {row.display_name} {problem.format(when=when)}. {how}.{risk}"
        )
        say(
            tx,
            ws,
            Message(text=text, error=True),
            conversation=conversation,
            recipient=owner.external_id,
        )
        state.warned_at = tx.now
