"""Commands accepted before a surface's ack, run by a worker after it.

A surface stores the command as a row and enqueues its id before it acks (`bot/inbox.py`).
The worker runs it here as the verified actor and sends the answer back through chat
delivery: a refusal privately to the person, a change to the post's card (redrawn in place,
the answer in its thread). Credentials in a command are sealed before the row is written.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update

from core.audit import audit
from core.context import Context
from core.grammar import redact_secrets
from core.jobs import Job
from core.messaging.say import notify, say
from core.posts.card import Message
from core.workspace.people import Actor, resolve
from storage.models import InboxCommand, Post, Role, SurfaceKind
from storage.vault import Vault, VaultError

log = logging.getLogger(__name__)
# What runs a command: the service's `handle`, which never raises.
Handle = Callable[[Actor, str], Message]


# Sealed text starts with a character `clean_input` strips, so no typed text looks sealed.
_SEALED = "\u2060sealed:"
_NO_KEY = "\u2060withheld:"


def _context(actor: Actor) -> str:
    # Bound to the person: a sealed command copied into another row or person's name won't open.
    return f"inbox_commands:{actor.surface.value}:{actor.workspace_id}:{actor.user_id}"


def seal_secrets(ctx: Context, actor: Actor, text: str) -> str:
    """A command carrying a credential, sealed with the vault before it is stored; with no
    vault, only its redacted form is kept (and running it says why)."""
    redacted = redact_secrets(text)
    if redacted == text:
        return text
    vault = _vault(ctx)
    if vault is None:
        return _NO_KEY + redacted
    blob = vault.seal_text(text, _context(actor))
    return _SEALED + base64.urlsafe_b64encode(blob).decode()


def open_secrets(ctx: Context, actor: Actor, stored: str) -> tuple[str, str | None]:
    """The command as typed, and a refusal instead when it can't be had back."""
    if stored.startswith(_NO_KEY):
        return stored.removeprefix(_NO_KEY), (
            "I didn't keep your credential: this Herald has no key to encrypt it with. An admin "
            "sets HERALD_SECRET_KEY (herald keys new makes one); then send it again privately."
        )
    if not stored.startswith(_SEALED):
        return stored, None
    vault = _vault(ctx)
    try:
        if vault is None:
            raise VaultError("no vault")
        blob = base64.urlsafe_b64decode(stored.removeprefix(_SEALED))
        return vault.open_text(blob, _context(actor)), None
    except (ValueError, VaultError):
        log.warning("inbox: a sealed command could not be opened; it was not run")
        return "", "I couldn't read back your command (its key changed). Please send it again."


def _vault(ctx: Context) -> Vault | None:
    # No hub means no network accounts at all: nothing to keep a credential for.
    return ctx.hub.vault if ctx.hub is not None else None


def _actor(data: dict[str, object]) -> Actor:
    values = dict(data)
    values["surface"] = SurfaceKind(str(values["surface"]))
    if values.get("role_hint"):
        values["role_hint"] = Role(str(values["role_hint"]))
    return Actor(**values)  # type: ignore[arg-type]


def run(ctx: Context, handle: Handle, *row_ids: int) -> None:
    """Run accepted commands once; a second delivery of a job finds its command started.

    A job for several commands (accepted together) becomes one job each, so that the
    workers run them side by side.
    """
    if len(row_ids) != 1:
        for row_id in row_ids:
            ctx.queue.enqueue(Job.RUN_INBOUND, row_id)
        return
    (row_id,) = row_ids
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
        actor, stored = _actor(row.actor), row.text
        # Purged once claimed: what the command said lives on only in what it did and in
        # the audit trail (credentials redacted there).
        tx.session.delete(row)
    text, problem = open_secrets(ctx, actor, stored)
    reply = Message(text=problem, error=True) if problem else handle(actor, text)
    with ctx.tx() as tx:
        ws, me = resolve(tx, actor, ctx.settings.timezone)
        if text != redact_secrets(text):
            detail = {"command": redact_secrets(text), "ok": not reply.error}
            audit(tx, ws.id, "command.credential", actor_id=me.id, detail=detail)
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
