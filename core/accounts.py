"""Connected network accounts: connect, list, disconnect."""

from __future__ import annotations

from sqlalchemy import select

from core import commands as c
from core.context import Context, Tx
from core.errors import BadInput
from core.networks import get_network
from core.permissions import Action, require
from core.views import Message
from core.workspaces import Actor
from storage.models import ConnectedAccount, Member, Workspace


def connect(
    ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Connect, actor: Actor
) -> Message:
    require(me, Action.CONFIGURE)
    network = get_network(cmd.network)
    raise BadInput(f"Connecting {network.display} accounts is not available in this version yet.")


def list_accounts(ctx: Context, tx: Tx, ws: Workspace, me: Member) -> Message:
    require(me, Action.VIEW)
    rows = tx.session.scalars(
        select(ConnectedAccount).where(ConnectedAccount.workspace_id == ws.id)
    ).all()
    if not rows:
        return Message(text="No accounts are connected. The outbox network is always there.")
    lines = [f"{get_network(r.network).display} · {r.display_name} · {r.status}" for r in rows]
    return Message(text="\n".join(lines))


def disconnect(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Disconnect) -> Message:
    require(me, Action.CONFIGURE)
    raise BadInput(f'There is no connected account "{cmd.account}". Type accounts to see them.')


def check_health(ctx: Context) -> int:
    """Refresh tokens near expiry and warn owners; returns how many accounts need attention.

    No network here keeps tokens yet (the outbox needs none), so there is nothing to check.
    """
    return 0
