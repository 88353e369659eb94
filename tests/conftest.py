"""Fixtures: every database test runs on SQLite with the in-process worker and on real
PostgreSQL + Redis with a real Celery worker. Missing services fail the run, never skip it.

Where tests live:
    unit/      pure logic: a value in, a value out (no database, no server, no thread)
    core/      the domain: commands, jobs, pipeline, model client (mostly through the runtime,
               on both databases, with an in-process worker)
    networks/  each network's publisher against its local fake (networks/conftest.py)
    surfaces/  the Slack, Telegram, web and terminal adapters (surfaces/conftest.py)
    e2e/       real `herald` processes: the binaries, worker and scheduler, fault drills
    fakes/     one local fake per outside service, speaking its wire format
    support/   helpers shared by tests (never fixtures: those live in a conftest.py)
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from bot.logsafety import QUIET
from bot.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.db import Database
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer
from tests.fakes.x import FakeX
from tests.support import services
from tests.support.processes import OwnRedis
from tests.support.servers import CannotStart, OwnServers
from tests.support.services import BACKENDS, QUEUE, purge_queues, require_services, truncate
from workers.app import EmbeddedWorker

F = TypeVar("F", bound=FakeServer)
_OWN = OwnServers()
_STARTED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """PostgreSQL and Redis: the configured ones (HERALD_TEST_PG, HERALD_TEST_REDIS), else
    throw-away servers of this session's own, stopped in pytest_unconfigure. xdist workers
    inherit the variables, so only the main process starts anything."""
    try:
        said = _OWN.start_missing()
    except CannotStart as exc:
        pytest.exit(f"Cannot start the tests' own server: {exc}", returncode=3)
    if said:
        _STARTED.append(said)
    services.refresh()
    require_services()  # a configured server that does not answer: one line, before any test


def pytest_unconfigure(config: pytest.Config) -> None:
    _OWN.stop()


def pytest_report_header(config: pytest.Config) -> str:
    own = f" (started for this session: {_STARTED[0]})" if _STARTED else ""
    return f"services: {services.PG_ADMIN_URL}, {services.REDIS_URL}{own}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    require_services()
    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = services.PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once a process: each SQLite test starts from a copy of it
    instead of running every migration again (seconds a test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "herald.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    database_url = broker_url = None
    if backend == "postgres":
        database_url = request.getfixturevalue("pg_url")
        truncate(database_url)
        purge_queues(services.REDIS_URL, QUEUE)
        broker_url, queue = services.REDIS_URL, QUEUE
    else:
        require_services()
        data = tmp_path / "data"
        data.mkdir(mode=0o700)
        data.chmod(0o700)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), data / "herald.sqlite3")
        # The in-memory transport's queues are shared by name within the process: a queue per
        # test keeps a job left behind by one test away from the next test's worker.
        queue = f"herald-test-{uuid.uuid4().hex[:8]}"
    return Settings(  # type: ignore[call-arg]  # _env_file is pydantic-settings' own argument
        _env_file=None,
        data_dir=tmp_path / "data",
        tick_seconds=0.3,
        sweep_seconds=1.0,
        wait_timeout_seconds=30,
        worker_concurrency=4,
        database_url=database_url,
        broker_url=broker_url,
        queue=queue,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """Herald with a real Celery worker: in-process on SQLite, on Redis for PostgreSQL."""
    rt = build_runtime(settings)
    rt.embedded = None
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


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of the test's own on a free port: fault tests kill and restart it."""
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


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
        {name: logging.getLogger(name).level for name in QUIET},
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


def serving(server: F) -> Iterator[F]:
    """Run `server` for one test."""
    server.start()
    yield server
    server.stop()


# The local network fakes, one fixture each; `fake.connect(rt)` connects Herald's account on it.


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from serving(FakeX())


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    yield from serving(FakeMastodon())


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    yield from serving(FakeBluesky())


@pytest.fixture
def fake_linkedin() -> Iterator[FakeLinkedIn]:
    yield from serving(FakeLinkedIn())


@pytest.fixture
def fake_facebook() -> Iterator[FakeFacebook]:
    yield from serving(FakeFacebook())
