"""The commands about connected network accounts: connect, accounts, disconnect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.accounts import at_risk, risk_text
from core.audit import audit
from core.context import Tx
from core.errors import BadInput, NotFound, PublishError
from core.grammar import Words, network_name
from core.messaging.say import say
from core.networks import get_network
from core.permissions import Action
from core.platforms.base import Hub
from core.platforms.connect.base import NewAccount
from core.posts.card import Message
from core.registry import Request, Spec
from core.ssrf import Refused
from core.timeparse import format_when
from core.workspace import oauth
from core.workspace.people import Actor, zone_of
from storage.models import ConnectedAccount, Member, SurfaceKind, Workspace

DEFAULT_PDS = "https://bsky.social"


@dataclass(frozen=True)
class Connect:
    network: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Accounts:
    pass


@dataclass(frozen=True)
class Disconnect:
    account: str


def parse_connect(words: Words) -> Connect:
    args = words.args
    if not args:
        raise words.fail("Which network?")
    return Connect(network=network_name(args[0]), args=tuple(args[1:]))


def parse_disconnect(words: Words) -> Disconnect:
    if not words.args:
        raise words.fail("Which account? Type accounts to see them.")
    return Disconnect(account=words.rest)


def _public_url(hub: Hub, text: str, what: str) -> str:
    url = text.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    try:
        hub.fetcher.check_url(url)
    except Refused as exc:
        raise BadInput(f"I can't use {text} as {what}: {exc}.") from None
    return url


def connect(r: Request, cmd: Connect) -> Message:
    ctx, tx, ws, me, actor = r.ctx, r.tx, r.ws, r.me, r.actor
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
    # The terminal's reader is the operator, and herald chat serves no web page.
    serve = (
        " The link works only while herald web is running: start it in another terminal."
        if actor.surface == SurfaceKind.TERMINAL
        else ""
    )
    message = Message(
        text=f"🔗 Connect {network.display}: open {link} (only for you, one use, until {until}). "
        f"Whoever opens it connects their {network.display} account here, so don't share it."
        + serve
    )
    if not actor.shared:
        return message  # the answer is already private: a second copy would print it twice
    say(tx, ws, message, conversation=actor.conversation, recipient=actor.user_id)
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
    tx: Tx, hub: Hub, ws: Workspace, me: Member, cmd: Connect, actor: Actor
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
        from core.platforms import bluesky  # httpx loads only when someone connects

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


def list_accounts(r: Request, cmd: Accounts) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
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


def disconnect(r: Request, cmd: Disconnect) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    row = _find_account(tx, ws, cmd.account)
    display = get_network(row.network).display
    name = row.display_name
    tx.session.delete(row)
    tx.session.flush()
    audit(
        tx,
        ws.id,
        "account.disconnect",
        actor_id=me.id,
        detail={"network": row.network, "account": row.account_id},
        before={"display_name": name, "status": row.status},
    )
    others = tx.session.scalars(
        select(ConnectedAccount.id).where(
            ConnectedAccount.workspace_id == ws.id, ConnectedAccount.network == row.network
        )
    ).first()
    risk = "" if others else risk_text(at_risk(tx, ws, row.network), zone_of(me, ws), tx.now)
    if risk:
        risk += f" They will fail on {display} until you connect an account again."
    return Message(text=f"Disconnected {display} account {name}; its tokens are deleted.{risk}")


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="connect",
        kind=Connect,
        usage="connect <network> [instance URL | handle app-password]",
        summary="connect a network account",
        detail="The link comes to you privately.",
        parse=parse_connect,
        handle=connect,
        permission=Action.CONFIGURE,
        sensitive=True,
    ),
    Spec(
        name="accounts",
        kind=Accounts,
        usage="accounts",
        summary="connected accounts and their health",
        parse=lambda _: Accounts(),
        handle=list_accounts,
    ),
    Spec(
        name="disconnect",
        kind=Disconnect,
        usage="disconnect <account>",
        summary="remove a connected account",
        parse=parse_disconnect,
        handle=disconnect,
        permission=Action.CONFIGURE,
        sensitive=True,
    ),
)
