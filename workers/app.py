"""The Celery app, its tasks and its schedule, built by a factory around a `Herald` service."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, signals
from celery.beat import EmbeddedService
from celery.bootsteps import RUN
from celery.schedules import crontab
from kombu.entity import Exchange, Queue
from sqlalchemy.exc import OperationalError

from core import accounts, metrics
from core.analytics import digest
from core.analytics.jobs import collect
from core.approvals import deadlines
from core.auditlog import jobs as audit_jobs
from core.errors import RetryLater, Unavailable
from core.jobs import LANE, Job, Lane
from core.logcontext import bound
from core.maintenance.jobs import sweep
from core.messaging import delivery, inbox
from core.operations import alerts
from core.operations.heartbeats import Kind
from core.posts.jobs import generate
from core.publishing.jobs import publish
from core.publishing.reconcile import reconcile
from core.scheduling.jobs import dispatch_due
from core.service import Herald
from core.settings import Settings
from workers.heartbeat import HeartbeatThread

log = logging.getLogger(__name__)

# The longest wait a job may be sent with; longer waits belong in `scheduled_at` (rows).
MAX_COUNTDOWN_SECONDS = 60.0
# Task time limits. The longest legitimate task is a draft from a model, which core bounds by
# HERALD_STALE_GENERATING_SECONDS (120 s by default) and at most 6 model calls of 60 s; a publish
# is a few HTTP calls of at most 25 s each. Celery's threads pool (ours) does not enforce
# limits, so these bind only a prefork worker; the client timeouts are what bound ours.
SOFT_TIME_LIMIT_SECONDS = 300.0
HARD_TIME_LIMIT_SECONDS = 360.0
# Redis hands an unacked job to another worker after this long. It must exceed the longest
# countdown plus the hard limit, or a job held for its countdown, or still running, would run
# twice at once. A job lost to a dead worker comes back from the sweeper long before this.
VISIBILITY_TIMEOUT_SECONDS = 3600.0
# When the daily audit prune runs (hour, minute; UTC): a quiet hour in Europe and the Americas.
AUDIT_PRUNE_AT = (3, 30)


# A broker that answered (a PING or a sent job) this recently is not asked again before a
# command commits: a PING per command, behind a busy embedded worker's threads, slowed a burst
# of 200 drafts enough to fail test_celery_settings' flood test. A broker lost inside this
# window leaves its rows committed, and the sweeper sends their jobs again.
BROKER_TRUST_SECONDS = 1.0

# How long stopping the embedded worker waits for its consumer loop to notice.
STOP_JOIN_SECONDS = 0.05
CONSUMER_START_SECONDS = 5.0  # how long a stop waits for a worker still starting
# The longest any one read or write on the broker's socket may take. Redis answers a BRPOP
# within kombu's brpop_timeout (1 s), so 10 s is only ever reached by a read that will never be
# answered: a stop from another thread racing the worker's loop for the last BRPOP reply, or
# a Redis gone without closing the connection.
BROKER_SOCKET_TIMEOUT_SECONDS = 10.0


def queue_name(settings: Settings, kind: str) -> str:
    """`<HERALD_QUEUE>.<kind>`: the setting is a prefix, so installs sharing a Redis stay apart."""
    return f"{settings.queue}.{kind}"


def _queue(name: str) -> Queue:
    # Its own exchange and routing key, as Celery makes for a queue it creates itself; left
    # out, every queue would be bound under the default queue's name.
    exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]  # kombu is untyped
    return Queue(name, exchange, routing_key=name)  # type: ignore[no-untyped-call]


# Tasks are sent by name from core, so nothing in core imports Celery.
class HeraldCelery(Celery):  # type: ignore[misc]
    herald: Herald


def create_celery(settings: Settings) -> HeraldCelery:
    app = HeraldCelery("herald")
    app.conf.update(
        broker_url=settings.broker_url or "memory://localhost//",
        task_ignore_result=True,
        # Delivery: a job is acked when it has run, not when it arrives, and given back when
        # its worker dies, so a crash re-runs it (every task is safe to run twice); each
        # worker thread reserves one job at a time, so a slow job never sits on others.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=SOFT_TIME_LIMIT_SECONDS,
        task_time_limit=HARD_TIME_LIMIT_SECONDS,
        # JSON only: a job is ids, and a pickled payload on a shared Redis would run code.
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        # A worker consuming several queues takes from them in turn (kombu's Redis transport
        # rotates its BRPOP order), so a flood of one kind of work never holds back another.
        task_queues=[_queue(queue_name(settings, lane)) for lane in Lane],
        task_routes={str(job): {"queue": queue_name(settings, lane)} for job, lane in LANE.items()},
        task_default_queue=queue_name(settings, Lane.MAINTAIN),
        broker_connection_retry_on_startup=True,
        # Celery's consumer with one fix: losing Redis while holding a countdown job no
        # longer stops the worker (see workers/consumer.py).
        worker_consumer="workers.consumer:HeraldConsumer",
        # A running task is not cancelled when the broker drops (threads cannot be): it
        # finishes, its ack is lost, and its job is simply redelivered and finds its row done.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Shutdown. SIGTERM is warm: take nothing new, let running tasks finish, and give the
        # jobs held for a countdown back to their queue. A second signal (cold) still waits
        # this long for running tasks, even when only countdown jobs are held, before
        # re-queueing what is left.
        worker_soft_shutdown_timeout=10.0,
        worker_enable_soft_shutdown_on_idle=True,
        worker_hijack_root_logger=False,
        # polling_interval: how often the in-memory transport looks for new jobs (Redis
        # blocks instead), so the embedded mode answers in a tenth of a second, not one.
        # socket_connect_timeout: a broker that does not answer is a connection error
        # after 5 s, never a worker stuck connecting.
        # socket_timeout: no read waits forever (kombu's default). Without it, a stop could
        # hang for good when its close of the channel and the worker's loop both went for the
        # one BRPOP reply: the loser waited on a socket nobody would ever write to again.
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            "polling_interval": 0.1,
            "socket_connect_timeout": 5.0,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        },
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "dispatch-due": {
                "task": str(Job.DISPATCH),
                "schedule": timedelta(seconds=settings.tick_seconds),
                "options": {"expires": settings.tick_seconds * 2},
            },
            "check-accounts": {
                "task": str(Job.CHECK_ACCOUNTS),
                "schedule": timedelta(hours=6),
                "options": {"expires": 3600},
            },
            "sweep": {
                "task": str(Job.SWEEP),
                "schedule": timedelta(seconds=settings.sweep_seconds),
                "options": {"expires": settings.sweep_seconds * 2},
            },
            "send-digests": {
                "task": str(Job.DIGEST),
                "schedule": timedelta(seconds=settings.digest_seconds),
                "options": {"expires": settings.digest_seconds * 2},
            },
            "watch-deadlines": {
                "task": str(Job.DEADLINES),
                "schedule": timedelta(seconds=settings.deadline_seconds),
                "options": {"expires": settings.deadline_seconds * 2},
            },
            "ops-alerts": {
                "task": str(Job.OPS_ALERTS),
                "schedule": timedelta(seconds=settings.alert_seconds),
                "options": {"expires": settings.alert_seconds * 2},
            },
            "collect-figures": {
                "task": str(Job.COLLECT),
                "schedule": timedelta(seconds=settings.collect_seconds),
                "options": {"expires": settings.collect_seconds * 2},
            },
            **_audit_prune_entry(settings),
        },
        beat_max_loop_interval=min(settings.tick_seconds, 5.0),
    )
    _register_tasks(app)
    _watch_tasks()
    # Celery's thread pool resolves tasks through the process-wide default app, not the app
    # that started the worker: make ours the default so its tasks and its Herald are used.
    app.set_default()
    return app


def _audit_prune_entry(settings: Settings) -> dict[str, Any]:
    """The daily audit prune, when a retention is set (0 keeps the log forever). At a time of
    day, not every 24 h from the scheduler's start: beat keeps its schedule in memory, so a
    scheduler restarted more often than daily would never reach an interval of a day. Two
    schedulers both send it; the second prune finds nothing left (core/auditlog/upkeep.py)."""
    if settings.audit_retention_days <= 0:
        return {}
    return {
        "prune-audit": {
            "task": str(Job.PRUNE_AUDIT),
            "schedule": crontab(minute=AUDIT_PRUNE_AT[1], hour=AUDIT_PRUNE_AT[0]),
            "options": {"expires": 3600},
        }
    }


# Task bodies are module-level and reach their Herald through the app that runs them
# (`self.app`), so every app built in one process (tests build many) runs its own service.
# Each calls its feature's job function with the service's context.


def _generate_post(self: Any, post_id: int) -> None:
    generate(self.app.herald.ctx, post_id)


def _dispatch_due(self: Any) -> int:
    return dispatch_due(self.app.herald.ctx)


def _publish_target(self: Any, target_id: int) -> None:
    publish(self.app.herald.ctx, target_id)


def _reconcile_target(self: Any, target_id: int) -> None:
    reconcile(self.app.herald.ctx, target_id)


def _sweep(self: Any) -> dict[str, int]:
    return sweep(self.app.herald.ctx)


def _run_inbound(self: Any, *row_ids: int) -> None:
    herald = self.app.herald
    inbox.run(herald.ctx, herald.handle, *row_ids)


def _check_accounts(self: Any) -> int:
    return accounts.check_health(self.app.herald.ctx)


def _send_digests(self: Any) -> int:
    return digest.send_due(self.app.herald.ctx)


def _watch_deadlines(self: Any) -> dict[str, int]:
    return deadlines.watch(self.app.herald.ctx)


def _collect_figures(self: Any) -> int:
    return collect(self.app.herald.ctx)


def _ops_alerts(self: Any) -> int:
    return alerts.evaluate(self.app.herald.ctx)


def _prune_audit(self: Any) -> dict[str, int]:
    return audit_jobs.prune(self.app.herald.ctx)


def _deliver_message(self: Any, message_id: int) -> None:
    try:
        delivery.deliver(self.app.herald.ctx, message_id)
    except RetryLater as wait:
        # The surface said when to come back (Slack Retry-After, Telegram retry_after).
        raise self.retry(
            countdown=min(wait.seconds, MAX_COUNTDOWN_SECONDS), max_retries=20
        ) from None


BODIES: dict[Job, Any] = {
    Job.GENERATE: _generate_post,
    Job.DISPATCH: _dispatch_due,
    Job.PUBLISH: _publish_target,
    Job.RECONCILE: _reconcile_target,
    Job.SWEEP: _sweep,
    Job.DELIVER: _deliver_message,
    Job.CHECK_ACCOUNTS: _check_accounts,
    Job.RUN_INBOUND: _run_inbound,
    Job.DIGEST: _send_digests,
    Job.COLLECT: _collect_figures,
    Job.DEADLINES: _watch_deadlines,
    Job.OPS_ALERTS: _ops_alerts,
    Job.PRUNE_AUDIT: _prune_audit,
}


# Which id a task's first argument is, for its log lines (core/logcontext.py).
_ARG_FIELD: dict[Job, str] = {
    Job.GENERATE: "post",
    Job.PUBLISH: "target",
    Job.RECONCILE: "target",
    Job.DELIVER: "message",
}


def _logged(job: Job, body: Any) -> Any:
    """`body` with the task's id, name and the row it is about on every line it logs."""

    @functools.wraps(body)
    def run(self: Any, *args: Any) -> Any:
        about = _ARG_FIELD.get(job)
        with bound(
            task_id=str(self.request.id),
            task=str(job),
            **({about: args[0]} if about and args else {}),
        ):
            started = time.monotonic()
            log.debug("%s started", job)
            result = body(self, *args)
            log.debug("%s done in %.3f s", job, time.monotonic() - started)
            return result

    return run


