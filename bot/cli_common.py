"""What every `herald` subcommand shares: settings read once with a readable refusal, the
runtime built with its failures in words, and the checks a server process makes first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import OperationalError

from core.settings import Settings
from storage.db import SchemaOutOfDate, unreachable

if TYPE_CHECKING:  # the runtime imports Celery and the adapters: only when a command runs
    from bot.runtime import Runtime


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"HERALD_{'_'.join(str(p) for p in e['loc']).upper()}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise click.ClickException(f"Bad settings: {problems}") from None


def embedded_only(settings: Settings, what: str) -> None:
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise click.ClickException(
            f"herald db {what} is for the embedded SQLite install. For PostgreSQL use pg_dump "
            "and pg_restore, or on AWS RDS point-in-time recovery (docs/deployment.md#backups)."
        )
    if settings.database_url and settings.database_url != (
        f"sqlite:///{settings.data_dir / 'herald.sqlite3'}"
    ):
        raise click.ClickException(
            f"herald db {what} covers the database in HERALD_DATA_DIR ({settings.data_dir}); "
            "unset HERALD_DATABASE_URL, or copy that SQLite file with its own tools."
        )


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """A database that cannot be reached is one line saying where and what to check."""
    try:
        yield
    except OperationalError as exc:
        raise click.ClickException(unreachable(url, exc)) from None


def need_broker(settings: Settings, what: str) -> None:
    if settings.embedded:
        raise click.ClickException(
            f"herald {what} serves a broker, and HERALD_BROKER_URL is not set. Set it to a "
            "redis:// URL, or run herald chat alone: the embedded mode has its own worker."
        )


def need_secret_key(settings: Settings, what: str) -> None:
    """A server database keeps Slack installations and network credentials sealed: refuse to
    start a server process without a real key (the embedded mode makes its own)."""
    if not settings.effective_database_url.startswith("postgresql") or settings.kms_key_id:
        return
    problem = secret_key_problem(settings.secret_key)
    if problem is not None:
        raise click.ClickException(
            f"herald {what} needs HERALD_SECRET_KEY on PostgreSQL: it seals Slack "
            f"installations and network credentials, and {problem}. Make one with "
            "`herald keys new` and set HERALD_SECRET_KEY to it (or set HERALD_KMS_KEY_ID)."
        )


def secret_key_problem(key: SecretStr | None) -> str | None:
    """What is wrong with HERALD_SECRET_KEY, or None when it is a real key."""
    from storage.vault import VaultError, decode_key

    if key is None or not key.get_secret_value().strip():
        return "it is not set"
    try:
        raw = decode_key(key.get_secret_value())
    except VaultError as exc:
        return f"the one given is not a key ({exc})"
    if len(set(raw)) < 8:  # all zeros, a repeated pattern: a placeholder, not a random key
        return "the one given is a placeholder"
    return None


def build(settings: Settings, *, pre_ping: bool = True) -> Runtime:
    from bot.runtime import build_runtime
    from storage.vault import VaultError

    try:
        with reaching(settings.effective_database_url):
            return build_runtime(settings, pre_ping=pre_ping)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except VaultError as exc:
        raise click.ClickException(
            f"HERALD_SECRET_KEY or HERALD_PREVIOUS_SECRET_KEYS is not usable: {exc}. "
            "Make a key with `herald keys new`."
        ) from None
