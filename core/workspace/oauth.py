"""Connecting accounts with OAuth 2.0: signed, expiring, one-time state; PKCE; token exchange.

`begin` (from chat) stores a state row and returns the private link to
`/oauth/<network>/start?state=...`; `start` (web) checks the state and sends the browser to the
network's authorization page; `finish` (web, the callback) checks the state again, marks it
used, exchanges the code, stores the sealed tokens and confirms in chat. The state token is
signed with a key derived from the vault's, expires, and is bound to the workspace and person
who asked (the link only ever goes to them privately) and, from its first opening, to that
browser (a cookie), so a forwarded link or a replayed callback connects nothing; the PKCE
verifier never leaves the server (sealed in the state row).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from sqlalchemy import select

from core.audit import audit
from core.context import Context, Tx
from core.errors import PublishError
from core.messaging.say import say
from core.networks import get_network
from core.platforms.base import Hub
from core.platforms.connect.base import Grant, NewAccount, OAuthError
from core.posts.card import Message
from core.settings import Settings
from storage.models import ConnectedAccount, Member, Workspace
from storage.models_networks import AccountState, NetworkApp, OAuthState
from storage.vault import sealed_context

STATE_TTL = timedelta(minutes=15)


class Connector(Protocol):
    """A network's own OAuth requests (a module of core/platforms/connect/)."""

    def authorization_url(self, grant: Grant, params: dict[str, str], challenge: str) -> str: ...

    def exchange(self, grant: Grant, code: str, verifier: str) -> list[NewAccount]: ...


# The networks that connect through a web page; each one's own requests (its authorization page
# and its token exchange) are the module core/platforms/connect/<network>.py, imported when used.
OAUTH_NETWORKS = ("x", "linkedin", "facebook", "mastodon")


def verifier_context(nonce: str) -> str:
    return sealed_context("oauth_states", "verifier", nonce)


