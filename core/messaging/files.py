"""The files of chat messages: stored with the message, sent once each, dropped when done.

`say` keeps a message's `Attachment`s here (rows of `outbound_files`, in its transaction);
delivery hands a surface the files it has not sent yet, remembers step by step what went out
(`Recorder`) and drops them once the message is delivered; the terminal's feed reads them back;
the sweeper drops whatever is older than `KEEP`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import delete, select, update

from core.context import Context, Tx
from core.ports import OutboundFile
from core.posts.card import Attachment
from storage.models import OutboundMessage, Post
from storage.models_files import MessageFile

# Long enough for a terminal chat to read them, or a surface down for hours to come back.
KEEP = timedelta(days=1)


def store(tx: Tx, message: OutboundMessage, files: Iterable[Attachment]) -> None:
    """Keep `files` with `message` (flushed), in its transaction and in their order."""
    rows = [
        MessageFile(
            message_id=message.id,
            name=f.name,
            mime=f.mime,
            title=f.title,
            data=f.data,
            created_at=tx.now,
        )
        for f in files
    ]
    tx.session.add_all(rows)


def unsent(tx: Tx, message_id: int) -> tuple[OutboundFile, ...]:
    """The message's files a surface has not taken yet, in their order."""
    rows = tx.session.scalars(
        select(MessageFile)
        .where(MessageFile.message_id == message_id, MessageFile.sent_at.is_(None))
        .order_by(MessageFile.id)
    )
    return tuple(OutboundFile(r.id, r.name, r.mime, r.data, r.title) for r in rows)


def attachments(tx: Tx, message_ids: Sequence[int]) -> dict[int, tuple[Attachment, ...]]:
    """The files of these messages, by message id (the terminal shows them all)."""
    found: dict[int, list[Attachment]] = {}
    if not message_ids:
        return {}
    rows = tx.session.scalars(
        select(MessageFile)
        .where(MessageFile.message_id.in_(message_ids))
        .order_by(MessageFile.message_id, MessageFile.id)
    )
    for r in rows:
        found.setdefault(r.message_id, []).append(Attachment(r.name, r.mime, r.data, r.title))
    return {k: tuple(v) for k, v in found.items()}


class Recorder:
    """What a surface reports as it goes (`core.ports.Progress`), each step committed at once:
    a retry of the delivery (after a 429 on a later step, or a crash) starts after it."""

    def __init__(self, ctx: Context, message_id: int) -> None:
        self.ctx = ctx
        self.message_id = message_id

    def sent(
        self, *, text: bool = False, card_ref: str | None = None, files: Sequence[int] = ()
    ) -> None:
        with self.ctx.tx() as tx:
            row = tx.session.get(OutboundMessage, self.message_id)
            if row is None:
                return
            if text and row.text_sent_at is None:
                row.text_sent_at = tx.now
            if card_ref and row.post_id:
                post = tx.session.get(Post, row.post_id)
                if post is not None:
                    post.card_ref = card_ref
            if files:
                tx.session.execute(
                    update(MessageFile)
                    .where(
                        MessageFile.message_id == self.message_id,
                        MessageFile.id.in_(list(files)),
                        MessageFile.sent_at.is_(None),
                    )
                    .values(sent_at=tx.now)
                )


def drop(tx: Tx, message_id: int) -> None:
    """The message was delivered: its files are not needed any more."""
    tx.session.execute(delete(MessageFile).where(MessageFile.message_id == message_id))


def forget_old(ctx: Context) -> int:
    """Drop files older than `KEEP` (the terminal's, once shown; a surface's, if it never
    came back); what delivery finished with is gone already. How many went."""
    with ctx.tx() as tx:
        gone = tx.session.execute(delete(MessageFile).where(MessageFile.created_at < tx.now - KEEP))
        return int(gone.rowcount)  # type: ignore[attr-defined]
