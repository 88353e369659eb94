"""Fixtures the surface tests share: the Telegram bot behind `herald web`, and the Slack app
behind it with the Slack fake (Maria and Lee are its people)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.telegram import flood
from bot.web.app import create_app
from core.settings import Settings
from storage.models import SurfaceKind
from tests.fakes.slack import LEE, MARIA, FakeSlack, slack_settings
from tests.fakes.telegram import TOKEN, WEBHOOK_SECRET, Bot, FakeTelegram, WebServer
from workers.app import EmbeddedWorker


@pytest.fixture
def tg(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bot]:
    # One message a second per chat is real but slow for a dozen exchanges: tests that are not
    # about flood limits relax it (the full loop keeps it; test_telegram_delivery tests it).
    monkeypatch.setattr(flood, "PER_CHAT", (50, 1.0))
    fake = FakeTelegram().start()
    configured = settings.model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": fake.base_url,
            "telegram_webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )
    runtime = build_runtime(configured)
    worker = EmbeddedWorker(runtime.celery, configured)
    worker.start()
    runtime.embedded = worker
    web = WebServer(create_app(runtime))
    # The webhook registers itself on start; the fake learns the app's own URL.
    runtime.settings = configured.model_copy(
        update={"telegram_webhook_url": f"http://127.0.0.1:{web.port}/telegram/webhook"}
    )
    web.start()
    yield Bot(fake, runtime, web)
    web.stop()
    delivery = runtime.herald.ctx.deliveries.get(SurfaceKind.TELEGRAM)
    runtime.close()
    if delivery is not None:
        delivery.surface.close()  # type: ignore[attr-defined]
    fake.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user(MARIA, "maria")
    fake.add_user(LEE, "lee")
    yield fake
    fake.close()
    assert fake.invalid == []


@pytest.fixture
def slack_web(settings: Settings, slack: FakeSlack) -> Iterator[tuple[Runtime, TestClient]]:
    """`herald web` for the Slack fake, with a real worker."""
    rt = build_runtime(slack_settings(settings, slack))
    rt.embedded = EmbeddedWorker(rt.celery, rt.settings)
    rt.embedded.start()
    with TestClient(create_app(rt)) as client:
        yield rt, client
    rt.close()
