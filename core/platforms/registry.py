"""The publishers Herald can post through, built from settings."""

from __future__ import annotations

from core.platforms.base import Hub
from core.platforms.bluesky import BlueskyPublisher
from core.platforms.facebook import FacebookPublisher
from core.platforms.linkedin import LinkedInPublisher
from core.platforms.mastodon import MastodonPublisher
from core.platforms.outbox import OutboxPublisher
from core.platforms.x import XPublisher
from core.ports import MediaStore, Publisher
from core.settings import Settings
from storage.db import Database
from storage.media import LocalMediaStore, S3MediaStore
from storage.vault import Vault

NETWORK_PUBLISHERS = (
    XPublisher,
    MastodonPublisher,
    BlueskyPublisher,
    LinkedInPublisher,
    FacebookPublisher,
)


def build_media_store(settings: Settings) -> MediaStore:
    """S3 when a bucket is set, else the local folder."""
    if settings.media_bucket:
        return S3MediaStore(settings.media_bucket, endpoint_url=settings.s3_endpoint_url)
    return LocalMediaStore(settings.media_dir)


def build_hub(settings: Settings, db: Database, vault: Vault | None) -> Hub:
    """The accounts, sealed credentials and media store every network publisher shares."""
    return Hub(settings=settings, db=db, vault=vault, media=build_media_store(settings))


def build_publishers(settings: Settings, hub: Hub) -> dict[str, Publisher]:
    publishers: dict[str, Publisher] = {"outbox": OutboxPublisher(settings.outbox_dir)}
    for cls in NETWORK_PUBLISHERS:
        publishers[cls.network] = cls(hub)
    return publishers
