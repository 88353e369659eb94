"""The publishers Herald can post through, built from settings.

Each network's module (and with it httpx) is imported the first time its publisher is asked
for, so a process that publishes nowhere (`herald chat` answering `help`) never loads them.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from core.ports import MediaStore, Publisher
from core.settings import Settings
from storage.db import Database
from storage.vault import Vault

if TYPE_CHECKING:
    from core.platforms.base import Hub

# network name -> (module, class): the outbox first, then the networks in the order shown.
PUBLISHER_CLASSES: Mapping[str, tuple[str, str]] = {
    "outbox": ("core.platforms.outbox", "OutboxPublisher"),
    "x": ("core.platforms.x", "XPublisher"),
    "mastodon": ("core.platforms.mastodon", "MastodonPublisher"),
    "bluesky": ("core.platforms.bluesky", "BlueskyPublisher"),
    "linkedin": ("core.platforms.linkedin", "LinkedInPublisher"),
    "facebook": ("core.platforms.facebook", "FacebookPublisher"),
}


class Publishers(Mapping[str, Publisher]):
    """Every publisher by network name, each built on first use."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self._settings, self._hub = settings, hub
        self._built: dict[str, Publisher] = {}
        self._lock = threading.Lock()

    def __getitem__(self, network: str) -> Publisher:
        found = self._built.get(network)
        if found is not None:
            return found
        module_name, class_name = PUBLISHER_CLASSES[network]
        with self._lock:
            if network not in self._built:
                cls = getattr(importlib.import_module(module_name), class_name)
                arg = self._settings.outbox_dir if network == "outbox" else self._hub
                self._built[network] = cls(arg)
            return self._built[network]

    def __iter__(self) -> Iterator[str]:
        return iter(PUBLISHER_CLASSES)

    def __len__(self) -> int:
        return len(PUBLISHER_CLASSES)


def build_media_store(settings: Settings) -> MediaStore:
    """S3 when a bucket is set, else the local folder."""
    from storage.media import LocalMediaStore, S3MediaStore

    if settings.media_bucket:
        return S3MediaStore(settings.media_bucket, endpoint_url=settings.s3_endpoint_url)
    return LocalMediaStore(settings.media_dir)


def build_hub(settings: Settings, db: Database, vault: Vault | None) -> Hub:
    """The accounts, sealed credentials and media store every network publisher shares."""
    from core.platforms.base import Hub

    return Hub(settings=settings, db=db, vault=vault, media=build_media_store(settings))


def build_publishers(settings: Settings, hub: Hub) -> Publishers:
    return Publishers(settings, hub)
