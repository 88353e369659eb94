"""Counters for rate limits and one-time keys: Redis (shared by processes) or memory."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One counted hit: what the counter port (`core.ratelimit.Counter`) answers."""

    count: int  # hits in the current window, this one included
    reset: float  # seconds until the window ends
    fresh: bool  # the one-time key was claimed now (True when none was given)


@dataclass(frozen=True)
class Ask:
    """One hit to count on `key` in windows of `window` seconds, and a one-time key `once`
    to claim for `ttl` seconds (Slack's trigger_id) when given."""

    key: str
    window: float
    once: str | None = None
    ttl: float = 0.0


class MemoryCounter:
    """Exact within one process: the embedded mode, where the only web and worker live."""

    MAX_KEYS = 100_000  # an attacker cycling keys cannot grow it without bound

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self._claims: dict[str, float] = {}  # key -> expiry

    def hit_many(self, asks: Sequence[Ask]) -> list[Hit]:
        with self._lock:
            return [self._hit(ask.key, ask.window, ask.once, ask.ttl) for ask in asks]

    def _hit(self, key: str, window: float, once: str | None, ttl: float) -> Hit:
        # Under the lock.
        now = time.monotonic()
        count, end = self._hits.get(key, (0, 0.0))
        if end <= now:
            count, end = 0, now + window
            if len(self._hits) >= self.MAX_KEYS:
                self._hits = {k: v for k, v in self._hits.items() if v[1] > now}
        self._hits[key] = (count + 1, end)
        fresh = True
        if once is not None:
            expiry = self._claims.get(once)
            fresh = expiry is None or expiry <= now
            if fresh:
                if len(self._claims) >= self.MAX_KEYS:
                    self._claims = {k: v for k, v in self._claims.items() if v > now}
                self._claims[once] = now + ttl
        return Hit(count + 1, end - now, fresh)


class RedisCounter:
    """Shared by every process on one Redis: `INCR` + `EXPIRE` per window and `SET NX EX`
    for the one-time key; the hits of a batch share one pipelined round trip."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url)
        self._prefix = prefix

    def hit_many(self, asks: Sequence[Ask]) -> list[Hit]:
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for ask in asks:
            name = f"{self._prefix}hit:{ask.key}:{int(now // ask.window)}"
            pipe.incr(name)
            pipe.expire(name, math.ceil(ask.window) + 1)
            if ask.once is not None:
                claim = f"{self._prefix}once:{ask.once}"
                pipe.set(claim, b"1", nx=True, ex=max(1, math.ceil(ask.ttl)))
        results = iter(pipe.execute())
        hits = []
        for ask in asks:
            count, _expired = next(results), next(results)
            fresh = bool(next(results)) if ask.once is not None else True
            end = (int(now // ask.window) + 1) * ask.window
            hits.append(Hit(int(count), end - now, fresh))
        return hits
