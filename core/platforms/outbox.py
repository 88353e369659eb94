"""The `outbox` network: each published target becomes one JSON file in a local folder.

It is the network of the embedded mode and of every end-to-end test: real enough to show the
whole loop (ids, links, exactly-once, figures) with no account anywhere.

Its figures are made up, the same every time, so the embedded mode shows every summary and
chart and a test can predict each number. For target id `n`, published `t` ago (the
`published_at` in its file; 0 if that is in the future):

    s = n * 37 mod 100
    at 7 days:   impressions I = 1000 + 40 s
                 likes L = floor(I * (2 + s mod 5) / 100)      (2 to 6 % of impressions)
                 reposts = floor(L / 4), replies = floor(L / 6), quotes = floor(L / 12)
                 clicks = floor(I * (1 + s mod 3) / 100)       (1 to 3 %)
    at t:        each figure = floor(its 7-day value * g(t)), with
                 g(t) = (1 - e^(-t / 1 day)) / (1 - e^-7) before 7 days, 1 from then on

so figures grow fast on the first day (g is 4 % at 1 h, 63 % at 24 h) and stop at 7 days.
Target 12, say, ends at 2,760 impressions, 165 likes, 41 reposts, 27 replies, 13 quotes and
82 clicks. A target whose file was deleted is gone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.ports import FiguresRequest, Published, PublishRequest, Reading

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
SATURATED = timedelta(days=7)
_DAY = timedelta(days=1).total_seconds()


def _now() -> datetime:
    return datetime.now(UTC)


def growth(age: timedelta) -> float:
    """How far a post's figures have grown `age` after publication: 0 at first, 1 from 7 days."""
    if age >= SATURATED:
        return 1.0
    seconds = max(age.total_seconds(), 0.0)
    return (1 - math.exp(-seconds / _DAY)) / (1 - math.exp(-SATURATED.total_seconds() / _DAY))


def figures(target_id: int, age: timedelta, raw: dict[str, Any] | None = None) -> Reading:
    """The outbox's figures for a target `age` after publication (see the module docstring)."""
    s = target_id * 37 % 100
    impressions = 1000 + 40 * s
    likes = impressions * (2 + s % 5) // 100
    clicks = impressions * (1 + s % 3) // 100
    g = growth(age)

    def now(final: int) -> int:
        return math.floor(final * g)

    return Reading(
        likes=now(likes),
        reposts=now(likes // 4),
        replies=now(likes // 6),
        quotes=now(likes // 12),
        impressions=now(impressions),
        clicks=now(clicks),
        raw=raw or {},
    )


class OutboxPublisher:
    network = "outbox"

    def __init__(self, folder: Path, clock: Callable[[], datetime] = _now) -> None:
        self.folder = folder
        self.clock = clock

    def _path(self, request: PublishRequest) -> Path:
        # The idempotency key names the file: a second attempt finds the first one's file.
        return self.folder / f"{_SAFE.sub('-', request.idempotency_key)}.json"

    def publish(self, request: PublishRequest) -> Published:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(request)
        existing = self.find(request)
        if existing is not None:
            return existing
        body = {
            "id": path.stem,
            "network": request.network,
            "workspace": request.workspace,
            "post": request.post_number,
            "text": request.text,
            "idempotency_key": request.idempotency_key,
            "published_at": self.clock().isoformat(),
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        try:
            # link() refuses to replace: of two racing attempts exactly one file wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        found = self.find(request)
        assert found is not None
        return found

    def is_connected(self, session: Session, workspace_id: int) -> bool:
        return True

    def find(self, request: PublishRequest) -> Published | None:
        path = self._path(request)
        if not path.exists():
            return None
        return Published(external_id=path.stem, url=str(path.resolve()))

    def read(self, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """Each target's figures at this moment; gone when its file was deleted."""
        now = self.clock()
        read: dict[int, Reading] = {}
        for request in requests:
            path = self.folder / f"{_SAFE.sub('-', request.external_id)}.json"
            try:
                published = json.loads(path.read_text(encoding="utf-8"))["published_at"]
                when = datetime.fromisoformat(published)
            except FileNotFoundError:
                read[request.target_id] = Reading(gone=True)
                continue
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("outbox file %s has no publication time: %s", path.name, exc)
                continue
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            raw = {"published_at": when.isoformat()}
            read[request.target_id] = figures(request.target_id, now - when, raw)
        return read
