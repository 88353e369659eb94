"""Engines, sessions and schema state for PostgreSQL and the embedded SQLite file."""

from __future__ import annotations

import ast
import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Executable, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage import auditchain

# Alembic is imported where a migration runs, not here: loading it costs ~200 ms, paid by every
# `herald` command, while a database at head (nearly every start) needs none of it.
if TYPE_CHECKING:
    from alembic.config import Config

    from storage.vault import Vault

MIGRATIONS = Path(__file__).parent / "migrations"


def private_dir(path: Path) -> None:
    """Create a folder only its owner can enter (0700); an existing one is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode is masked by the umask


def private_file(path: Path) -> None:
    """Create an empty file only its owner can read (0600), in a private folder. SQLite
    gives its -wal and -shm files the database file's mode."""
    private_dir(path.parent)
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this code expects."""


def unreachable(url: str, error: BaseException) -> str:
    """One line for a person whose database cannot be reached: where (never the password),
    why in the driver's words, and the setting to check."""
    parsed = make_url(url)
    # The driver's first line names the cause last: "... port 5433 failed: Connection refused".
    first = (str(getattr(error, "orig", None) or error).strip().splitlines() or ["no answer"])[0]
    reason = first.rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip() or "no answer"
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    if parsed.get_backend_name() == "sqlite":
        return (
            f"Can't open the SQLite database at {parsed.database}: {reason}. "
            "Check HERALD_DATA_DIR or HERALD_DATABASE_URL."
        )
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    reason = reason[:1].lower() + reason[1:] if reason.startswith("Connection") else reason
    if not any(word in reason.lower() for word in ("refused", "timeout", "timed out", "resolve")):
        # The server answered and said no: a wrong user, password or database name.
        return f"PostgreSQL at {where} refused Herald: {reason}. Check HERALD_DATABASE_URL."
    return f"Can't reach PostgreSQL at {where}: {reason}. Is it running? Check HERALD_DATABASE_URL."


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Writers take the lock at BEGIN (see _sqlite_begin), so WAL lets readers go on while the
    # worker writes, and busy_timeout turns contention into a short wait instead of an error.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE serialises writers up front, the SQLite stand-in for row locks: a
    # read-then-conditional-update can never be overtaken by another writer in between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One engine and its session factory; the caller owns each transaction."""

    def __init__(self, url: str, *, echo: bool = False, pre_ping: bool = True) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                private_file(Path(parsed.database))
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            # Workers run without pre-ping (`pre_ping=False`): it costs a round trip per
            # checkout, two per publish. A connection the server dropped fails its transaction
            # with `connection_invalidated` and marks the whole pool stale; core runs that
            # transaction again (core.pipeline.run_tx) and the Celery tasks retry on
            # OperationalError. Processes that answer people keep it: their commands are not
            # run again, so the first one after a database restart would fail.
            kwargs.update(pool_pre_ping=pre_ping, pool_size=5, max_overflow=10)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            self.lean = self.engine
        else:
            # The ack path's pool: no pre-ping round trip per checkout (see `write`).
            self.lean = create_engine(
                url, echo=echo, pool_size=5, max_overflow=10, isolation_level="AUTOCOMMIT"
            )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The audit chain: rows inserted by any path are sealed when their transaction commits.
        event.listen(self.engine, "before_execute", auditchain.mark_audit_insert)
        event.listen(self.engine, "before_cursor_execute", auditchain.mark_other_insert)
        event.listen(self.sessions, "before_commit", auditchain.seal_on_commit)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def write(self, statement: Executable, rows: list[dict[str, Any]]) -> list[Any]:
        """Run one statement for these rows, committed on its own: the first column of what
        it returns, in the rows' order.

        For the writes a chat surface makes before its ack: no ORM session, no pre-ping, and
        on PostgreSQL no BEGIN/COMMIT round trips (one statement is atomic by itself). A
        connection the server dropped raises `DBAPIError` with `connection_invalidated`;
        the caller knows whether running the statement again is safe.
        """
        with self.lean.connect() as conn:
            values = list(conn.execute(statement, rows).scalars())
            conn.commit()
            return values

    def dispose(self) -> None:
        self.engine.dispose()
        if self.lean is not self.engine:
            self.lean.dispose()

    # --- schema -------------------------------------------------------------------------

    def alembic_config(self) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        config.attributes["engine"] = self.engine
        return config

    def head_revision(self) -> str | None:
        """The revision(s) this code needs; feature branches make several, joined by '+'."""
        from alembic.script import ScriptDirectory

        heads = ScriptDirectory.from_config(self.alembic_config()).get_heads()
        return "+".join(sorted(heads)) or None

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return "+".join(sorted(heads)) or None

    def upgrade(self, vault: Vault | None = None) -> None:
        """Migrate to head. A migration that re-seals secrets needs `vault` (when any exist)."""
        if self._at_head():
            return  # nothing to migrate: Alembic is not even loaded
        from alembic import command

        config = self.alembic_config()
        config.attributes["vault"] = vault
        command.upgrade(config, "heads")

    def check_schema(self) -> None:
        """Refuse to run against a database that is not migrated to head."""
        if self._at_head():
            return
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            where = make_url(self.url).render_as_string(hide_password=True)
            raise SchemaOutOfDate(
                f"The database at {where} is at schema revision {current or 'none'}, "
                f"this Herald needs {head}. Run: herald db upgrade"
            )

    def schema_current(self) -> bool:
        """Whether the database is at this code's schema (what /readyz reports)."""
        return self._at_head()

    def _at_head(self) -> bool:
        """Whether the database is stamped with exactly the heads on disk, read without Alembic.
        Only ever used to skip work: when unsure, the caller asks Alembic itself."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return False
            stamped = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        return bool(stamped) and stamped == heads_on_disk()


def heads_on_disk(versions: Path = MIGRATIONS / "versions") -> set[str]:
    """The revisions no other revision builds on (Alembic's heads), from the migration files'
    `revision` and `down_revision` assignments."""
    revisions, built_on = _revisions_on_disk(versions)
    return revisions - built_on


def revisions_on_disk(versions: Path = MIGRATIONS / "versions") -> set[str]:
    """Every revision this version's migration files know."""
    return _revisions_on_disk(versions)[0]


def _revisions_on_disk(versions: Path) -> tuple[set[str], set[str]]:
    revisions: set[str] = set()
    built_on: set[str] = set()
    for path in versions.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                name, value = node.target.id, node.value
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name, value = node.targets[0].id, node.value
            else:
                continue
            if value is None or name not in {"revision", "down_revision"}:
                continue
            found = ast.literal_eval(value)
            names = {found} if isinstance(found, str) else set(found or ())
            (revisions if name == "revision" else built_on).update(names)
    return revisions, built_on
