"""Talking to Slack's Web API: a client per workspace token, rate limits as `RetryLater`,
and per-channel pacing. The users.info cache is bot.slack.people's."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from core.errors import RetryLater
from core.settings import Settings
from storage.models_slack import BotInstall, SlackRepository

log = logging.getLogger(__name__)

PACE_SECONDS = 1.0  # Slack allows about one message a second per channel
INSTALL_TTL = 60.0  # how long a looked-up token is trusted before the database is asked again


def retry_after(exc: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait (HTTP 429), or None for any other error."""
    if exc.response is None or exc.response.status_code != 429:
        return None
    value = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
    try:
        return max(float(value), 1.0) if value is not None else 1.0
    except ValueError:
        return 1.0


def call(method: Callable[..., SlackResponse], **kwargs: Any) -> SlackResponse:
    """One Web API call; a 429 becomes `RetryLater` so the job is retried, never slept on."""
    try:
        return method(**kwargs)
    except SlackApiError as exc:
        wait = retry_after(exc)
        if wait is not None:
            raise RetryLater(wait, "Slack rate limit") from None
        raise


@dataclass(frozen=True)
class Bot:
    team_id: str
    token: str
    bot_id: str | None
    bot_user_id: str | None


class Tokens:
    """The bot token for a workspace: its OAuth installation, else the single-workspace token."""

    def __init__(self, settings: Settings, repo: SlackRepository) -> None:
        self.settings = settings
        self.repo = repo
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Bot | None]] = {}
        self._clients: dict[str, WebClient] = {}
        self._single: Bot | None = None

    def client(self, token: str | None = None) -> WebClient:
        key = token or ""
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = WebClient(token=token, base_url=self.settings.slack_api_url, timeout=10)
                self._clients[key] = found
            return found

    def bot(self, team_id: str | None) -> Bot | None:
        now = time.monotonic()
        key = team_id or ""
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found: BotInstall | None = self.repo.find_install(team_id) if team_id else None
        bot = (
            Bot(found.team_id, found.bot_token, found.bot_id, found.bot_user_id)
            if found is not None
            else self._single_bot(team_id)
        )
        with self._lock:
            self._cache[key] = (now + INSTALL_TTL, bot)
        return bot

    def cached(self, team_id: str) -> bool:
        """Whether `bot(team_id)` would answer from memory (no database, no Slack call)."""
        with self._lock:
            found = self._cache.get(team_id)
        return found is not None and found[0] > time.monotonic()

    def _single_bot(self, team_id: str | None) -> Bot | None:
        token = self.settings.slack_bot_token
        if token is None:
            return None
        if self._single is None:
            # Once per process: who the configured token belongs to (bolt needs the bot's ids).
            info = call(self.client(token.get_secret_value()).auth_test)
            self._single = Bot(
                team_id=str(info.get("team_id") or team_id or ""),
                token=token.get_secret_value(),
                bot_id=info.get("bot_id"),
                bot_user_id=info.get("user_id"),
            )
        return self._single

    def forget(self, team_id: str) -> None:
        with self._lock:
            self._cache.pop(team_id, None)

    def for_team(self, team_id: str) -> WebClient:
        bot = self.bot(team_id)
        if bot is None:
            raise RuntimeError(f"Herald is not installed in Slack workspace {team_id}")
        return self.client(bot.token)


class Pacer:
    """At most one message a second per channel, across processes when Redis is the broker.

    With Redis, `SET key NX PX 1000` is the slot: whoever sets it may send, the others are told
    how long the slot still lasts and retry their Celery job after that. In the embedded mode the
    only worker is in this process, so a dictionary under a lock is exact.
    """

    def __init__(self, settings: Settings) -> None:
        self._redis: Any = None
        if settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://")):
            import redis

            self._redis = redis.Redis.from_url(settings.broker_url)
        self._prefix = f"{settings.queue}:slack-pace:"
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait_for(self, team_id: str, channel: str) -> float:
        """Take the channel's slot: 0.0 when taken, else the seconds until it frees."""
        key = f"{team_id}:{channel}"
        if self._redis is not None:
            ms = int(PACE_SECONDS * 1000)
            if self._redis.set(self._prefix + key, b"1", nx=True, px=ms):
                return 0.0
            left = self._redis.pttl(self._prefix + key)
            return max(float(left) / 1000.0, 0.05) if left and left > 0 else 0.05
        now = time.monotonic()
        with self._lock:
            free_at = self._next.get(key, 0.0)
            if free_at > now:
                return free_at - now
            self._next[key] = now + PACE_SECONDS
            return 0.0

    def take(self, team_id: str, channel: str) -> None:
        wait = self.wait_for(team_id, channel)
        if wait > 0:
            raise RetryLater(wait, f"pacing messages to {channel}")
