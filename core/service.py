"""Herald's front door: chat surfaces call `handle`, workers call the pipeline methods."""

from __future__ import annotations

import logging
import secrets

from core import chat, pipeline
from core import commands as c
from core.context import Context
from core.errors import HeraldError
from core.views import Message
from core.workspaces import Actor, resolve

log = logging.getLogger(__name__)


class Herald:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- chat ------------------------------------------------------------------------------

    def handle(self, actor: Actor, text: str) -> Message:
        """Parse one line of the grammar and run it. Never raises: refusals become messages."""
        try:
            return self.execute(actor, c.parse(text))
        except HeraldError as exc:
            return Message(text=str(exc), error=True)
        except Exception:
            ref = secrets.token_hex(3)
            log.exception("command failed (ref %s)", ref)
            return Message(
                text=f"Something went wrong on my side (ref {ref}). Try again in a moment.",
                error=True,
            )

    def execute(self, actor: Actor, cmd: c.Command) -> Message:
        if isinstance(cmd, c.Help):
            return Message(text=c.help_text(cmd.topic))
        if isinstance(cmd, c.Wait):
            return Message(text="Nothing to wait for here.")
        ctx = self.ctx
        with ctx.tx() as tx:
            ws, me = resolve(tx, actor, ctx.settings.timezone)
            match cmd:
                case c.Draft():
                    return chat.draft(ctx, tx, ws, me, cmd, actor.conversation)
                case c.Queue():
                    return chat.queue(ctx, tx, ws, me)
                case c.Show():
                    return chat.show(ctx, tx, ws, me, cmd.number)
                case c.Edit():
                    return chat.edit(ctx, tx, ws, me, cmd)
                case c.Approve():
                    return chat.approve(ctx, tx, ws, me, cmd.number)
                case c.Reject():
                    return chat.reject(ctx, tx, ws, me, cmd)
                case c.Regenerate():
                    return chat.regenerate(ctx, tx, ws, me, cmd)
                case c.Schedule():
                    return chat.schedule(ctx, tx, ws, me, cmd)
                case c.Cancel():
                    return chat.cancel(ctx, tx, ws, me, cmd.number)
                case c.Retry():
                    return chat.retry(ctx, tx, ws, me, cmd)
                case c.SetTimezone():
                    return chat.set_timezone(ctx, tx, ws, me, cmd.zone)
                case c.SetRole():
                    return chat.set_role(ctx, tx, ws, me, cmd)
                case c.SetPolicy():
                    return chat.set_policy(ctx, tx, ws, me, cmd)
        raise AssertionError(f"unhandled command {cmd!r}")

    def workspace_of(self, actor: Actor) -> int:
        with self.ctx.tx() as tx:
            ws, _ = resolve(tx, actor, self.ctx.settings.timezone)
            return ws.id

    # --- workers ---------------------------------------------------------------------------

    def generate(self, post_id: int) -> None:
        pipeline.generate(self.ctx, post_id)

    def dispatch_due(self) -> int:
        return pipeline.dispatch_due(self.ctx)

    def publish(self, target_id: int) -> None:
        pipeline.publish(self.ctx, target_id)

    def reconcile(self, target_id: int) -> None:
        pipeline.reconcile(self.ctx, target_id)

    def sweep(self) -> dict[str, int]:
        return pipeline.sweep(self.ctx)
