"""Concurrency of the Slack listeners: how many core calls at once, the pool that runs what
follows an ack, and `Deferred`, the bridge that lets a listener on the event loop answer once
the inbox stored its command."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

from slack_bolt import BoltResponse

from core.errors import HeraldError, log_failure, went_wrong
from core.posts.card import Message
from core.service import Herald
from core.workspace.people import Actor

log = logging.getLogger(__name__)

# At most this many core calls at once per process: each holds a database connection (and
# may briefly take a second), so the default pool of 15 is never exhausted under a burst.
CORE_SLOTS = 5
# Event ids recorded before an ack have slots of their own: they never queue behind slow work.
ACK_SLOTS = 5
AFTER_THREADS = 16


class Pool:
    """The semaphores around core calls and the threads that run what follows an ack."""

    def __init__(self) -> None:
        self.slots = threading.BoundedSemaphore(CORE_SLOTS)
        self.ack_slots = threading.BoundedSemaphore(ACK_SLOTS)
        # What follows an ack (Slack calls, slower core work) runs here, so the listener
        # returns at once and bolt answers Slack without waiting for it.
        self._after = ThreadPoolExecutor(max_workers=AFTER_THREADS, thread_name_prefix="slack")

    def later(self, work: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run `work` after the ack; a failure is logged with a ref, like a listener's."""

        def run() -> None:
            try:
                work(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - logged with its traceback and a ref
                log_failure(log, "slack follow-up failed", exc)

        self._after.submit(run)


# What to do when a command accepted on the event loop could not be stored: a response to
# send instead of the ack, or None (the person was told another way).
IfFailed = Callable[[Message], BoltResponse | None]


def could_not_accept(exc: Exception) -> Message:
    ref = log_failure(log, "slack: could not accept a command", exc)
    return Message(text=went_wrong(ref), error=True)


class Deferred:
    """Commands bolt's listeners accepted while it ran on the event loop.

    The HTTP endpoint runs `App.dispatch` on the loop for slash commands and card buttons
    (no thread hop: they do no I/O before their ack but the write), then awaits `settle`:
    the inbox's writer stores and enqueues the commands meanwhile, so the ack still follows
    the write, as everywhere else.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[asyncio.Future[Exception | None], IfFailed]] = []

    def accept(
        self, herald: Herald, actor: Actor, text: str, if_failed: IfFailed, once: str | None
    ) -> None:
        future: asyncio.Future[Exception | None] = self.loop.create_future()

        def done(_row_id: int, error: Exception | None) -> None:
            self.loop.call_soon_threadsafe(_settle, future, error)

        # Over the rate limit, `done` gets `TooFast`: `settle` answers with its message.
        herald.accept_later(actor, text, done, once=once)
        self.pending.append((future, if_failed))

    async def settle(self, response: BoltResponse) -> BoltResponse:
        for future, if_failed in self.pending:
            error = await future
            if isinstance(error, HeraldError):
                response = if_failed(Message(text=str(error), error=True)) or response
            elif error is not None:
                response = if_failed(could_not_accept(error)) or response
        return response


def _settle(future: asyncio.Future[Exception | None], error: Exception | None) -> None:
    if not future.done():
        future.set_result(error)


DEFERRED: ContextVar[Deferred | None] = ContextVar("herald_slack_deferred", default=None)
