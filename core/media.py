"""Media attached to drafts: fetched safely, stored, fitted to each network's limits."""

from __future__ import annotations

from core import commands as c
from core.context import Context, Tx
from core.errors import BadInput
from core.permissions import Action, require
from core.views import Message
from storage.models import Member, Workspace


def attach(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Attach) -> Message:
    require(me, Action.EDIT)
    raise BadInput("Attaching media is not available in this version yet.")
