"""The composition root: settings in, a wired Herald (database, Celery, ports) out."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.inbox import Inbox
from core.auditlog.upkeep import checkpoint_keys
from core.context import Context
from core.generation.factory import build_generator, build_interpreter
from core.platforms.registry import build_hub, build_publishers
from core.ports import ChatDelivery
from core.ratelimit import Counter
from core.service import Herald
from core.settings import Settings
from storage.db import Database
from storage.models import SurfaceKind
from storage.ratelimit import MemoryCounter, RedisCounter
from storage.vault import Vault, decode_key, kms_data_key, local_key
from workers.app import CeleryQueue, EmbeddedWorker, HeraldCelery, create_celery


@dataclass
class Runtime:
    settings: Settings
    db: Database
    celery: HeraldCelery
    herald: Herald
    vault: Vault | None = None
    embedded: EmbeddedWorker | None = None

    def start_embedded_worker(self) -> None:
        """In the embedded mode the worker and the tick live inside this process."""
        if self.settings.embedded and self.embedded is None:
            self.embedded = EmbeddedWorker(self.celery, self.settings)
            self.embedded.start()

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None
        for delivery in self.herald.ctx.deliveries.values():
            close = getattr(delivery, "close", None)
            if close is not None:
                close()
        self.db.dispose()


def open_database(settings: Settings, *, pre_ping: bool = True) -> Database:
    """SQLite (the embedded mode) migrates itself; a server database must be migrated first.
    `pre_ping=False` for processes whose transactions run again on a dropped connection."""
    db = Database(settings.effective_database_url, pre_ping=pre_ping)
    if db.is_sqlite:
        db.upgrade(build_vault(settings, db))  # a migration may re-seal secrets
    else:
        db.check_schema()
    return db


def build_vault(settings: Settings, db: Database) -> Vault | None:
    """The key from settings; the embedded mode makes its own beside the SQLite file."""
    keys = [settings.secret_key, *settings.previous_secret_keys]
    raw = [decode_key(k.get_secret_value()) for k in keys if k is not None]
    if settings.kms_key_id:
        # Envelope encryption: KMS unwraps the data key at start; it seals from then on.
        wrapped_path = settings.data_dir / "kms-data-key.bin"
        raw.insert(
            0, kms_data_key(settings.kms_key_id, wrapped_path, wrapped=settings.kms_data_key)
        )
    if not raw and db.is_sqlite:
        raw = [local_key(settings.data_dir / "secret.key")]
    return Vault(raw) if raw else None


def build_counter(settings: Settings) -> Counter:
    """Rate limits and one-time keys: shared on Redis when it is the broker, else in memory
    (the embedded mode has one process)."""
    if settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisCounter(settings.broker_url, prefix=f"{settings.queue}:limits:")
    return MemoryCounter()


def build_runtime(settings: Settings, *, pre_ping: bool = True) -> Runtime:
    db = open_database(settings, pre_ping=pre_ping)
    vault = build_vault(settings, db)
    celery = create_celery(settings)
    queue = CeleryQueue(celery)
    deliveries: dict[SurfaceKind, ChatDelivery] = {}
    # Each surface's libraries load only when it is configured: the terminal starts fast.
    if settings.slack_bot_token or settings.slack_client_id:
        from bot.slack.delivery import build_slack_delivery

        slack = build_slack_delivery(settings, db, vault)
        if slack is not None:
            deliveries[SurfaceKind.SLACK] = slack
    if settings.telegram_token:
        from bot.telegram.delivery import build_telegram_delivery

        telegram = build_telegram_delivery(settings)
        if telegram is not None:
            deliveries[SurfaceKind.TELEGRAM] = telegram
    hub = build_hub(settings, db, vault)
    ctx = Context(
        db=db,
        queue=queue,
        generator=build_generator(settings, db, queue),
        publishers=build_publishers(settings, hub),
        settings=settings,
        deliveries=deliveries,
        interpreter=build_interpreter(settings, db, queue),
        limits=build_counter(settings),
        hub=hub,
        media=hub.media,
        audit_keys=tuple(checkpoint_keys(vault)),
    )
    herald = Herald(ctx, Inbox(ctx))
    celery.herald = herald
    return Runtime(settings=settings, db=db, celery=celery, herald=herald, vault=vault)


def configure_logging(settings: Settings, *, to_file: Path | None = None) -> None:
    """Herald's one log handler (a file, or stderr): structured lines, every one redacted.

    Under HERALD_LOG_FORMAT=auto, a server process writing to stderr that is not a terminal
    (a container, systemd) writes JSON lines; the terminal chat's file and a terminal get
    readable lines.
    """
    from bot.logsafety import install, start_sentry, structured_formatter

    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    redactor = install(settings)
    handler: logging.Handler
    if to_file is not None:
        to_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(to_file)
    else:
        handler = logging.StreamHandler()
    json_lines = settings.log_format == "json" or (
        settings.log_format == "auto" and to_file is None and not sys.stderr.isatty()
    )
    handler.setFormatter(structured_formatter(redactor, json_lines=json_lines))
    # Configured again (tests, a second command in one process): one handler, not two.
    for old in [h for h in root.handlers if h.get_name() == "herald"]:
        root.removeHandler(old)
        old.close()
    handler.set_name("herald")
    root.addHandler(handler)
    start_sentry(settings, redactor)
