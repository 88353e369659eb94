"""Commands accepted before a surface's ack and run by a worker after it.

Slack wants its HTTP 200 within 3 s (Herald aims at under 100 ms): the handler writes one
row and enqueues its id, nothing else. The worker runs the command as the verified actor and
sends the answer back through chat delivery: a refusal privately to the person, a change to
the post's card (redrawn in place, the answer in its thread).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select, update

from core.context import Context
from core.workspaces import Actor, notify, resolve, say
from storage.models import InboxCommand, Post, Role, SurfaceKind

if TYPE_CHECKING:  # the service calls in here; only its type is needed
    from core.service import Herald

log = logging.getLogger(__name__)
RUN = "herald.run_inbound"
MAX_BATCH = 200  # commands in one INSERT; more wait for the next leader


@dataclass(eq=False)
class _Waiting:
    """One command waiting for its row: `done` with an id or an error, or told to lead."""

    params: dict[str, Any]
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    row_id: int = 0
    error: Exception | None = None


class Inbox:
    """Group commit for acks: the commands that arrive together share one write.

    Each caller queues its command and waits. One of them leads: it takes every queued command,
    stores them with one multi-row INSERT in one transaction, enqueues them as one job and
    wakes their callers, then hands the lead to the oldest command still queued. Alone, a
    command costs what it always did (its own thread writes it); under load one round trip to
    the database and one to the broker serve many acks, and fewer threads trade the GIL.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    def accept(self, actor: Actor, text: str) -> int:
        """Store the command and enqueue its id (both before the caller acks); its row id."""
        item = _Waiting(
            {
                "surface": actor.surface.value,
                "actor": dict(vars(actor)),  # flat: no nested dataclasses to convert
                "text": text,
                "created_at": self.ctx.clock.now(),
            }
        )
        with self._lock:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        if not lead:
            item.wake.wait()
        if not item.done:  # leading: from the start, or handed the lead
            with self._lock:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._store(batch)
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()
                else:
                    self._leading = False
        if item.error is not None:
            raise item.error
        return item.row_id

    def _store(self, batch: list[_Waiting]) -> None:
        """Write and enqueue a batch; every item ends done, with its id or the error."""
        inbox = cast(Table, InboxCommand.__table__)
        statement = insert(inbox).returning(inbox.c.id, sort_by_parameter_order=True)
        try:
            ids = [int(i) for i in self.ctx.db.write(statement, [w.params for w in batch])]
        except Exception as exc:  # noqa: BLE001 - each waiting caller raises it
            for waiting in batch:
                waiting.error = exc
                waiting.done = True
                waiting.wake.set()
            return
        try:
            self.ctx.queue.enqueue(RUN, *ids)
        except Exception:
            # The rows are stored: the sweeper sends their job once they are a minute old.
            log.exception("inbox: stored %d command(s) but could not enqueue them", len(ids))
        for waiting, row_id in zip(batch, ids, strict=True):
            waiting.row_id = row_id
            waiting.done = True
            waiting.wake.set()


def _actor(data: dict[str, object]) -> Actor:
    values = dict(data)
    values["surface"] = SurfaceKind(str(values["surface"]))
    if values.get("role_hint"):
        values["role_hint"] = Role(str(values["role_hint"]))
    return Actor(**values)  # type: ignore[arg-type]


def run(herald: Herald, *row_ids: int) -> None:
    """Run accepted commands once; a second delivery of a job finds its command started.

    A job for several commands (accepted together) becomes one job each, so that the
    workers run them side by side.
    """
    if len(row_ids) != 1:
        for row_id in row_ids:
            herald.ctx.queue.enqueue(RUN, row_id)
        return
    (row_id,) = row_ids
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
