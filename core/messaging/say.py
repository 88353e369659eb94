"""Everything Herald says in a chat: written as a row in the change's transaction, sent after.

The terminal chat reads the rows itself; Slack and Telegram get theirs from the deliver job
(`core/messaging/delivery.py`), sent once the transaction has committed.
"""

from __future__ import annotations

from core.context import Tx
from core.jobs import Job
from core.messaging import files
from core.posts.card import Message
from storage.models import OutboundMessage, Post, SurfaceKind, Workspace


def notify(
    tx: Tx,
    post: Post,
    message: Message,
    *,
    conversation: str | None = None,
    recipient: str | None = None,
) -> None:
    """Queue a message for the post's conversation, in the same transaction as the change."""
    post_workspace = tx.session.get(Workspace, post.workspace_id)
    assert post_workspace is not None
    say(
        tx,
        post_workspace,
        message,
        conversation=conversation or post.conversation,
        post_id=post.id,
        recipient=recipient,
    )


def say(
    tx: Tx,
    workspace: Workspace,
    message: Message,
    *,
    conversation: str,
    post_id: int | None = None,
    recipient: str | None = None,
) -> None:
    """Queue any message for a conversation (or privately for `recipient`); its files are
    kept beside it (their size was checked when they were made: `Attachment`)."""
    row = OutboundMessage(
        workspace_id=workspace.id,
        conversation=conversation,
        post_id=post_id,
        payload=message.to_payload(),
        recipient=recipient,
        created_at=tx.now,
    )
    tx.session.add(row)
    if message.files:
        tx.session.flush()
        files.store(tx, row, message.files)
    if workspace.kind != SurfaceKind.TERMINAL:
        tx.session.flush()
        tx.later(Job.DELIVER, row.id)
