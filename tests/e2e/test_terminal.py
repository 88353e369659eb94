"""The `herald chat` binary, the way a script drives it: startup, piping, plain text, exit
codes, and the loop against real `herald worker` processes. The dialogues themselves run in
process (tests/surfaces/test_terminal.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.vault import new_key
from tests.support.services import QUEUE, REDIS_URL

HERALD = str(Path(sys.executable).with_name("herald"))


def run_chat(
    script: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HERALD, "chat", "--user", "maria"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HERALD_DATA_DIR=str(data_dir), HERALD_TICK_SECONDS="0.5", HERALD_TIMEZONE="UTC")
    return env


def assert_loop_transcript(result: subprocess.CompletedProcess[str], outbox: Path) -> None:
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    expected_in_order = [
        "> draft Our new API is live --to outbox",
        "Drafting #1 for Outbox…",
        "#1 · Draft by @maria · for Outbox",
        "[1] Approve  [2] Edit  [3] Regenerate  [4] Reject",
        "> approve 1",
        "✅ #1 approved by @maria · publishing now",
        "🚀 #1 published · Outbox: ",
    ]
    position = 0
    for line in expected_in_order:
        found = out.find(line, position)
        assert found >= 0, f"missing {line!r} after position {position} in:\n{out}"
        position = found + len(line)
    files = list(outbox.glob("*.json"))
    assert len(files) == 1
    body = json.loads(files[0].read_text())
    assert body["post"] == 1
    assert "API is live" in body["text"]
    assert str(files[0].resolve()) in out
    assert "\x1b[" not in out  # plain text when piped


def test_loop_embedded_sqlite(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    result = run_chat("draft Our new API is live --to outbox\napprove 1\n", env)
    assert_loop_transcript(result, tmp_path / "data" / "outbox")


def test_plain_language_asks_then_runs_on_yes(tmp_path: Path) -> None:
    script = "draft Our new API is live --to outbox\nwait\napprove post 1\nyes\n"
    result = run_chat(script, base_env(tmp_path / "data"))
    assert result.returncode == 0, result.stdout + result.stderr
    asked = result.stdout.index(
        "> approve post 1\nDid you mean: approve 1\n"
        "Reply yes to do it, or no. (Typed like that, it runs at once.)\n> yes\n"
        "✅ #1 approved by @maria · publishing now"
    )
    assert result.stdout.index("🚀 #1 published · Outbox: ") > asked


def test_a_refused_line_makes_the_exit_code_1(tmp_path: Path) -> None:
    result = run_chat("help\nfrobnicate 1\n", base_env(tmp_path / "data"))
    assert result.returncode == 1
    assert 'I don\'t know the command "frobnicate". Type help' in result.stdout


# --- PostgreSQL + Redis with a real `herald worker` process -----------------------------------


@pytest.fixture
def server_env(tmp_path: Path, pg_url: str) -> dict[str, str]:
    from tests.support.services import purge_queues, truncate

    truncate(pg_url)
    purge_queues(REDIS_URL, QUEUE)
    env = base_env(tmp_path / "data")
    env.update(
        HERALD_DATABASE_URL=pg_url,
        HERALD_BROKER_URL=REDIS_URL,
        HERALD_LOG_LEVEL="INFO",
        HERALD_QUEUE=QUEUE,
        HERALD_SECRET_KEY=new_key(),  # server processes refuse to start without one
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [HERALD, *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_loop_on_postgres_and_redis_with_herald_worker(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    worker = _start(["worker", "--concurrency", "2"], server_env, tmp_path / "worker.log")
    scheduler = _start(["scheduler"], server_env, tmp_path / "scheduler.log")
    try:
        time.sleep(1)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        result = run_chat("draft Our new API is live --to outbox\napprove 1\n", server_env)
        assert_loop_transcript(result, tmp_path / "data" / "outbox")
        assert "herald.publish_target" in (tmp_path / "worker.log").read_text()
    finally:
        _stop(worker)
        _stop(scheduler)
    assert "herald.dispatch_due" in (tmp_path / "scheduler.log").read_text()


def test_a_worker_answers_to_the_name_it_was_given(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    from celery import Celery

    worker = _start(["worker", "--name", "publish1@%h", "-c", "1"], server_env, tmp_path / "w.log")
    app = Celery(broker=REDIS_URL)
    try:
        wanted = f"publish1@{socket.gethostname()}"
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline and wanted not in names:
            assert worker.poll() is None, (tmp_path / "w.log").read_text()
            names = {name for reply in app.control.ping(timeout=1.0) for name in reply}
        assert wanted in names, names
    finally:
        _stop(worker)
        app.close()
    blank = subprocess.run(
        [HERALD, "worker", "--name", "two words"],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert blank.returncode == 2
    assert '"two words" is not a worker name. Use one without spaces' in blank.stderr


def test_server_mode_refuses_an_unmigrated_database(tmp_path: Path, pg_url: str) -> None:
    import uuid

    import psycopg

    from tests.support.services import PG_ADMIN_URL

    name = f"herald_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = base_env(tmp_path / "data")
        env.update(
            HERALD_DATABASE_URL=pg_url.rsplit("/", 1)[0] + f"/{name}",
            HERALD_BROKER_URL=REDIS_URL,
            HERALD_SECRET_KEY=new_key(),
        )
        result = subprocess.run(
            [HERALD, "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode != 0
        assert "schema revision none" in result.stderr
        assert "Run: herald db upgrade" in result.stderr
        upgraded = subprocess.run(
            [HERALD, "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert upgraded.returncode == 0, upgraded.stderr
        assert "Database is at revision " in upgraded.stdout
        assert "none" not in upgraded.stdout
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_help_lists_the_commands() -> None:
    result = subprocess.run([HERALD, "--help"], capture_output=True, text=True, check=True)
    for command in ("chat", "worker", "scheduler", "db"):
        assert f"  {command} " in result.stdout