# Wrapped once: every app built in this process registers the same callables.
_LOGGED: dict[Job, Any] = {job: _logged(job, body) for job, body in BODIES.items()}


def _register_tasks(app: HeraldCelery) -> None:
    # One house style: explicit names, late ack, a database hiccup retried with backoff. A task
    # is safe to run twice because core re-reads the row and checks its state first.
    house: dict[str, Any] = {
        "bind": True,
        "acks_late": True,
        "autoretry_for": (OperationalError,),
        "retry_backoff": True,
        "retry_backoff_max": 60,
        "max_retries": 5,
    }
    for job, body in _LOGGED.items():
        app.task(name=str(job), **house)(body)


# When each running task began (monotonic), by task id: Celery's signals carry no timing.
_started: dict[str, float] = {}
_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}
_NAMES = frozenset(str(job) for job in Job)


def _task_began(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.monotonic()


def _task_ended(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    """Duration, outcome and last success of one task run, labelled by its (known) name."""
    began = _started.pop(task_id, None) if task_id is not None else None
    name = getattr(task, "name", None)
    label = name if name in _NAMES else "other"
    if began is not None:
        metrics.TASK_SECONDS.labels(label).observe(time.monotonic() - began)
    outcome = _OUTCOMES.get(state or "", "failure")
    metrics.TASK_RUNS.labels(label, outcome).inc()
    if outcome == "success":
        metrics.TASK_LAST_SUCCESS.labels(label).set_to_current_time()


def _watch_tasks() -> None:
    """Connect the task metrics to Celery's signals, once per process (they are global)."""
    signals.task_prerun.connect(_task_began, weak=False, dispatch_uid="herald-metrics-prerun")
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid="herald-metrics-postrun")


class CeleryQueue:
    """The `JobQueue` port over Celery: send a task by name, ids only."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._probe: Any = None  # a Redis client for `check_reachable`, made on first use
        self._answered_at = -BROKER_TRUST_SECONDS  # monotonic time Redis last answered us

    def check_reachable(self) -> None:
        """PING the Redis broker (one round trip, on a pooled connection); `Unavailable`,
        naming the host but never the password, when it does not answer."""
        url = str(self.app.conf.broker_url)
        if not url.startswith(("redis://", "rediss://")):
            return  # the in-memory broker of the embedded mode is always there
        if time.monotonic() - self._answered_at < BROKER_TRUST_SECONDS:
            return
        import redis

        if self._probe is None:
            self._probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            self._probe.ping()
            self._answered_at = time.monotonic()
        except redis.RedisError as exc:
            where = urlsplit(url)
            place = f"{where.hostname or 'localhost'}:{where.port or 6379}"
            reason = _redis_reason(exc)
            log.warning("the broker at %s does not answer: %s", place, reason)
            raise Unavailable(
                f"I can't reach Redis at {place} ({reason}), so I did nothing. "
                "Is it running? Check HERALD_BROKER_URL, then try again."
            ) from None

    def depths(self) -> dict[str, int]:
        """Jobs waiting in each lane's Redis list (not those a worker holds for a countdown);
        {} for the in-memory broker of the embedded mode, which has no list to count."""
        url = str(self.app.conf.broker_url)
        if not url.startswith(("redis://", "rediss://")):
            return {}
        import redis

        if self._probe is None:
            self._probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        names = [str(queue.name) for queue in self.app.conf.task_queues]
        pipe = self._probe.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        lengths = pipe.execute()
        return {name.rsplit(".", 1)[-1]: int(n) for name, n in zip(names, lengths, strict=True)}

    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        # Countdowns stay short (at most a minute): long waits belong in scheduled_at.
        self.app.send_task(
            str(task),
            args=list(args),
            countdown=min(countdown, MAX_COUNTDOWN_SECONDS) if countdown else None,
        )
        self._answered_at = time.monotonic()


def _redis_reason(error: Exception) -> str:
    import redis

    if isinstance(error, redis.AuthenticationError):
        return "it refused the password"
    said = str(error).lower()
    if "refused" in said:
        return "connection refused"
    if isinstance(error, redis.TimeoutError) or "timed out" in said:
        return "no answer within 2 s"
    if "name or service not known" in said or "nodename nor servname" in said:
        return "unknown host"
    return type(error).__name__


class EmbeddedWorker:
    """A real Celery worker and beat running in threads of this process (the embedded mode)."""

    def __init__(self, app: HeraldCelery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._thread: threading.Thread | None = None
        self._worker: Any = None
        self._beat: Any = None
        self._heartbeats: list[HeartbeatThread] = []

    def start(self) -> None:
        self._worker = self.app.WorkController(
            concurrency=self.settings.worker_concurrency,
            pool_cls="threads",
            hostname="embedded@herald",
            loglevel=self.settings.log_level,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            quiet=True,
        )
        self._thread = threading.Thread(
            target=self._worker.start, name="herald-worker", daemon=True
        )
        self._thread.start()
        # `stop` acts only on a running worker: make sure it is (its thread marks it at once).
        deadline = time.monotonic() + 1.0
        while self._worker.blueprint.state != RUN and time.monotonic() < deadline:
            time.sleep(0.001)
        self._beat = EmbeddedService(
            self.app, thread=True, scheduler_cls="celery.beat.Scheduler", max_interval=1.0
        )
        self._beat.start()
        # Named per process and per worker: one process may run several (tests do). An app
        # without a Herald (a bare Celery app in a test) has no database to beat into.
        name = f"embedded@{socket.gethostname()}.{os.getpid()}.{id(self):x}"
        herald = getattr(self.app, "herald", None)
        self._heartbeats = [
            HeartbeatThread(herald.ctx, kind, name)
            for kind in (Kind.WORKER, Kind.SCHEDULER)
            if herald is not None
        ]
        for heartbeat in self._heartbeats:
            heartbeat.start()

    def _wait_until_consuming(self, timeout: float) -> None:
        """A worker stopped halfway through its start fails inside Celery's own start steps
        (a traceback on the way out, e.g. when `herald slack` refuses a missing token at once):
        let the consumer reach its event loop first. Usually it has long since."""
        deadline = time.monotonic() + timeout
        while self._thread is not None and self._thread.is_alive():
            consumer = getattr(self._worker, "consumer", None)
            if consumer is not None and consumer.blueprint.started >= len(consumer.steps):
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop at once: take no new job and let the running ones finish, without waiting out
        the poll intervals of beat (asleep up to a second between ticks) and of the worker's
        loop (two seconds per drain of the transport), which is all a join would wait for."""
        for heartbeat in self._heartbeats:
            heartbeat.stop()
        self._heartbeats = []
        if self._beat is not None:
            # Beat only sends ticks; one it still sends is a nudge, and rows are the truth.
            self._beat.service.stop(wait=False)
        if self._worker is not None:
            self._wait_until_consuming(CONSUMER_START_SECONDS)
            # Warm: stops consuming, waits for the pool's running tasks, gives held jobs back.
            self._worker.stop(in_sighandler=False)
        if self._thread is not None:
            # Both threads are daemons: the loop notices the stop at its next poll by itself.
            self._thread.join(timeout=STOP_JOIN_SECONDS)
