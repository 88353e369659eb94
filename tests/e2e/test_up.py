"""`herald up` (issue 17, item 1): one process keeps a laptop install publishing on time, serves
web and polls Telegram, and stops cleanly on one SIGTERM; `herald service install` writes what
keeps it running across logout and reboot."""

from __future__ import annotations

import os
import plistlib
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.service import install
from core.settings import Settings
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.support.helpers import herald_env
from tests.support.services import free_port

HERALD = str(Path(sys.executable).with_name("herald"))


def _wait_for_health(port: int, proc: subprocess.Popen[str], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("herald web never answered /healthz")


def _up(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HERALD, "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert time.monotonic() - started < 40, "one SIGTERM must stop everything"
    return proc.returncode, out


def test_up_publishes_a_post_whose_time_comes_after_the_chat_has_gone(
    settings: Settings,
) -> None:
    env = herald_env(settings)
    port = free_port()
    chat = [HERALD, "chat", "--user", "maria"]
    subprocess.run(chat, input="help\n", env=env, capture_output=True, text=True, check=True)
    proc = _up(env, port)
    try:
        _wait_for_health(port, proc)
        said = subprocess.run(
            chat,
            input="draft Up keeps it going --to outbox --at in 4s\napprove 1\n",
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert "scheduled for" in said
        outbox = settings.data_dir / "outbox"
        deadline = time.monotonic() + 40
        while not list(outbox.glob("herald-1-*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(outbox.glob("herald-1-*.json")), "the post was not published by herald up"
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    assert "Herald is up: worker, scheduler, web" in out
    assert "Herald stopped." in out


def test_up_polls_telegram_and_stops_it_with_the_rest(tmp_path: Path) -> None:
    fake = FakeTelegram().start()
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    env = herald_env(settings, HERALD_TELEGRAM_TOKEN=TOKEN, HERALD_TELEGRAM_API_URL=fake.base_url)
    port = free_port()
    proc = _up(env, port)
    try:
        _wait_for_health(port, proc)
        ana = fake.private(1111, "Ana", "ana")
        fake.queue_update(ana.says("/start"))
        fake.queue_update(ana.says("/draft Up polls Telegram --to outbox"))
        card = fake.wait_for(
            lambda: (c := fake.card(ana.chat_id, 1)) and "reply_markup" in c and c,
            timeout=40,
            what="the card",
        )
        assert "Up polls Telegram" in card["text"]
    finally:
        code, out = _stop(proc)
        fake.stop()
    assert code == 0, out
    assert "telegram (long polling)" in out


def test_up_stops_whole_and_says_why_when_its_port_is_taken(tmp_path: Path) -> None:
    import socket

    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _up(herald_env(settings), port)
        out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 1, out
    assert "web stopped" in out
    assert "Herald stopped after a failure" in out


def test_service_install_writes_a_user_unit_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    said = install(force=False, show=False, platform="linux")
    unit = tmp_path / "config" / "systemd" / "user" / "herald.service"
    text = unit.read_text()
    start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    program, command = start.removeprefix("ExecStart=").rsplit(" ", 1)
    assert command == "up" and Path(program).name == "herald"
    assert os.access(program, os.X_OK)  # an absolute path systemd can run
    assert f"WorkingDirectory={tmp_path}" in text
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert "SECRET" not in text  # settings stay in the folder's .env
    assert "systemctl --user enable --now herald" in said
    assert "loginctl enable-linger" in said
    import click

    with pytest.raises(click.ClickException, match="--force"):
        install(force=False, show=False, platform="linux")
    assert install(force=False, show=True, platform="linux") == text.rstrip("\n")


def test_service_install_on_macos_writes_a_launch_agent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path / "data & more"))
    monkeypatch.chdir(tmp_path)
    said = install(force=False, show=False, platform="darwin")
    path = tmp_path / "Library" / "LaunchAgents" / "org.herald.up.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["ProgramArguments"][1:] == ["up"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["EnvironmentVariables"]["HERALD_DATA_DIR"].endswith("data & more")
    assert "launchctl bootstrap" in said


def test_service_install_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"))
    shown = subprocess.run(
        [HERALD, "service", "install", "--print"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "[Service]" in shown.stdout
    assert not (tmp_path / "c").exists()  # --print writes nothing
