"""Fixtures: every database test runs on SQLite with the in-process worker and on real
PostgreSQL + Redis with a real Celery worker. Missing services fail the run, never skip it."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis
from sqlalchemy import text

from bot.runtime import Runtime, build_runtime
from core.jobs import Lane as QUEUE_KINDS
from core.settings import Settings
from core.workspace.people import Actor
from storage.db import Database
from storage.models import SurfaceKind
from storage.schema import metadata

if TYPE_CHECKING:
    from tests.faults_support import OwnRedis

PG_ADMIN_URL = os.environ.get("HERALD_TEST_PG", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HERALD_TEST_REDIS", "redis://127.0.0.1:6379/11")
# One queue per test session: parallel runs on one Redis never take each other's jobs.
QUEUE = f"herald-test-{uuid.uuid4().hex[:8]}"
BACKENDS = ["sqlite", "postgres"]


def _require_services() -> None:
    problems = []
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        problems.append(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis is not reachable at {REDIS_URL} ({exc}). Start redis-server.")
    if problems:
        pytest.exit("\n".join(problems), returncode=3)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    _require_services()
    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def purge_queues(url: str, queue: str) -> None:
    """Drop the jobs a previous test left in this queue prefix's queues."""
    redis.Redis.from_url(url).delete(queue, *(f"{queue}.{kind}" for kind in QUEUE_KINDS))


def _truncate(url: str) -> None:
    db = Database(url)
    tables = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "tick_seconds": 0.3,
        "sweep_seconds": 1.0,
        "wait_timeout_seconds": 30,
        "worker_concurrency": 4,
    }
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        _truncate(url)
        purge_queues(REDIS_URL, QUEUE)
        values["database_url"] = url
        values["broker_url"] = REDIS_URL
        values["queue"] = QUEUE
    else:
        _require_services()
        # The in-memory transport's queues are shared by name within the process: a queue per
        # test keeps a job left behind by one test away from the next test's worker.
        values["queue"] = f"herald-test-{uuid.uuid4().hex[:8]}"
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """Herald with a real Celery worker: in-process on SQLite, on Redis for PostgreSQL."""
    rt = build_runtime(settings)
    rt.embedded = None
    from workers.app import EmbeddedWorker

    worker = EmbeddedWorker(rt.celery, settings)
    worker.start()
    rt.embedded = worker
    yield rt
    rt.close()


@pytest.fixture
def idle_runtime(settings: Settings) -> Iterator[Runtime]:
    """Herald with no worker running: tests drive the pipeline step by step."""
    rt = build_runtime(settings)
    yield rt
    rt.close()


def actor(name: str = "maria", *, workspace: str = "local") -> Actor:
    return Actor(
        surface=SurfaceKind.TERMINAL,
        workspace_id=workspace,
        workspace_name="Test",
        user_id=name,
        user_name=name,
        conversation="terminal",
    )


class FakeClock:
    """A settable clock for tests of time itself (schedules, staleness)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.instant = start or datetime(2026, 11, 26, 22, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.instant

    def advance(self, **delta: float) -> None:
        self.instant += timedelta(**delta)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of the test's own on a free port: fault tests kill and restart it."""
    from tests.faults_support import OwnRedis  # it imports this module

    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


# Libraries whose log levels Herald sets (bot.logsafety): tests that capture logs put them back.
LIBRARIES = (
    "httpx",
    "httpcore",
    "telegram",
    "slack_sdk",
    "slack_bolt",
    "urllib3",
    "openai",
    "celery",
    "kombu",
)


@pytest.fixture
def logs() -> Iterator[list[logging.LogRecord]]:
    """Every record that reaches the root logger, through a handler of the test's own (not
    Herald's), with Herald's global logging state put back afterwards."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)  # what any handler would write, traceback included
            records.append(record)

    root = logging.getLogger()
    saved = (
        root.level,
        list(root.handlers),
        logging.getLogRecordFactory(),
        {name: logging.getLogger(name).level for name in LIBRARIES},
    )
    keep = Keep(level=logging.DEBUG)
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)  # the level under test, whatever configure_logging does
    yield records
    root.removeHandler(keep)
    for handler in root.handlers[:]:
        if handler not in saved[1]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved[0])
    logging.setLogRecordFactory(saved[2])
    for name, level in saved[3].items():
        logging.getLogger(name).setLevel(level)
