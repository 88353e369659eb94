"""Group commit for acks: the commands a surface accepts together share one write.

Slack wants its HTTP 200 within 3 s (Herald aims at under 100 ms): the handler stores one row
per command and enqueues its id, nothing else, and a worker runs it later
(`core/messaging/inbox.py`). Under load many acks share one INSERT and one enqueue; this is
the threads and the hand-off of the lead that make that so.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import DBAPIError

from core.context import Context
from core.jobs import Job
from core.messaging.inbox import seal_secrets
from core.ports import Done
from core.ratelimit import Admission, TooFast
from core.sanitize import clean_input
from core.workspace.people import Actor
from storage.models import InboxCommand

log = logging.getLogger(__name__)
MAX_BATCH = 200  # commands in one INSERT; more wait for the next leader


class _Waiting:
    """One command waiting for its row: `done` with an id or an error, or told to lead.

    A blocking caller waits on `wake`, a lock held from the start and released once (the
    cheapest one-shot signal); a caller that cannot block (an event loop) gives `callback`.
    """

    __slots__ = ("admission", "callback", "done", "error", "params", "row_id", "wake")

    def __init__(
        self,
        params: dict[str, Any],
        admission: Admission | None = None,
        callback: Done | None = None,
    ) -> None:
        self.params = params
        self.admission = admission
        self.callback = callback
        self.wake = threading.Lock()
        self.wake.acquire()
        self.done = False
        self.row_id = 0
        self.error: Exception | None = None

    def finish(self, row_id: int = 0, error: Exception | None = None) -> None:
        self.row_id, self.error, self.done = row_id, error, True
        if self.callback is None:
            self.wake.release()
            return
        try:
            self.callback(row_id, error)
        except Exception:  # its event loop closed, say: the lead must still pass on
            log.exception("inbox: a caller could not be told about its command")


class Inbox:
    """Group commit for acks: the commands that arrive together share one write.

    Each caller queues its command. One caller leads: it takes every queued command, stores
    them with one multi-row INSERT, enqueues them as one job and wakes their callers, then
    hands the lead to the oldest command still queued. Alone, a command costs what it always
    did (its own thread writes it); under load one round trip to the database and one to the
    broker serve many acks, and fewer threads wait on I/O for the GIL. Commands from a
    caller that cannot block (`accept_later`, from an event loop) are led by a writer
    thread of the inbox's own. The batch's rate-limit hits and one-time keys are counted
    the same way, in one round trip before the write.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False
        self._writer: threading.Thread | None = None
        self._writer_turn = threading.Semaphore(0)

    def accept(self, actor: Actor, text: str, admission: Admission | None = None) -> int:
        """Store the command and enqueue its id (both before the caller acks); its row id,
        or 0 for a replay of a one-time key. `TooFast` when over the limit, nothing stored."""
        item = _Waiting(self._row(actor, text), admission)
        with self._lock:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        if not lead:
            item.wake.acquire()
        if not item.done:  # leading: from the start, or handed the lead
            self._lead()
        if item.error is not None:
            raise item.error
        return item.row_id

    def accept_later(
        self, actor: Actor, text: str, done: Done, admission: Admission | None = None
    ) -> None:
        """Queue the command without blocking; `done(row_id, error)` is called (from another
        thread) once it is stored and enqueued, or could not be (row id 0: a replay)."""
        item = _Waiting(self._row(actor, text), admission, done)
        with self._lock:
            self._queue.append(item)
            if self._leading:
                return
            self._leading = True
        self._writer_leads()

    def _row(self, actor: Actor, text: str) -> dict[str, Any]:
        # Cleaned here, before batching: one row PostgreSQL refuses (a NUL) would fail the
        # INSERT for everyone in the batch. Names come from the platform, but still untrusted.
        fields = {k: clean_input(v) if isinstance(v, str) else v for k, v in vars(actor).items()}
        text = clean_input(text)
        return {
            "surface": actor.surface.value,
            "actor": fields,  # flat: no nested dataclasses to convert
            "text": seal_secrets(self.ctx, actor, text),
            "created_at": self.ctx.clock.now(),
        }

    def _lead(self) -> None:
        """Store one batch, then pass the lead on, or put it down when nobody waits."""
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        try:
            self._store(batch)
        finally:
            for waiting in batch:
                if not waiting.done:  # only if _store itself broke
                    waiting.finish(error=RuntimeError("the command was not stored"))
            with self._lock:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._leading = False
            if following is not None and following.callback is None:
                following.wake.release()  # not done: it leads next
            elif following is not None:
                self._writer_leads()

    def _writer_leads(self) -> None:
        # Only the one holding the lead gets here, so the thread starts once.
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_forever, name="herald-inbox", daemon=True
            )
            self._writer.start()
        self._writer_turn.release()

    def _write_forever(self) -> None:
        while True:
            self._writer_turn.acquire()
            self._lead()

    def _write(self, batch: list[_Waiting]) -> list[int]:
        """INSERT the batch; its ids in order.

        A connection the database dropped (a restart, a failover) fails the statement; it may
        or may not have been committed first. The rows are looked up by their instants and
        texts (microseconds apart: unique in practice), and written again only if absent.
        """
        inbox = cast(Table, InboxCommand.__table__)
        statement = insert(inbox).returning(inbox.c.id, sort_by_parameter_order=True)
        rows = [w.params for w in batch]
        try:
            return [int(i) for i in self.ctx.db.write(statement, rows)]
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.warning("inbox: the database dropped the connection; checking, then retrying")
        with self.ctx.db.lean.connect() as conn:
            found = {
                (created_at, text): row_id
                for row_id, created_at, text in conn.execute(
                    select(inbox.c.id, inbox.c.created_at, inbox.c.text).where(
                        inbox.c.created_at.in_([r["created_at"] for r in rows])
                    )
                )
            }
        ids = [found.get((r["created_at"], r["text"])) for r in rows]
        if all(i is not None for i in ids):
            return [int(i) for i in ids if i is not None]
        return [int(i) for i in self.ctx.db.write(statement, rows)]

    def _admitted(self, batch: list[_Waiting]) -> list[_Waiting]:
        """The batch less replays (done with id 0) and commands over their sender's limit
        (done with `TooFast`), counted in one round trip to the counter."""
        asking = [(w, w.admission) for w in batch if w.admission is not None]
        if not asking:
            return batch
        try:
            hits = self.ctx.limits.hit_many([admission.ask for _, admission in asking])
        except Exception:  # limits protect; a broken counter must not stop every command
            log.exception("inbox: could not count %d command(s); taking them", len(asking))
            return batch
        for (waiting, admission), hit in zip(asking, hits, strict=True):
            try:
                if not admission.judge(hit):
                    waiting.finish(0)
            except TooFast as exc:
                waiting.finish(error=exc)
        return [w for w in batch if not w.done]

    def _store(self, batch: list[_Waiting]) -> None:
        """Write and enqueue a batch; every item ends done, with its id or the error."""
        batch = self._admitted(batch)
        if not batch:
            return
        stored: list[tuple[_Waiting, int]] = []
        try:
            stored = list(zip(batch, self._write(batch), strict=True))
        except Exception as exc:  # noqa: BLE001 - each waiting caller gets it
            if len(batch) == 1:
                batch[0].finish(error=exc)
                return
            # One bad row must not fail the others: each on its own, so only it fails.
            log.warning("inbox: a batch of %d failed (%r); writing each alone", len(batch), exc)
            for waiting in batch:
                try:
                    stored += zip([waiting], self._write([waiting]), strict=True)
                except Exception as one:  # noqa: BLE001 - this caller gets it
                    waiting.finish(error=one)
        if not stored:
            return
        ids = [row_id for _, row_id in stored]
        try:
            self.ctx.queue.enqueue(Job.RUN_INBOUND, *ids)
        except Exception:
            # The rows are stored: the sweeper sends their job once they are a minute old.
            log.exception("inbox: stored %d command(s) but could not enqueue them", len(ids))
        for waiting, row_id in stored:
            waiting.finish(row_id)
