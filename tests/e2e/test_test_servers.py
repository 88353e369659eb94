"""The test command on a fresh machine: with no HERALD_TEST_PG / HERALD_TEST_REDIS the session
starts a PostgreSQL and a Redis of its own and stops them after; a server that cannot be had
ends the run with one line and a non-zero exit (never a skip)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One small test that needs both: a PostgreSQL database and the queues on Redis.
SMALL = (
    "tests/core/test_attempts.py::test_rate_limits_then_an_unclear_answer_do_not_give_up[postgres]"
)

pytestmark = pytest.mark.slow


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # Reparented and not yet reaped by init counts as gone.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_with_nothing_configured_the_session_brings_up_its_own_servers_and_stops_them() -> None:
    run = _pytest(SMALL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
    started = re.search(
        r"PostgreSQL on 127\.0\.0\.1:(\d+) \(pid (\d+)\), "
        r"Redis on 127\.0\.0\.1:(\d+) \(pid (\d+)\)",
        run.stdout,
    )
    assert started, run.stdout[:2000]
    pg_port, pg_pid, redis_port, redis_pid = (int(g) for g in started.groups())
    assert not _alive(pg_pid) and not _alive(redis_pid)
    assert not _listening(pg_port) and not _listening(redis_port)


def test_a_server_that_cannot_be_started_ends_the_run_in_one_line(tmp_path: Path) -> None:
    run = _pytest(SMALL, HERALD_TEST_PG_BIN=str(tmp_path))
    assert run.returncode == 3
    said = [line for line in (run.stdout + run.stderr).splitlines() if "Cannot start" in line]
    assert said == [
        f"Exit: Cannot start the tests' own server: no initdb/postgres in {tmp_path}: install "
        "the PostgreSQL server package (apt-get install postgresql), set HERALD_TEST_PG_BIN to "
        "its bin folder, or set HERALD_TEST_PG to a running server"
    ]
    assert "passed" not in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_a_configured_server_that_does_not_answer_ends_the_run_in_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    run = _pytest(SMALL, HERALD_TEST_PG=f"postgresql://127.0.0.1:{port}/test")
    assert run.returncode == 3
    said = [line for line in (run.stdout + run.stderr).splitlines() if "not reachable" in line]
    assert len(said) == 1, run.stdout[-2000:]
    assert said[0].startswith(f"Exit: PostgreSQL is not reachable at postgresql://127.0.0.1:{port}")
    assert said[0].endswith("start it, or unset HERALD_TEST_PG to let the tests start their own")
    assert "passed" not in run.stdout
