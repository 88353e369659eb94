"""The publishers Herald can post through, built from settings."""

from __future__ import annotations

from core.platforms.outbox import OutboxPublisher
from core.ports import Publisher
from core.settings import Settings
from storage.db import Database
from storage.vault import Vault


def build_publishers(settings: Settings, db: Database, vault: Vault | None) -> dict[str, Publisher]:
    return {"outbox": OutboxPublisher(settings.outbox_dir)}
