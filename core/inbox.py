"""Commands accepted before a surface's ack and run by a worker after it.

Slack wants its HTTP 200 within 3 s (Herald aims at under 100 ms): the handler writes one
row and enqueues its id, nothing else. The worker runs the command as the verified actor and
sends the answer back through chat delivery: a refusal privately to the person, a change to
the post's card (redrawn in place, the answer in its thread).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from core.context import Context
from core.workspaces import Actor, notify, resolve, say
from storage.models import InboxCommand, Post, Role, SurfaceKind

if TYPE_CHECKING:  # the service calls in here; only its type is needed
    from core.service import Herald

log = logging.getLogger(__name__)
RUN = "herald.run_inbound"


def accept(ctx: Context, actor: Actor, text: str) -> int:
    """One INSERT and one enqueue (after commit): the whole cost of an ack."""
    with ctx.tx() as tx:
        row_id = tx.session.execute(
            insert(InboxCommand)
            .values(
                surface=actor.surface.value,
                actor=dataclasses.asdict(actor),
                text=text,
                created_at=tx.now,
            )
            .returning(InboxCommand.id)
        ).scalar_one()
        tx.later(RUN, row_id)
    return int(row_id)


def _actor(data: dict[str, object]) -> Actor:
    values = dict(data)
    values["surface"] = SurfaceKind(str(values["surface"]))
    if values.get("role_hint"):
        values["role_hint"] = Role(str(values["role_hint"]))
    return Actor(**values)  # type: ignore[arg-type]


def run(herald: Herald, row_id: int) -> None:
    """Run an accepted command once; a second delivery of the job finds it started."""
    ctx = herald.ctx
    with ctx.tx() as tx:
        claimed = tx.session.execute(
            update(InboxCommand)
            .where(InboxCommand.id == row_id, InboxCommand.started_at.is_(None))
            .values(started_at=tx.now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            return
        row = tx.session.get(InboxCommand, row_id)
        assert row is not None
        actor, text = _actor(row.actor), row.text
    reply = herald.handle(actor, text)
    with ctx.tx() as tx:
        ws, _ = resolve(tx, actor, ctx.settings.timezone)
        post = None
        if reply.post_number is not None and not reply.error:
            post = tx.session.scalars(
                select(Post).where(Post.workspace_id == ws.id, Post.number == reply.post_number)
            ).one_or_none()
        if post is not None and post.card_ref:
            notify(tx, post, reply)
        else:
            say(tx, ws, reply, conversation=actor.conversation, recipient=actor.user_id)


def unstarted(ctx: Context, older_than_seconds: float) -> list[int]:
    """Accepted commands whose job was lost (Redis restarted): the sweeper re-sends them."""
    with ctx.tx() as tx:
        cutoff = tx.now - timedelta(seconds=older_than_seconds)
        return list(
            tx.session.scalars(
                select(InboxCommand.id)
                .where(InboxCommand.started_at.is_(None), InboxCommand.created_at < cutoff)
                .limit(500)
            )
        )
