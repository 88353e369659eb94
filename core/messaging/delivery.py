"""Chat delivery: outbound messages written with each change, pushed to Slack or Telegram.

The terminal chat reads its messages straight from the table; the other surfaces get them
through the `deliver_message` task and their `ChatDelivery` implementation in bot/.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core import metrics
from core.context import Context
from core.errors import RetryLater
from core.messaging import files
from core.ports import Delivery
from core.posts.card import Message, build_card
from core.workspace.people import zone_of
from storage.models import InboundEvent, OutboundMessage, Post, SurfaceKind, Workspace

INBOUND_KEEP = timedelta(days=7)
# What stays of a message that carried a secret (a 2FA link, an API token) once it went out.
WIPED = "🔐 (a private message with a secret: sent, and not kept)"


def deliver(ctx: Context, message_id: int) -> None:
    """Send one stored message once it is committed; a repeat after success does nothing.

    A message with files goes out in steps (its text or card, then the files); each step the
    surface reports is committed at once (`files.Recorder`), and a retry starts after the
    last one, so a 429 halfway sends nothing twice."""
    with ctx.tx() as tx:
        row = tx.session.get(OutboundMessage, message_id)
        if row is None or row.delivered_at is not None:
            return
        ws = tx.session.get(Workspace, row.workspace_id)
        assert ws is not None
        channel = ctx.deliveries.get(ws.kind)
        if channel is None:
            return  # the terminal chat reads the table itself
        text_sent = row.text_sent_at is not None
        left = files.unsent(tx, row.id)
        if text_sent and not left:
            # Everything went out before the last try stopped short of saying so.
            row.delivered_at = tx.now
            files.drop(tx, row.id)
            if row.payload.get("secret"):
                row.payload = Message(text=WIPED).to_payload()
            return
        message = Message.from_payload(row.payload)
        post = tx.session.get(Post, row.post_id) if row.post_id else None
        card = None
        if post is not None:
            stored = message.card
            card = build_card(
                post,
                tz=zone_of(None, ws),
                now=tx.now,
                status=stored.status if stored else None,
                note=stored.note if stored else None,
            )
        delivery = Delivery(
            message_id=row.id,
            workspace=ws.external_id,
            conversation=row.conversation,
            recipient=row.recipient,
            text=message.text,
            error=message.error,
            card=card,
            card_ref=post.card_ref if post else None,
            post_number=post.number if post else message.post_number,
            new_card=message.card is not None
            and not text_sent
            and (post is None or post.card_ref is None),
            files=left,
            text_sent=text_sent,
            # Steps are worth remembering only when files follow the text.
            progress=files.Recorder(ctx, row.id) if left else None,
        )
    surface = str(ws.kind)
    try:
        ref = channel.deliver(delivery)  # RetryLater propagates: the task retries after the wait
    except RetryLater:
        metrics.DELIVERIES.labels(surface, "retry").inc()
        raise
    except Exception:
        metrics.DELIVERIES.labels(surface, "error").inc()
        raise
    metrics.DELIVERIES.labels(surface, "delivered").inc()
    with ctx.tx() as tx:
        row = tx.session.get(OutboundMessage, message_id)
        if row is None:
            return
        row.delivered_at = tx.now
        if left:
            files.drop(tx, row.id)
        if row.payload.get("secret"):  # shown once: no copy stays behind
            row.payload = Message(text=WIPED).to_payload()
        if ref and row.post_id:
            post = tx.session.get(Post, row.post_id)
            if post is not None:
                post.card_ref = ref


def undelivered(ctx: Context, older_than: timedelta) -> list[int]:
    """Messages for Slack or Telegram that were never sent (their job was lost)."""
    with ctx.tx() as tx:
        return list(
            tx.session.scalars(
                select(OutboundMessage.id)
                .join(Workspace, Workspace.id == OutboundMessage.workspace_id)
                .where(
                    OutboundMessage.delivered_at.is_(None),
                    OutboundMessage.created_at < tx.now - older_than,
                    Workspace.kind != SurfaceKind.TERMINAL,
                )
                .order_by(OutboundMessage.id)
                .limit(500)
            )
        )


def first_time(ctx: Context, surface: str, key: str) -> bool:
    """Record an inbound event id; False when it was seen before (a retry or a redelivery)."""
    try:
        with ctx.tx() as tx:
            tx.session.add(InboundEvent(surface=surface, key=key[:128], created_at=tx.now))
    except IntegrityError:
        return False
    return True


def forget_old_events(ctx: Context) -> None:
    with ctx.tx() as tx:
        tx.session.execute(
            delete(InboundEvent).where(InboundEvent.created_at < tx.now - INBOUND_KEEP)
        )
