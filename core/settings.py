"""Herald's one settings object, read from `HERALD_*` variables and `.env` when built."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(user_data_dir("herald", appauthor=False))


class Settings(BaseSettings):
    """Defaults are the embedded mode: SQLite, in-process worker, offline generator, outbox."""

    model_config = SettingsConfigDict(
        env_prefix="HERALD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    broker_url: str | None = None
    timezone: str = "UTC"
    tick_seconds: float = Field(default=5.0, gt=0)
    sweep_seconds: float = Field(default=30.0, gt=0)
    stale_queued_seconds: float = Field(default=60.0, gt=0)
    stale_publishing_seconds: float = Field(default=300.0, gt=0)
    stale_generating_seconds: float = Field(default=120.0, gt=0)
    max_publish_attempts: int = Field(default=3, ge=1)
    wait_timeout_seconds: float = Field(default=120.0, gt=0)
    worker_concurrency: int = Field(default=4, ge=1)
    log_level: str = "WARNING"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("use a sqlite:/// or postgresql+psycopg:// URL")
        if value and value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "memory://")):
            raise ValueError("use a redis:// URL")
        return value or None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'herald.sqlite3'}"

    @property
    def embedded(self) -> bool:
        """No broker configured: Celery runs inside the herald process."""
        return self.broker_url is None or self.broker_url.startswith("memory://")

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"
