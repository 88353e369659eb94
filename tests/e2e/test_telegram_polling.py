"""`herald telegram` as a person runs it: long polling against the fake Bot API, the draft's
card delivered, and an update Telegram sends again after a lost offset handled once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from bot.runtime import build_runtime
from core.settings import Settings
from storage.models import SurfaceKind
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.support.helpers import herald_env, post_state
from workers.app import EmbeddedWorker


def _env(settings: Settings, fake: FakeTelegram) -> dict[str, str]:
    return herald_env(settings, HERALD_TELEGRAM_TOKEN=TOKEN, HERALD_TELEGRAM_API_URL=fake.base_url)


def test_herald_telegram_polls_drafts_and_dedups(settings: Settings, tmp_path: Path) -> None:
    fake = FakeTelegram().start()
    fake.webhook = {"url": "https://old.example/telegram/webhook"}  # polling must remove it
    # Migrates SQLite; on Redis it is the worker (`herald worker`) that drafts and delivers.
    runtime = build_runtime(
        settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_url": fake.base_url}
        )
    )
    worker = None
    if not settings.embedded:
        worker = EmbeddedWorker(runtime.celery, runtime.settings)
        worker.start()
    herald = Path(sys.executable).with_name("herald")
    log = (tmp_path / "telegram.log").open("w")
    proc = subprocess.Popen(
        [str(herald), "telegram"], env=_env(settings, fake), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        ana = fake.private(1111, "Ana", "ana")
        fake.queue_update(ana.says("/start"))
        fake.queue_update(ana.says("/draft Polling works --to outbox"))
        card = fake.wait_for(
            lambda: (c := fake.card(ana.chat_id, 1)) and "reply_markup" in c and c,
            timeout=40,
            what="the card",
        )
        assert "Polling works" in card["text"]
        assert fake.webhook == {}
        assert any(c["command"] == "draft" for c in fake.commands)
        # Telegram sends everything again (as after a crash before the offset was confirmed).
        with fake.lock:
            fake._confirmed = 0
            fake.lock.notify_all()
        fake.queue_update(ana.says("/queue"))
        fake.wait_for(
            lambda: any("#1 · pending approval" in m["text"] for m in fake.sent(ana.chat_id)),
            what="the queue",
        )
        drafting = [m for m in fake.sent(ana.chat_id) if m["text"].startswith("Drafting")]
        assert len(drafting) == 1
        assert post_state(runtime, 2) is None
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        log.close()
        if worker is not None:
            worker.stop()
        runtime.close()
        runtime.herald.ctx.deliveries[SurfaceKind.TELEGRAM].surface.close()  # type: ignore[attr-defined]
        fake.stop()
    assert code == 0, (tmp_path / "telegram.log").read_text()[-3000:]
