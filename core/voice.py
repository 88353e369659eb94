"""The workspace's brand voice, set from chat and used by the generator."""

from __future__ import annotations

from core import commands as c
from core.context import Context, Tx
from core.permissions import Action, require
from core.views import Message
from storage.models import Member, Workspace


def voice(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Voice) -> Message:
    require(me, Action.VIEW)
    current = dict(ws.settings.get("voice", {}))
    if cmd.setting is None:
        if not current:
            return Message(text="No brand voice is set. Try: voice tone friendly and precise")
        return Message(text="\n".join(f"{k}: {v}" for k, v in sorted(current.items())))
    require(me, Action.CONFIGURE)
    current[cmd.setting] = cmd.value or ""
    ws.settings = {**ws.settings, "voice": current}
    return Message(text=f"Voice {cmd.setting}: {cmd.value or '(cleared)'}")
