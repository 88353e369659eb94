"""The test session's own throw-away PostgreSQL and Redis, for a machine where none is
configured: initdb + postgres on a temporary folder and a free port, redis-server on another
free port, both stopped (and the folder removed) when the session ends.

"Configured" means the variable is set: HERALD_TEST_PG (an admin URL: the session creates and
drops its databases there) and HERALD_TEST_REDIS. Each one that is not set is started here.
Servers started by the session are published through the same variables, so xdist workers and
the `herald` processes that tests spawn use them; HERALD_TEST_OWN_SERVERS ("pg,redis") tells
the workers which are the session's own (each worker then takes a Redis database of its own).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

from tests.support.services import free_port

OWN_FLAG = "HERALD_TEST_OWN_SERVERS"


class CannotStart(Exception):
    """A server of the session's own could not be had; the message is one actionable line."""


def _die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """In the child before exec: a killed test session does not leave its servers behind."""

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, int(sig))  # PR_SET_PDEATHSIG

    return arm


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise CannotStart(f"{what} exited at start ({' '.join(tail) or 'no output'})")
        if ready():
            return
        time.sleep(0.05)
    raise CannotStart(f"{what} did not answer within 30 s (log: {log})")


def postgres_bindir() -> Path:
    """HERALD_TEST_PG_BIN, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    chosen = os.environ.get("HERALD_TEST_PG_BIN")
    if chosen:
        return Path(chosen)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else Path("/usr/lib/postgresql/<version>/bin")


def _server_user() -> str | None:
    """initdb and postgres refuse root: as root they run as `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise CannotStart("running as root and there is no `postgres` user for initdb")


class OwnPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port, without fsync (throw-away)."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        # Laid out as the documented configured server: trust auth and a database `test`.
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/test"
        self.folder = Path(tempfile.mkdtemp(prefix="herald-test-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        initdb, postgres = self.bindir / "initdb", self.bindir / "postgres"
        if not initdb.is_file() or not postgres.is_file():
            raise CannotStart(
                f"no initdb/postgres in {self.bindir}: install the PostgreSQL server package "
                "(apt-get install postgresql), set HERALD_TEST_PG_BIN to its bin folder, "
                "or set HERALD_TEST_PG to a running server"
            )
        user = _server_user()
        if user is not None:
            shutil.chown(self.folder, user)
        self.folder.chmod(0o700)
        data, log = self.folder / "data", self.folder / "postgres.log"
        init = subprocess.run(
            [
                str(initdb),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            capture_output=True,
            check=False,
        )
        if init.returncode != 0:
            last = init.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise CannotStart(f"initdb failed in {self.folder}: {' '.join(last)}")
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.folder),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "400",
            "shared_buffers": "256MB",
        }
        options = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(postgres), "-D", str(data), "-p", str(self.port), *options],
                user=user,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # SIGQUIT: PostgreSQL's immediate shutdown (its backends go with it).
                preexec_fn=_die_with_parent(signal.SIGQUIT),
            )
        _wait(self._answers, self.proc, f"PostgreSQL on port {self.port}", log)
        with psycopg.connect(self._initial, autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")

    @property
    def _initial(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/postgres"

    def _answers(self) -> bool:
        try:
            psycopg.connect(self._initial, connect_timeout=1).close()
        except psycopg.Error:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown: nothing is kept
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


class OwnRedisServer:
    """A redis-server on a free port that keeps nothing on disk."""

    def __init__(self) -> None:
        self.binary = os.environ.get("HERALD_TEST_REDIS_SERVER") or shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = Path(tempfile.mkdtemp(prefix="herald-test-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not self.binary or not Path(self.binary).is_file():
            raise CannotStart(
                f"no redis-server ({self.binary or 'not on PATH'}): install it "
                "(apt-get install redis-server), set HERALD_TEST_REDIS_SERVER to the binary, "
                "or set HERALD_TEST_REDIS to a running server"
            )
        log = self.folder / "redis.log"
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--databases", "64"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--dir", str(self.folder), *options],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(signal.SIGKILL),
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        _wait(lambda: _pings(client), self.proc, f"redis-server on port {self.port}", log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _pings(client: redis.Redis[bytes]) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class OwnServers:
    """What the session started: stopped in reverse order, whatever happened."""

    def __init__(self) -> None:
        self.started: list[OwnPostgres | OwnRedisServer] = []

    def start_missing(self) -> str:
        """Start a server for each of HERALD_TEST_PG / HERALD_TEST_REDIS that is not set and
        publish it there; return what was started, for the terminal summary."""
        said = []
        try:
            if not os.environ.get("HERALD_TEST_PG"):
                pg = OwnPostgres()
                self.started.append(pg)
                pg.start()
                os.environ["HERALD_TEST_PG"] = pg.url
                said.append(f"PostgreSQL on 127.0.0.1:{pg.port} (pid {_pid(pg)})")
            if not os.environ.get("HERALD_TEST_REDIS"):
                rd = OwnRedisServer()
                self.started.append(rd)
                rd.start()
                os.environ["HERALD_TEST_REDIS"] = rd.url
                said.append(f"Redis on 127.0.0.1:{rd.port} (pid {_pid(rd)})")
        except BaseException:
            self.stop()
            raise
        own = ["pg" if isinstance(s, OwnPostgres) else "redis" for s in self.started]
        if own:
            os.environ[OWN_FLAG] = ",".join(own)
        return ", ".join(said)

    def stop(self) -> None:
        for server in reversed(self.started):
            server.stop()
        self.started.clear()


def _pid(server: OwnPostgres | OwnRedisServer) -> int:
    assert server.proc is not None
    return server.proc.pid
