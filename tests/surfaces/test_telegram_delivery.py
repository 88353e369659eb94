"""What workers send to Telegram: flood limits and 429s become `RetryLater`, never a sleeping
worker, and one slow chat never holds up another. Redis-backed on the PostgreSQL + Redis
backend (shared by every process), in-process on SQLite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.telegram import flood
from bot.telegram.delivery import TelegramDelivery, build_telegram_delivery
from core.errors import RetryLater
from core.ports import Delivery
from core.settings import Settings
from tests.fakes.telegram import TOKEN, Failure, FakeTelegram


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def delivery(settings: Settings, fake: FakeTelegram) -> Iterator[TelegramDelivery]:
    configured = settings.model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": fake.base_url,
            "queue": f"tg-{uuid.uuid4().hex[:8]}",  # flood windows of this test only
        }
    )
    built = build_telegram_delivery(configured)
    assert isinstance(built, TelegramDelivery)
    yield built
    built.surface.close()


def say(chat_id: int, text: str = "hello") -> Delivery:
    return Delivery(
        message_id=1,
        workspace=str(chat_id),
        conversation=str(chat_id),
        recipient=None,
        text=text,
        error=False,
        card=None,
        card_ref=None,
        post_number=None,
        new_card=False,
    )


def test_no_token_no_delivery(settings: Settings) -> None:
    assert build_telegram_delivery(settings) is None


def test_one_message_a_second_per_chat_without_holding_other_chats(
    delivery: TelegramDelivery, fake: FakeTelegram
) -> None:
    ana, lee = fake.private(1111, "Ana"), fake.private(2222, "Lee")
    delivery.deliver(say(ana.chat_id, "first"))
    started = time.monotonic()
    with pytest.raises(RetryLater) as wait:
        delivery.deliver(say(ana.chat_id, "second"))
    assert time.monotonic() - started < 0.5  # told to come back, not put to sleep
    assert 0 < wait.value.seconds <= 1.0
    delivery.deliver(say(lee.chat_id, "meanwhile"))  # another chat goes at once
    assert [m["text"] for m in fake.sent(lee.chat_id)] == ["meanwhile"]
    time.sleep(wait.value.seconds)
    delivery.deliver(say(ana.chat_id, "second"))
    assert [m["text"] for m in fake.sent(ana.chat_id)] == ["first", "second"]


def test_a_429_holds_its_chat_for_retry_after_and_only_that_chat(
    delivery: TelegramDelivery, fake: FakeTelegram
) -> None:
    ana, lee = fake.private(1111, "Ana"), fake.private(2222, "Lee")
    fake.failures.append(
        Failure(
            "sendMessage",
            429,
            "Too Many Requests: retry after 7",
            chat_id=ana.chat_id,
            retry_after=7,
        )
    )
    with pytest.raises(RetryLater) as wait:
        delivery.deliver(say(ana.chat_id))
    assert wait.value.seconds == 7
    delivery.deliver(say(lee.chat_id))
    assert len(fake.sent(lee.chat_id)) == 1
    calls = len(fake.calls_of("sendMessage"))
    time.sleep(1.1)
    with pytest.raises(RetryLater) as again:  # still held: Telegram is not even asked
        delivery.deliver(say(ana.chat_id))
    assert 5 < again.value.seconds <= 7
    assert len(fake.calls_of("sendMessage")) == calls


def test_twenty_a_minute_per_group_and_thirty_a_second_overall(
    delivery: TelegramDelivery, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flood, "PER_CHAT", (1000, 1.0))  # look at the other two windows alone
    team = fake.group(-100500, "Acme")
    for i in range(20):
        delivery.deliver(say(team["id"], f"news {i}"))
    with pytest.raises(RetryLater) as wait:
        delivery.deliver(say(team["id"], "one too many"))
    assert 50 < wait.value.seconds <= 60
    people = [fake.private(5000 + i, f"P{i}") for i in range(11)]
    for person in people[:10]:  # 20 went to the group this second: 10 more are allowed
        delivery.deliver(say(person.chat_id))
    with pytest.raises(RetryLater) as overall:
        delivery.deliver(say(people[10].chat_id))
    assert overall.value.seconds <= 1.0
    assert len(fake.calls_of("sendMessage")) == 30  # 20 to the group, 10 to people
