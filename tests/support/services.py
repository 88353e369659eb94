"""The services the tests run on: PostgreSQL and Redis addresses, this session's queue, and
how a test gets a clean database, clean queues and a free port."""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.jobs import Lane as QUEUE_KINDS
from storage.db import Database
from storage.schema import metadata

PG_ADMIN_URL = os.environ.get("HERALD_TEST_PG", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HERALD_TEST_REDIS", "redis://127.0.0.1:6379/11")
_checked = False


def refresh() -> None:
    """Read HERALD_TEST_PG / HERALD_TEST_REDIS again: the session sets them in pytest_configure
    when it starts servers of its own (tests/support/servers.py), after this module was loaded.
    An xdist worker on the session's own Redis takes a database of its own (gw0 → 1, gw1 → 2…)."""
    global PG_ADMIN_URL, REDIS_URL
    PG_ADMIN_URL = os.environ.get("HERALD_TEST_PG", PG_ADMIN_URL)
    REDIS_URL = os.environ.get("HERALD_TEST_REDIS", REDIS_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    own = os.environ.get("HERALD_TEST_OWN_SERVERS", "").split(",")
    if "redis" in own and worker.startswith("gw") and worker[2:].isdigit():
        REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + f"/{int(worker[2:]) % 63 + 1}"


refresh()
# One queue per test session: parallel runs on one Redis never take each other's jobs.
QUEUE = f"herald-test-{uuid.uuid4().hex[:8]}"
BACKENDS = ["sqlite", "postgres"]


def require_services() -> None:
    """End the run (never skip) when PostgreSQL or Redis is not there, in one line saying what
    to do. Checked once a process: a server that goes away later fails the tests that need it."""
    global _checked
    if _checked:
        return
    problems = []
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        problems.append(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({_first_line(exc)}): start it, "
            "or unset HERALD_TEST_PG to let the tests start their own"
        )
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(
            f"Redis is not reachable at {REDIS_URL} ({_first_line(exc)}): start it, "
            "or unset HERALD_TEST_REDIS to let the tests start their own"
        )
    if problems:
        pytest.exit("; ".join(problems), returncode=3)
    _checked = True


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def purge_queues(url: str, queue: str) -> None:
    """Drop the jobs a previous test left in this queue prefix's queues."""
    redis.Redis.from_url(url).delete(queue, *(f"{queue}.{kind}" for kind in QUEUE_KINDS))


_engines: dict[str, Database] = {}


def truncate(url: str) -> None:
    """Empty every table of the database at `url` and restart its ids (a PostgreSQL test
    starts from nothing). DELETE, in one round trip on a kept engine: on tables this small it
    is several times faster than TRUNCATE, and it does not wait for the exclusive lock that a
    connection left idle in a transaction by the previous test would hold up."""
    db = _engines.get(url)
    if db is None:
        db = _engines[url] = Database(url)
    tables = [t.name for t in reversed(metadata.sorted_tables)]  # our schema's names, no input
    deletes = " ".join(f"DELETE FROM {name};" for name in tables)  # noqa: S608
    restart = (
        "FOR seq IN SELECT schemaname, sequencename FROM pg_sequences LOOP "
        "EXECUTE format('ALTER SEQUENCE %I.%I RESTART', seq.schemaname, seq.sequencename); "
        "END LOOP;"
    )
    block = f"DO $$ DECLARE seq record; BEGIN {deletes} {restart} END $$"
    try:
        with db.engine.begin() as conn:
            conn.execute(text(block))
    except DBAPIError:  # e.g. rows in a cycle of foreign keys: TRUNCATE ... CASCADE empties those
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