def app_secret_context(key: str) -> str:
    return sealed_context("network_apps", "client_secret", key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(hub: Hub) -> bytes:
    return hmac.new(hub.need_vault().current, b"herald-oauth-state", hashlib.sha256).digest()


def sign(hub: Hub, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_signing_key(hub), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(hub: Hub, token: str, now: datetime) -> dict[str, Any]:
    body, _, mac = token.partition(".")
    expected = hmac.new(_signing_key(hub), body.encode(), hashlib.sha256).digest()
    try:
        good = hmac.compare_digest(_unb64(mac), expected)
        payload: dict[str, Any] = json.loads(_unb64(body)) if good else {}
    except ValueError:
        good = False
    if not good:
        raise OAuthError("This connect link is not valid. Type connect <network> in chat again.")
    if payload.get("exp", 0) < now.timestamp():
        raise OAuthError("This connect link has expired. Type connect <network> in chat again.")
    return payload


def redirect_uri(settings: Settings, network: str) -> str:
    return f"{settings.public_url.rstrip('/')}/oauth/{network}/callback"


def pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def configured(settings: Settings, network: str) -> bool:
    return bool(
        {
            "x": settings.x_client_id,
            "linkedin": settings.linkedin_client_id,
            "facebook": settings.facebook_app_id,
            "mastodon": True,
        }.get(network)
    )


def begin(
    ctx: Context,
    tx: Tx,
    ws: Workspace,
    me: Member,
    network: str,
    conversation: str,
    extra: dict[str, Any] | None = None,
) -> str:
    """Store a one-time state and return the private link that starts the flow."""
    hub = ctx.need_hub()
    nonce = secrets.token_urlsafe(24)
    expires = tx.now + STATE_TTL
    tx.session.add(
        OAuthState(
            nonce=nonce,
            workspace_id=ws.id,
            member_id=me.id,
            network=network,
            conversation=conversation,
            verifier=hub.need_vault().seal_text(secrets.token_urlsafe(48), verifier_context(nonce)),
            extra=extra or {},
            expires_at=expires,
            used_at=None,
            created_at=tx.now,
        )
    )
    token = sign(
        hub, {"n": nonce, "w": ws.id, "u": me.id, "net": network, "exp": int(expires.timestamp())}
    )
    base = ctx.settings.public_url.rstrip("/")
    return f"{base}/oauth/{network}/start?{urlencode({'state': token})}"


def _state(ctx: Context, tx: Tx, network: str, token: str) -> tuple[Hub, OAuthState]:
    hub = ctx.need_hub()
    payload = verify(hub, token, tx.now)
    row = tx.session.scalars(
        select(OAuthState).where(OAuthState.nonce == str(payload.get("n"))).with_for_update()
    ).first()
    if (
        row is None
        or row.network != network
        or payload.get("net") != network
        or row.workspace_id != payload.get("w")
        or row.member_id != payload.get("u")
    ):
        raise OAuthError("This connect link is not valid. Type connect <network> in chat again.")
    if row.used_at is not None:
        raise OAuthError("This connect link was already used. Type connect <network> again.")
    if row.expires_at <= tx.now:
        raise OAuthError("This connect link has expired. Type connect <network> in chat again.")
    return hub, row


# --- step 2: the browser arrives at /oauth/<network>/start ------------------------------------


def start(ctx: Context, network: str, token: str, browser: str | None) -> tuple[str, str]:
    """The authorization URL to send the browser to, and its key to this flow (a cookie).

    The first browser to open the link claims the flow; the callback then completes only in
    that browser, so a forwarded or leaked link, or a replayed callback, connects nothing.
    """
    with ctx.tx() as tx:
        hub, row = _state(ctx, tx, network, token)
        if row.extra.get("browser") is None:
            browser = secrets.token_urlsafe(32)
            row.extra = {**row.extra, "browser": _fingerprint(browser)}
        else:
            browser = _same_browser(row, network, browser)
        return _authorization_url(ctx, tx, hub, row, network, token), browser


def _fingerprint(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()


def _same_browser(row: OAuthState, network: str, browser: str | None) -> str:
    claimed = str(row.extra.get("browser") or "")
    if not claimed or not browser or not hmac.compare_digest(claimed, _fingerprint(browser)):
        raise OAuthError(
            "This connect link was opened in another browser. Type connect "
            f"{network} in chat for a new link, and open it in the browser you log in with."
        )
    return browser


def _authorization_url(
    ctx: Context, tx: Tx, hub: Hub, row: OAuthState, network: str, token: str
) -> str:
    """The network's authorization page, with the state and (X, Mastodon) the PKCE challenge."""
    verifier = hub.need_vault().open_text(row.verifier, verifier_context(row.nonce))
    connector = _connector(network)
    try:
        grant = _grant(ctx, tx, hub, network, row.extra)
    except PublishError as exc:
        raise OAuthError(
            f"{get_network(network).display} was not connected: {exc.reason}."
        ) from None
    params = {"response_type": "code", "redirect_uri": grant.redirect, "state": token}
    return connector.authorization_url(grant, params, pkce_challenge(verifier))


def _connector(network: str) -> Connector:
    if network not in OAUTH_NETWORKS:
        raise OAuthError(f"{get_network(network).display} does not connect through a web page.")
    connector: Connector = importlib.import_module(f"core.platforms.connect.{network}")
    return connector


def _grant(ctx: Context, tx: Tx, hub: Hub, network: str, extra: dict[str, Any]) -> Grant:
    s = ctx.settings
    client = ("", "")
    if network == "mastodon":
        client = _mastodon_app(tx, hub, s, str(extra["instance"]))
    return Grant(s, redirect_uri(s, network), extra, tx.now, hub.fetcher, client)


def _mastodon_app(tx: Tx, hub: Hub, settings: Settings, instance: str) -> tuple[str, str]:
    """The app Herald registered on this instance, registering it on first use."""
    key = f"mastodon:{instance}"
    app = tx.session.scalars(select(NetworkApp).where(NetworkApp.key == key)).first()
    vault = hub.need_vault()
    if app is not None:
        return app.client_id, vault.open_text(app.client_secret, app_secret_context(key))
    redirect = redirect_uri(settings, "mastodon")
    from core.platforms.connect import mastodon

    client_id, secret = mastodon.register_app(hub.fetcher, settings, instance, redirect)
    tx.session.add(
        NetworkApp(
            key=key,
            client_id=client_id,
            client_secret=vault.seal_text(secret, app_secret_context(key)),
            created_at=tx.now,
        )
    )
    return client_id, secret


# --- step 3: the network sends the browser back to /oauth/<network>/callback -------------------


def finish(
    ctx: Context,
    network: str,
    token: str,
    code: str | None,
    error: str | None,
    browser: str | None,
) -> str:
    """Exchange the code, store the account(s), confirm in chat. Returns the page's text."""
    display = get_network(network).display
    with ctx.tx() as tx:
        hub, row = _state(ctx, tx, network, token)
        if code and not error:
            # Before the state is spent: a callback from another browser must not burn it.
            _same_browser(row, network, browser)
        row.used_at = tx.now  # one use, whatever happens next
        ws = tx.session.get(Workspace, row.workspace_id)
        member = tx.session.get(Member, row.member_id)
        assert ws is not None
        assert member is not None

        def refused(why: str) -> str:
            text = f"{display} was not connected: {why}."
            say(
                tx,
                ws,
                Message(text=text, error=True),
                conversation=row.conversation,
                recipient=member.external_id,
            )
            return text

        if error or not code:
            return refused("the authorization was declined")
        verifier = hub.need_vault().open_text(row.verifier, verifier_context(row.nonce))
        try:
            grant = _grant(ctx, tx, hub, network, row.extra)
            accounts = _connector(network).exchange(grant, code, verifier)
        except (PublishError, OAuthError) as exc:
            return refused(exc.reason if isinstance(exc, PublishError) else str(exc).rstrip("."))
        names = []
        for new in accounts:
            save_account(tx, hub, ws, member, network, new, row.conversation)
            names.append(new.display_name)
        text = (
            f"✅ Connected {display}: {', '.join(names)}. "
            f"Draft for it with: draft <brief> --to {network}"
        )
        say(tx, ws, Message(text=text), conversation=row.conversation, recipient=member.external_id)
        return text


def save_account(
    tx: Tx,
    hub: Hub,
    ws: Workspace,
    member: Member,
    network: str,
    new: NewAccount,
    conversation: str,
) -> ConnectedAccount:
    """Insert or update (reconnect) the account, credentials sealed."""
    row = tx.session.scalars(
        select(ConnectedAccount).where(
            ConnectedAccount.workspace_id == ws.id,
            ConnectedAccount.network == network,
            ConnectedAccount.account_id == new.account_id,
        )
    ).first()
    before = None if row is None else {"display_name": row.display_name, "status": row.status}
    if row is None:
        row = ConnectedAccount(
            workspace_id=ws.id, network=network, account_id=new.account_id, created_at=tx.now
        )
        tx.session.add(row)
    row.display_name = new.display_name
    row.connected_by_id = member.id
    row.credentials = hub.seal(new.credentials, row)
    row.expires_at = new.expires_at
    row.status = "ok"
    tx.session.flush()
    state = tx.session.get(AccountState, row.id)
    if state is None:
        state = AccountState(account_id=row.id, conversation=conversation)
        tx.session.add(state)
    state.conversation = conversation
    state.warned_at = None
    state.last_error = None
    state.rate_limited_until = None
    audit(
        tx,
        ws.id,
        "account.connect",
        actor_id=member.id,
        detail={"network": network, "account": new.account_id, "display_name": new.display_name},
        before=before,
    )
    return row
