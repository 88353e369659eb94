"""Herald's one settings object, read from `HERALD_*` variables and `.env` when built."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
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
    queue: str = "herald"
    timezone: str = "UTC"
    tick_seconds: float = Field(default=5.0, gt=0)
    sweep_seconds: float = Field(default=30.0, gt=0)
    digest_seconds: float = Field(default=300.0, gt=0)
    collect_seconds: float = Field(default=60.0, gt=0)
    deadline_seconds: float = Field(default=30.0, gt=0)
    stale_queued_seconds: float = Field(default=60.0, gt=0)
    # Unset: derived from the HTTP client's limits (core.platforms.timing.IN_FLIGHT_SECONDS),
    # the moment an attempt can no longer be in flight. Set it only to wait longer.
    stale_publishing_seconds: float | None = Field(default=None, gt=0)
    stale_generating_seconds: float = Field(default=120.0, gt=0)
    max_publish_attempts: int = Field(default=3, ge=1)
    wait_timeout_seconds: float = Field(default=120.0, gt=0)
    worker_concurrency: int = Field(default=4, ge=1)
    log_level: str = "WARNING"
    # json: one JSON object per line (servers, log shippers); text: readable lines; auto: text
    # for `herald chat` and on a terminal, JSON for a server process writing anywhere else.
    log_format: Literal["auto", "json", "text"] = "auto"
    # Optional: unexpected errors are also sent to this Sentry project (redacted first).
    sentry_dsn: SecretStr | None = None
    # Each worker and scheduler process writes its heartbeat row this often; a row older than
    # heartbeat_stale_seconds is a process that died without saying so (/readyz turns 503).
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    heartbeat_stale_seconds: float = Field(default=60.0, gt=0)
    # Alerts for operators go to this chat: `slack:<team id>:<channel id>` or
    # `telegram:<chat id>`. Unset: alerts are not evaluated.
    ops_channel: str | None = None
    alert_seconds: float = Field(default=60.0, gt=0)  # how often the conditions are read
    alert_repeat_seconds: float = Field(default=4 * 3600.0, gt=0)  # a firing alert, again
    alert_window_seconds: float = Field(default=3600.0, gt=0)  # failure rates are over this
    alert_failure_rate: float = Field(default=0.2, gt=0, le=1)
    alert_min_failures: int = Field(default=3, ge=1)
    alert_lag_seconds: float = Field(default=300.0, gt=0)
    alert_network_down_seconds: float = Field(default=900.0, gt=0)
    alert_token_days: float = Field(default=3.0, gt=0)
    # A burst: this many webhook requests refused for their signature, or commands refused for
    # the person's role, within alert_burst_seconds.
    alert_burst_count: int = Field(default=20, ge=1)
    alert_burst_seconds: float = Field(default=300.0, ge=60)
    # What this deployment costs a month, by component (compute, database, redis, storage,
    # egress), in USD: `usage` and the monthly cost report share it out per active person.
    infra_monthly_usd: dict[str, float] = Field(default_factory=dict)
    cost_alert_per_user_usd: float = Field(default=5.0, gt=0)

    # Secrets at rest (tokens of Slack installs and network accounts) are sealed with this key:
    # 32 bytes, base64url. Outside development it must be set; see `herald keys`.
    secret_key: SecretStr | None = None
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)
    kms_key_id: str | None = None
    kms_data_key: str | None = None
    # Audit rows older than this many days are deleted by `herald audit prune` (run it daily),
    # leaving a signed checkpoint so the rest still verifies; 0 keeps them forever.
    audit_retention_days: int = Field(default=0, ge=0)
    public_url: str = "http://127.0.0.1:8000"

    # What `herald web` takes from the outside. Bodies over the cap are refused (413) before
    # they are read; Slack's payloads and Telegram's updates are far smaller.
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    # Per client address on the public pages (Slack install, OAuth starts and callbacks) and
    # on requests that fail their signature or secret; 0 turns a limit off.
    http_rate_limit: int = Field(default=60, ge=0)
    http_rate_window_seconds: float = Field(default=60.0, gt=0)
    # Per person (workspace and user) on chat commands from Slack and Telegram.
    command_rate_limit: int = Field(default=120, ge=0)
    command_rate_window_seconds: float = Field(default=60.0, gt=0)
    # Per person on Slack and Telegram: charts `stats` draws a minute (each costs CPU).
    chart_rate_limit: int = Field(default=6, ge=0)
    # Per API token: REST requests a minute (a tool in a loop can't crowd out the chat).
    api_rate_limit: int = Field(default=120, ge=0)

    # Prometheus metrics (core/metrics.py, bot/metrics.py). `herald web` serves /metrics on its
    # own port; a worker and the scheduler serve them on these ports (0: none).
    metrics_host: str = "127.0.0.1"
    # Set: every /metrics wants `Authorization: Bearer <token>`. Unset: they are open (laptop).
    metrics_token: SecretStr | None = None
    cloudwatch_namespace: str | None = None
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    scheduler_metrics_port: int = Field(default=9102, ge=0, le=65535)
    metrics_max_workspaces: int = Field(default=100, ge=0)

    # Slack (issue: Slack app)
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"

    # Generation with an OpenAI-compatible model
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=60)
    llm_max_retries: int = Field(default=2, ge=0, le=5)
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00)},
        description="USD per million (input, output) tokens, by model",
    )
    llm_monthly_budget_usd: float = Field(default=20.0, ge=0)

    # Networks
    x_api_url: str = "https://api.x.com"
    x_upload_url: str = "https://api.x.com"
    x_auth_url: str = "https://x.com/i/oauth2/authorize"
    x_client_id: str | None = None
    x_client_secret: SecretStr | None = None
    linkedin_api_url: str = "https://api.linkedin.com"
    linkedin_auth_url: str = "https://www.linkedin.com/oauth/v2"
    linkedin_client_id: str | None = None
    linkedin_client_secret: SecretStr | None = None
    facebook_api_url: str = "https://graph.facebook.com/v21.0"
    facebook_auth_url: str = "https://www.facebook.com/v21.0/dialog/oauth"
    facebook_app_id: str | None = None
    facebook_app_secret: SecretStr | None = None

    # Media
    media_bucket: str | None = None
    s3_endpoint_url: str | None = None

    @field_validator("metrics_token")
    @classmethod
    def _blank_metrics_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # `HERALD_METRICS_TOKEN=` left empty in .env means unset, never "the empty token"; a
        # header can't carry the spaces around one, so they are not part of it.
        token = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(token) if token else None

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("use a sqlite:/// or postgresql+psycopg:// URL")
        if value and value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("ops_channel")
    @classmethod
    def _known_ops_channel(cls, value: str | None) -> str | None:
        # Refused at start: an alert lost to a typo is found out on the day it mattered.
        if not value or not value.strip():
            return None
        parts = value.strip().split(":")
        if (parts[0] == "slack" and len(parts) == 3 and all(parts[1:])) or (
            parts[0] == "telegram" and len(parts) == 2 and parts[1].lstrip("-").isdigit()
        ):
            return value.strip()
        raise ValueError(
            "use slack:<team id>:<channel id> (e.g. slack:T0123ABCD:C0456EFGH) "
            "or telegram:<chat id> (e.g. telegram:-1001234567890)"
        )

    @field_validator("infra_monthly_usd")
    @classmethod
    def _known_components(cls, value: dict[str, float]) -> dict[str, float]:
        known = ("compute", "database", "redis", "storage", "egress")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not a component; use {', '.join(known)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("a monthly price cannot be negative")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Refused at start, not at the first time shown: a typo would otherwise surface as an
        # error inside a command, long after the setting was made.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC"
            ) from None
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

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def llm_enabled(self) -> bool:
        """With a base URL or a key set, drafts come from the model."""
        return bool(self.llm_base_url or self.llm_api_key)
