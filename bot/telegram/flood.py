"""Telegram's flood limits, kept before we call: never sleep a worker, tell it when to come back.

Limits (Bot FAQ): one message a second per chat, 20 a minute per group, 30 a second overall. A
429's `retry_after` holds its chat until then. `reserve()` either takes a slot in every window
that applies or returns how long to wait, taking nothing. State lives in Redis when the broker is
Redis (every process and machine share it), else in this process (the embedded mode is one).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis

PER_CHAT = (1, 1.0)
PER_GROUP = (20, 60.0)
OVERALL = (30, 1.0)


def _rules(chat_id: int, group: bool) -> list[tuple[str, int, float]]:
    rules = [(f"chat:{chat_id}", *PER_CHAT), ("all", *OVERALL)]
    if group:
        rules.append((f"group:{chat_id}", *PER_GROUP))
    return rules


class FloodControl(Protocol):
    def reserve(self, chat_id: int, *, group: bool) -> float:
        """0 when a message may go now (its slot is taken), else the seconds to wait."""
        ...

    def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 for this chat: nothing goes there for `seconds`."""
        ...

    @contextmanager
    def card_lock(self, ref: str) -> Iterator[None]:
        """One redraw of a card at a time, so a stale redraw never lands after a fresh one."""
        yield


class LocalFlood:
    """Sliding windows in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._held: dict[int, float] = {}
        self._cards = [threading.Lock() for _ in range(64)]

    def reserve(self, chat_id: int, *, group: bool) -> float:
        with self._lock:
            now = time.monotonic()
            held = self._held.get(chat_id, 0.0) - now
            if held > 0:
                return held
            wait = 0.0
            rules = _rules(chat_id, group)
            for key, limit, window in rules:
                sent = self._sent.setdefault(key, deque())
                while sent and sent[0] <= now - window:
                    sent.popleft()
                if len(sent) >= limit:
                    wait = max(wait, sent[len(sent) - limit] + window - now)
            if wait > 0:
                return wait
            for key, _, _ in rules:
                self._sent[key].append(now)
            return 0.0

    def hold(self, chat_id: int, seconds: float) -> None:
        with self._lock:
            self._held[chat_id] = max(self._held.get(chat_id, 0.0), time.monotonic() + seconds)

    @contextmanager
    def card_lock(self, ref: str) -> Iterator[None]:
        with self._cards[hash(ref) % len(self._cards)]:
            yield


# One round trip, atomic across processes: check every window, then take a slot in all or none.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held > now then return tostring(held - now) end
local wait = 0
for i = 2, #KEYS do
  local limit = tonumber(ARGV[2 * i - 3])
  local window = tonumber(ARGV[2 * i - 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local first = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    local free = tonumber(first[2]) + window - now
    if free > wait then wait = free end
  end
end
if wait > 0 then return tostring(wait) end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[#ARGV] .. i)
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 * i - 2]) * 1000) + 1000)
end
return '0'
"""

_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > held then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


class RedisFlood:
    """The same windows in Redis, shared by the bot process and every worker."""

    def __init__(self, client: redis.Redis[bytes], prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._hold = client.register_script(_HOLD)

    def reserve(self, chat_id: int, *, group: bool) -> float:
        rules = _rules(chat_id, group)
        keys = [f"{self._prefix}hold:{chat_id}"] + [f"{self._prefix}{k}" for k, _, _ in rules]
        args: list[str] = []
        for _, limit, window in rules:
            args += [str(limit), str(window)]
        args.append(uuid.uuid4().hex)
        return max(0.0, float(self._reserve(keys=keys, args=args)))

    def hold(self, chat_id: int, seconds: float) -> None:
        self._hold(keys=[f"{self._prefix}hold:{chat_id}"], args=[str(seconds)])

    @contextmanager
    def card_lock(self, ref: str) -> Iterator[None]:
        with self._redis.lock(f"{self._prefix}card:{ref}", timeout=30, blocking_timeout=30):
            yield


def build_flood(broker_url: str | None, prefix: str) -> FloodControl:
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return RedisFlood(redis.Redis.from_url(broker_url), prefix)
    return LocalFlood()
