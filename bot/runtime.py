"""The composition root: settings in, a wired Herald (database, Celery, ports) out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.context import Context
from core.generation.offline import OfflineGenerator
from core.platforms.outbox import OutboxPublisher
from core.ports import Publisher
from core.service import Herald
from core.settings import Settings
from storage.db import Database
from workers.app import CeleryQueue, EmbeddedWorker, HeraldCelery, create_celery


@dataclass
class Runtime:
    settings: Settings
    db: Database
    celery: HeraldCelery
    herald: Herald
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
        self.db.dispose()


def open_database(settings: Settings) -> Database:
    """SQLite (the embedded mode) migrates itself; a server database must be migrated first."""
    db = Database(settings.effective_database_url)
    if db.is_sqlite:
        db.upgrade()
    else:
        db.check_schema()
    return db


def build_runtime(settings: Settings) -> Runtime:
    db = open_database(settings)
    celery = create_celery(settings)
    publishers: dict[str, Publisher] = {"outbox": OutboxPublisher(settings.outbox_dir)}
    ctx = Context(
        db=db,
        queue=CeleryQueue(celery),
        generator=OfflineGenerator(),
        publishers=publishers,
        settings=settings,
    )
    herald = Herald(ctx)
    celery.herald = herald
    return Runtime(settings=settings, db=db, celery=celery, herald=herald)


def configure_logging(settings: Settings, *, to_file: Path | None = None) -> None:
    level = settings.log_level.upper()
    if to_file is not None:
        to_file.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(
            level=level,
            filename=to_file,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
