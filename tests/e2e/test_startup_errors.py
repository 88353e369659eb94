"""What a person sees when Herald's own infrastructure is wrong at start: one line saying what
is wrong and what to check, a non-zero exit, no traceback and never a password."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_terminal import HERALD, base_env, run_chat
from tests.support.services import free_port

PASSWORD = "s3cret-pw"


def _herald(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HERALD, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _assert_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    said = result.stderr.strip()
    assert len(said.splitlines()) == 1, said
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in said, said


@pytest.mark.parametrize("command", [["chat", "--user", "maria"], ["db", "upgrade"]])
def test_a_database_that_is_not_there_is_one_line_naming_it(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_port()  # nothing listens on it
    env = base_env(tmp_path / "data")
    env["HERALD_DATABASE_URL"] = f"postgresql://herald:{PASSWORD}@127.0.0.1:{port}/test"
    result = subprocess.run(
        [HERALD, *command],
        input="draft hello --to outbox\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _assert_one_line(
        result,
        f"Can't reach PostgreSQL at 127.0.0.1:{port}: connection refused.",
        "Is it running? Check HERALD_DATABASE_URL.",
    )
    assert PASSWORD not in result.stderr + result.stdout


def test_db_current_says_the_same(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(tmp_path / "data")
    env["HERALD_DATABASE_URL"] = f"postgresql://herald:{PASSWORD}@127.0.0.1:{port}/test"
    result = _herald(["db", "current"], env)
    _assert_one_line(result, f"Can't reach PostgreSQL at 127.0.0.1:{port}")
    assert PASSWORD not in result.stderr + result.stdout


def test_a_mistyped_timezone_is_refused_at_start_naming_the_setting(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    env["HERALD_TIMEZONE"] = "Europe/Berln"
    result = run_chat("draft hello --to outbox\n", env)
    _assert_one_line(
        result, "HERALD_TIMEZONE", "'Europe/Berln' is not a time zone", "Europe/Berlin or UTC"
    )
    # Refused before anything was made: no database, no log.
    assert not (tmp_path / "data" / "herald.sqlite3").exists()


def test_a_database_that_answers_no_is_told_apart_from_one_that_is_down(tmp_path: Path) -> None:
    from tests.support.services import PG_ADMIN_URL, require_services

    require_services()
    env = base_env(tmp_path / "data")
    env["HERALD_DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/herald_no_such_db"
    result = _herald(["db", "upgrade"], env)
    _assert_one_line(
        result,
        'refused Herald: database "herald_no_such_db" does not exist.',
        "Check HERALD_DATABASE_URL.",
    )
    assert "Is it running?" not in result.stderr
