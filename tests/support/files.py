"""Files for messages in tests: a real PNG chart and a CSV export, and saying a message with
them to a workspace the way core does (in one transaction, through `say` or `notify`)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.runtime import Runtime
from core.messaging.say import notify, say
from core.posts.card import Attachment, Message
from storage.models import OutboundMessage, Post, SurfaceKind, Workspace
from tests.support.platforms import tiny_png

PNG_TITLE = "Engagement, last 7 days"
CSV_TITLE = "Every post's figures, last 7 days"
CSV = (
    b"post,network,published_at,impressions,likes,reposts,replies\r\n"
    b'1,outbox,2026-12-01T09:00:00Z,3120,41,6,2\r\n2,outbox,2026-12-02T09:00:00Z,1200,"9",1,0\r\n'
)


def chart() -> Attachment:
    return Attachment("herald-stats-7d.png", "image/png", tiny_png(320, 200), PNG_TITLE)


def export() -> Attachment:
    return Attachment("herald-stats-7d.csv", "text/csv", CSV, CSV_TITLE)


def with_files(text: str | None = "📈 Last 7 days: 4,320 impressions") -> Message:
    return Message(text=text, files=(chart(), export()))


def say_to(
    rt: Runtime,
    kind: SurfaceKind,
    workspace: str,
    message: Message,
    *,
    conversation: str = "",
    post: int | None = None,
    recipient: str | None = None,
) -> int:
    """Write `message` as a worker would (for post number `post`: in its card's conversation);
    the new message's id."""
    with rt.herald.ctx.tx() as tx:
        ws = tx.session.scalars(
            select(Workspace).where(Workspace.kind == kind, Workspace.external_id == workspace)
        ).one()
        if post is not None:
            row = tx.session.scalars(
                select(Post).where(Post.workspace_id == ws.id, Post.number == post)
            ).one()
            notify(tx, row, message, recipient=recipient)
        else:
            say(tx, ws, message, conversation=conversation, recipient=recipient)
        tx.session.flush()
        newest = tx.session.scalar(
            select(func.max(OutboundMessage.id)).where(OutboundMessage.workspace_id == ws.id)
        )
        return int(newest or 0)
