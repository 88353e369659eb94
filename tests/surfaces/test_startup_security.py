"""Before serving: a server process refuses to run without a real secret key, the embedded
data folder and database are private to their owner, and `.env.example` names every setting."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from bot.cli import main
from bot.cli_common import secret_key_problem
from bot.runtime import build_runtime
from core.settings import Settings
from storage.vault import new_key

ROOT = Path(__file__).resolve().parents[2]
SERVER_COMMANDS = ("web", "worker", "scheduler", "slack", "telegram")


def server_env(tmp_path: Path, **more: str) -> dict[str, str]:
    # Nothing listens on port 9: a process that got past the check would fail differently.
    return {
        "HERALD_DATA_DIR": str(tmp_path / "data"),
        "HERALD_DATABASE_URL": "postgresql+psycopg://herald@127.0.0.1:9/none",
        "HERALD_BROKER_URL": "redis://127.0.0.1:9/0",
        "HERALD_SECRET_KEY": "",
        "HERALD_KMS_KEY_ID": "",
        **more,
    }


@pytest.mark.parametrize("command", SERVER_COMMANDS)
@pytest.mark.parametrize("key", ["", "changeme", "A" * 43 + "=", "your-secret-key-here"])
def test_a_server_process_refuses_a_missing_or_placeholder_key(
    command: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    result = CliRunner().invoke(main, [command], env=server_env(tmp_path, HERALD_SECRET_KEY=key))
    assert result.exit_code != 0
    assert "HERALD_SECRET_KEY" in result.output
    assert "herald keys new" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_real_key_passes_and_the_cli_makes_one() -> None:
    made = CliRunner().invoke(main, ["keys", "new"])
    assert made.exit_code == 0
    assert secret_key_problem(SecretStr(made.output.strip())) is None
    assert secret_key_problem(SecretStr(new_key())) is None
    assert secret_key_problem(None) is not None


def test_the_data_folder_and_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    rt = build_runtime(Settings(_env_file=None, data_dir=data))  # type: ignore[call-arg]
    try:
        with rt.db.session() as s:
            s.connection().exec_driver_sql("SELECT 1")
    finally:
        rt.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    database = data / "herald.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    for extra in data.glob("herald.sqlite3-*"):  # WAL and shared memory follow the file
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


def test_env_example_names_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*(HERALD_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    wanted = {f"HERALD_{name.upper()}" for name in Settings.model_fields}
    assert wanted - named == set()
    assert "herald keys new" in text
