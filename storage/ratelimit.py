"""Counters for rate limits and one-time keys: Redis (shared by processes) or memory."""

from __future__ import annotations

import math
import threading
import time
from typing import Any


class MemoryCounter:
    """Exact within one process: the embedded mode, where the only web and worker live."""

    MAX_KEYS = 100_000  # an attacker cycling keys cannot grow it without bound

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self._claims: dict[str, float] = {}  # key -> expiry

    def hit(self, key: str, window: float) -> tuple[int, float]:
        now = time.monotonic()
        with self._lock:
            count, end = self._hits.get(key, (0, 0.0))
            if end <= now:
                count, end = 0, now + window
                if len(self._hits) >= self.MAX_KEYS:
                    self._hits = {k: v for k, v in self._hits.items() if v[1] > now}
            self._hits[key] = (count + 1, end)
            return count + 1, end - now

    def claim(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            expiry = self._claims.get(key)
            if expiry is not None and expiry > now:
                return False
            if len(self._claims) >= self.MAX_KEYS:
                self._claims = {k: v for k, v in self._claims.items() if v > now}
            self._claims[key] = now + ttl
            return True


class RedisCounter:
    """Shared by every process on one Redis: `INCR` + `EXPIRE` per window, `SET NX EX`."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url)
        self._prefix = prefix

    def hit(self, key: str, window: float) -> tuple[int, float]:
        now = time.time()
        index = int(now // window)
        name = f"{self._prefix}hit:{key}:{index}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, math.ceil(window) + 1)
        count, _ = pipe.execute()
        return int(count), (index + 1) * window - now

    def claim(self, key: str, ttl: float) -> bool:
        name = f"{self._prefix}once:{key}"
        return bool(self._redis.set(name, b"1", nx=True, ex=max(1, math.ceil(ttl))))
