"""The terminal chat's feed: the messages it has not shown yet, and what is still moving.

The terminal reads its messages straight from the table (there is no delivery job for it),
and waits, before it exits, for the work its commands started.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from core.context import Context
from core.messaging import files
from core.posts.card import Message, networks_phrase
from storage.models import OutboundMessage, Post, PostState, TargetState

P, T = PostState, TargetState


def in_flight(
    ctx: Context, workspace_id: int, numbers: list[int], *, drafts_only: bool = False
) -> list[str]:
    """Work the given posts still have in progress right now (future schedules excluded)."""
    if not numbers:
        return []
    with ctx.tx() as tx:
        busy: list[str] = []
        posts = tx.session.scalars(
            select(Post).where(Post.workspace_id == workspace_id, Post.number.in_(numbers))
        ).all()
        for post in posts:
            if post.state == P.GENERATING:
                busy.append(f"#{post.number} is being drafted")
                continue
            if drafts_only:
                continue
            moving = [
                t.network
                for t in post.targets
                if t.state in {T.QUEUED, T.PUBLISHING, T.UNKNOWN}
                or (
                    t.state == T.SCHEDULED
                    and t.scheduled_at is not None
                    and t.scheduled_at <= tx.now
                    and post.state == P.APPROVED
                )
            ]
            if moving:
                busy.append(f"#{post.number} is being published to {networks_phrase(moving)}")
        return busy


def outbound_after(ctx: Context, workspace_id: int, after_id: int) -> list[tuple[int, Message]]:
    """The workspace's messages written after `after_id`, oldest first, with their files."""
    with ctx.tx() as tx:
        rows = tx.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.workspace_id == workspace_id, OutboundMessage.id > after_id)
            .order_by(OutboundMessage.id)
        ).all()
        kept = files.attachments(tx, [row.id for row in rows])
        return [
            (row.id, replace(Message.from_payload(row.payload), files=kept.get(row.id, ())))
            for row in rows
        ]


def last_outbound_id(ctx: Context, workspace_id: int) -> int:
    with ctx.tx() as tx:
        value = tx.session.scalar(
            select(func.max(OutboundMessage.id)).where(OutboundMessage.workspace_id == workspace_id)
        )
        return int(value or 0)
