"""The worker's broker consumer: Celery's own, made to survive losing Redis while it holds jobs.

The failure it fixes (issue 11, fault 1), with kombu 5.7 / Celery 5.7 on Redis: the worker holds a
delayed job (a countdown: a reconciliation, a retry), reserved and not yet acked. Redis goes
away. Celery's consumer then `collect()`s the connection, which closes its channel; the Redis
channel's `close()` first reads the answer to its pending BRPOP from the dead socket, raises a
connection error (ignored) and so stops before it has restored or forgotten the held jobs. The
connection's transport is detached next, and the consumer's second `close()` of the same
connection tries the restore again, now without a transport: `AttributeError: 'NoneType' object
has no attribute 'hostname'`. That is not a connection error, so it escapes as "Unrecoverable
error" and the worker stops.

The fix settles the held jobs first, while the transport is still attached: they go back to
their queue when Redis is reachable (a network blip), and are forgotten when it is not. Nothing
is lost by forgetting: Redis keeps an unacked job in its `unacked` hash and re-queues it after
the visibility timeout, and a Redis that lost its data lost the job anyway, which the sweeper
re-sends from the database (rows are the truth). The held requests themselves are dropped by
Celery right after (`Consumer.on_close`): their delivery tags belong to the dead channel. A job
that was running then ends later and acks on that dead channel: its ack becomes a no-op (the
job was given back, and it is safe to run twice).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

log = logging.getLogger(__name__)


class HeraldConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, with the held jobs settled before the broken connection is closed."""

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        if self.connection is not None:
            settle_held_jobs(self.connection)
        super().on_connection_error_after_connected(exc)


def settle_held_jobs(connection: Any) -> None:
    """Give the jobs this connection holds unacked back to the broker if it answers, then
    forget them, so closing the connection later has nothing left to restore."""
    # kombu keeps the consumer's channel here; reading it never opens a new one.
    channel = getattr(connection, "_default_channel", None)
    qos = getattr(channel, "_qos", None) if channel is not None else None
    if qos is None:
        return
    held = len(qos._delivered)
    if not held:
        return
    try:
        qos.restore_unacked_once()
        log.warning("broker connection lost: %d held job(s) given back to the queue", held)
    except connection.connection_errors:
        # The broker is gone: Redis re-queues them after the visibility timeout if it kept
        # them, and the sweeper re-sends from the rows if it did not.
        log.warning(
            "broker connection lost: %d held job(s) left to the visibility timeout and the sweeper",
            held,
        )
    qos._delivered.clear()
    qos._delivered.restored = True
    # A job still running acks (or rejects) its message on this channel when it ends, after
    # the consumer has reconnected on a new one: the old channel has no transport left, and
    # kombu's ack raises AttributeError, which Celery calls unrecoverable. The message was
    # given back or left to the visibility timeout above, so its ack has nothing to do.
    qos.ack = _settled
    qos.reject = _settled


def _settled(delivery_tag: Any, requeue: bool = False) -> None:
    log.info("broker connection lost: job %s ended after it was given back", delivery_tag)
