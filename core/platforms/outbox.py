"""The `outbox` network: each published target becomes one JSON file in a local folder.

It is the network of the embedded mode and of every end-to-end test: real enough to show the
whole loop (ids, links, exactly-once) with no account anywhere.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from core.ports import Published, PublishRequest

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class OutboxPublisher:
    network = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

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
            "published_at": datetime.now(UTC).isoformat(),
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
