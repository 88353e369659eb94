"""What the fault tests share: a redis-server of a test's own, and real `herald` processes
(worker, scheduler) that can be SIGKILLed and restarted, always stopped at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import redis

from tests.support.helpers import eventually
from tests.support.services import free_port

HERALD = str(Path(sys.executable).with_name("herald"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

# `herald` with one change: the SSRF guard lets the worker reach the fake networks on 127.0.0.1
# (only tests widen it; a Mastodon instance is reached through the guard).
_LOOPBACK_HERALD = """
import ipaddress, sys
from core import ssrf
_init = ssrf.SafeFetcher.__init__
def _loopback(self, *args, **kwargs):
    kwargs.setdefault("allow", (ipaddress.ip_network("127.0.0.0/8"),))
    _init(self, *args, **kwargs)
ssrf.SafeFetcher.__init__ = _loopback
from bot.cli import main
main(sys.argv[1:])
"""


class OwnRedis:
    """A redis-server of this test alone on a free port (never the shared one on 6379)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--dir", str(self.folder), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        eventually(lambda: _pings(client), timeout=10, what="redis-server to answer")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # its data dies with it: nothing is saved
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


def _pings(client: redis.Redis[bytes]) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def start_herald(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [HERALD, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def stop_herald(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM (a warm shutdown), SIGKILL if it has not ended in 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


class Processes:
    """`herald worker` / `herald scheduler` processes of one test, each in its own process
    group so a SIGKILL takes the worker's pool children with it (as a container's death does)."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []
        self.killed: list[subprocess.Popen[bytes]] = []
        self.restarted: list[subprocess.Popen[bytes]] = []
        self.args: list[tuple[str, ...]] = []
        self.logs: list[Path] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{args[0]}-{len(self.logs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOOPBACK_HERALD, *args],
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(proc)
        self.args.append(args)
        self.logs.append(log)
        return proc

    def worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", str(concurrency))

    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.start("scheduler")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and its children: no warm shutdown, no goodbye to the broker."""
        self.killed.append(proc)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def supervise(self) -> None:
        """What compose's `restart:` policy does: a worker or scheduler that exited on its own
        is started again (and counted in `restarted`)."""
        for proc, args in list(zip(self.running, self.args, strict=True)):
            if proc not in self.killed and proc not in self.restarted and proc.poll() is not None:
                self.restarted.append(proc)
                self.start(*args)

    def alive(self) -> bool:
        """Every process this test did not kill is still running, none was restarted."""
        gone = self.killed + self.restarted
        return not self.restarted and all(p.poll() is None for p in self.running if p not in gone)

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs)

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                stop_herald(proc)
            # Pool children left behind by a worker that did not stop cleanly.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
