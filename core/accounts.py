"""Connected network accounts: connect, list, disconnect, and the token health check."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core import commands as c
from core.context import Context, Tx
from core.errors import BadInput, NotFound, PublishError
from core.messaging.say import say
from core.networks import get_network
from core.permissions import Action, require
from core.platforms import bluesky
from core.platforms.base import AccountPublisher, Hub
from core.platforms.connect.base import NewAccount
from core.posts.card import Message
from core.ssrf import Refused
from core.timeparse import format_when
from core.workspace import oauth
from core.workspace.people import Actor, zone_of
from storage.models import (
    ConnectedAccount,
    Member,
    Post,
    PostState,
    SurfaceKind,
    Target,
    TargetState,
    Workspace,
)
from storage.models_networks import AccountState

log = logging.getLogger(__name__)
WARN_BEFORE = timedelta(days=7)
WARN_EVERY = timedelta(hours=23)
RENEW_BEFORE = timedelta(hours=12)
DEFAULT_PDS = "https://bsky.social"
_AT_RISK = (TargetState.DRAFT, TargetState.SCHEDULED, TargetState.QUEUED, TargetState.FAILED)


def _public_url(hub: Hub, text: str, what: str) -> str:
    url = text.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    try:
        hub.fetcher.check_url(url)
    except Refused as exc:
        raise BadInput(f"I can't use {text} as {what}: {exc}.") from None
    return url


def connect(
    ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Connect, actor: Actor
) -> Message:
    require(me, Action.CONFIGURE)
    network = get_network(cmd.network)
    hub = ctx.need_hub()
    if network.name == "outbox":
        return Message(text="The outbox needs no account: it is always connected.")
    if network.name == "bluesky":
        return _connect_bluesky(tx, hub, ws, me, cmd, actor)
    if not oauth.configured(ctx.settings, network.name):
        setting = {"x": "X_CLIENT_ID", "linkedin": "LINKEDIN_CLIENT_ID"}.get(
            network.name, "FACEBOOK_APP_ID"
        )
        raise BadInput(
            f"{network.display} is not set up on this Herald yet. An admin sets "
            f"HERALD_{setting} and its secret (see the README, Publishing), then connect again."
        )
    extra: dict[str, Any] = {}
    if network.name == "mastodon":
        if not cmd.args:
            raise BadInput("Which instance? e.g. connect mastodon mastodon.social")
        extra["instance"] = _public_url(hub, cmd.args[0], "a Mastodon instance")
    if network.name == "linkedin" and cmd.args:
        org = cmd.args[-1].removeprefix("urn:li:organization:").removeprefix("org:")
        if not org.isdigit():
            raise BadInput("Give the organization's number, e.g. connect linkedin org:5515715")
        extra["organization"] = org
    link = oauth.begin(ctx, tx, ws, me, network.name, actor.conversation, extra)
    until = format_when(tx.now + oauth.STATE_TTL, zone_of(me, ws), now=tx.now)
    message = Message(
        text=f"🔗 Connect {network.display}: open {link} (only for you, one use, until {until}). "
        f"Whoever opens it connects their {network.display} account here, so don't share it."
    )
    say(tx, ws, message, conversation=actor.conversation, recipient=actor.user_id)
    if not actor.shared:
        return message
    # The link went privately; the others only hear where. A Telegram bot can only write to
    # people who have opened a private chat with it, so they are told how.
    hint = (
        f" Nothing there? Open a private chat with me, press Start, then send "
        f"connect {network.name} there."
        if actor.surface == SurfaceKind.TELEGRAM
        else ""
    )
    return Message(
        text=f"🔒 I sent you the {network.display} connect link in a private message.{hint}"
    )


def _connect_bluesky(
    tx: Tx, hub: Hub, ws: Workspace, me: Member, cmd: c.Connect, actor: Actor
) -> Message:
    if len(cmd.args) < 2:
        raise BadInput(
            "Give your handle and an app password (Settings → App passwords on Bluesky), "
            "e.g. connect bluesky acme.bsky.social xxxx-xxxx-xxxx-xxxx. Send it in a private chat."
        )
    if actor.shared:
        raise BadInput(
            "Don't send an app password where others can read it. Revoke that one on Bluesky "
            "(Settings → App passwords), make a new one, and send connect bluesky <handle> "
            "<app password> to me in a private chat."
        )
    handle, password = cmd.args[0].lstrip("@"), cmd.args[1]
    pds = _public_url(hub, cmd.args[2], "a Bluesky server") if len(cmd.args) > 2 else DEFAULT_PDS
    try:
        creds = bluesky.session_credentials(pds, handle, password, hub.fetcher)
    except PublishError as exc:
        raise BadInput(f"Bluesky was not connected: {exc.reason}.") from None
    new = NewAccount(
        account_id=str(creds["did"]),
        display_name=f"@{creds['handle']}",
        credentials=creds,
        expires_at=bluesky.expiry_of(creds),
    )
    oauth.save_account(tx, hub, ws, me, "bluesky", new, actor.conversation)
    message = Message(
        text=f"✅ Connected Bluesky: @{creds['handle']}. Draft for it with: draft <brief> --to "
        "bluesky. (The app password is stored encrypted; you can revoke it on Bluesky any time.)"
    )
    say(tx, ws, message, conversation=actor.conversation, recipient=actor.user_id)
    return message


def _health(row: ConnectedAccount, now: datetime, tz: Any) -> str:
    if row.status in ("expired", "revoked"):
        return f"⚠ {row.status}: reconnect with connect {row.network}"
    if row.expires_at is None:
        return "ok"
    creds_note = "renews automatically" if row.network in ("x", "bluesky") else "then reconnect"
    if row.expires_at <= now:
        return f"token expired {format_when(row.expires_at, tz, now=now)}; {creds_note}"
    return f"ok · token valid until {format_when(row.expires_at, tz, now=now)} ({creds_note})"


def list_accounts(ctx: Context, tx: Tx, ws: Workspace, me: Member) -> Message:
    require(me, Action.VIEW)
    rows = tx.session.scalars(
        select(ConnectedAccount)
        .where(ConnectedAccount.workspace_id == ws.id)
        .order_by(ConnectedAccount.network, ConnectedAccount.id)
    ).all()
    if not rows:
        return Message(
            text="No accounts are connected. The outbox network is always there. "
            "Connect one with: connect <network>"
        )
    tz = zone_of(me, ws)
    lines = [
        f"{get_network(r.network).display} · {r.display_name} · {_health(r, tx.now, tz)}"
        for r in rows
    ]
    return Message(text="\n".join(lines))


def _find_account(tx: Tx, ws: Workspace, name: str) -> ConnectedAccount:
    rows = tx.session.scalars(
        select(ConnectedAccount).where(ConnectedAccount.workspace_id == ws.id)
    ).all()
    wanted = name.strip().lower()
    matches = [
        r
        for r in rows
        if wanted in (r.display_name.lower(), r.account_id.lower(), r.display_name.lower()[1:])
    ]
    if not matches:
        try:
            network = get_network(wanted).name
        except ValueError:
            network = None
        matches = [r for r in rows if r.network == network]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f'There is no connected account "{name}". Type accounts to see them.')
    names = ", ".join(r.display_name for r in matches)
    raise BadInput(f"Several accounts match {name}: {names}. Name one of them.")


def _at_risk(tx: Tx, ws: Workspace, network: str) -> list[tuple[int, datetime | None]]:
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


def _risk_text(items: list[tuple[int, datetime | None]], tz: Any, now: datetime) -> str:
    if not items:
        return ""
    parts = [
        f"#{n} ({format_when(when, tz, now=now)})" if when else f"#{n}" for n, when in items[:10]
    ]
    return " Posts at risk: " + ", ".join(parts) + "."


def disconnect(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Disconnect) -> Message:
    require(me, Action.CONFIGURE)
    row = _find_account(tx, ws, cmd.account)
    display = get_network(row.network).display
    name = row.display_name
    tx.session.delete(row)
    tx.session.flush()
    others = tx.session.scalars(
        select(ConnectedAccount.id).where(
            ConnectedAccount.workspace_id == ws.id, ConnectedAccount.network == row.network
        )
    ).first()
    risk = "" if others else _risk_text(_at_risk(tx, ws, row.network), zone_of(me, ws), tx.now)
    if risk:
        risk += f" They will fail on {display} until you connect an account again."
    return Message(text=f"Disconnected {display} account {name}; its tokens are deleted.{risk}")


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
        risk = _risk_text(_at_risk(tx, ws, row.network), tz, tx.now)
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
