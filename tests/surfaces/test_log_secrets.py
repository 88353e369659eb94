"""No log line carries a token, at any level: the real Telegram and Slack clients at DEBUG.

httpx logs every request URL at INFO, and the Bot API URL holds the bot token; slack_sdk logs
request bodies (an OAuth `code`, a `client_secret`) and response bodies (an installed bot
token) at DEBUG. Herald's logging quiets those clients and redacts every record it makes.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr
from slack_sdk import WebClient

from bot.logsafety import QUIET
from bot.runtime import configure_logging
from bot.telegram.delivery import TelegramDelivery, build_telegram_delivery
from core.ports import Delivery
from core.settings import Settings
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.telegram import TOKEN, FakeTelegram

CLIENT_SECRET = "slack-client-s3cret-9f8e7d"


def leaks(records: list[logging.LogRecord], *secrets: str) -> list[str]:
    found = []
    for record in records:
        text = " ".join(
            str(part)
            for part in (record.getMessage(), record.msg, record.args, record.exc_text)
            if part
        )
        found += [f"{record.name}: {text[:300]}" for s in secrets if s in text]
    return found


def debug_settings(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={"log_level": "DEBUG", **more})


def test_the_telegram_bot_token_is_in_no_log_record_at_debug(
    settings: Settings, tmp_path, logs: list[logging.LogRecord]
) -> None:
    fake = FakeTelegram().start()
    try:
        configured = debug_settings(
            settings, telegram_token=SecretStr(TOKEN), telegram_api_url=fake.base_url
        )
        configure_logging(configured, to_file=tmp_path / "herald.log")
        delivery = build_telegram_delivery(configured)
        assert isinstance(delivery, TelegramDelivery)
        ana = fake.private(1111, "Ana")
        try:
            delivery.deliver(
                Delivery(
                    message_id=1,
                    workspace=str(ana.chat_id),
                    conversation=str(ana.chat_id),
                    recipient=None,
                    text="hello",
                    error=False,
                    card=None,
                    card_ref=None,
                    post_number=None,
                    new_card=False,
                )
            )
        finally:
            delivery.close()
        assert [m["text"] for m in fake.sent(ana.chat_id)] == ["hello"]
    finally:
        fake.stop()
    assert logs, "nothing was logged: the test would prove nothing"
    secret_part = TOKEN.partition(":")[2]
    assert leaks(logs, TOKEN, secret_part) == []
    written = (tmp_path / "herald.log").read_text()
    assert secret_part not in written


def test_slack_tokens_oauth_code_and_client_secret_are_in_no_log_record_at_debug(
    settings: Settings, tmp_path, logs: list[logging.LogRecord]
) -> None:
    fake = FakeSlack()
    try:
        configure_logging(
            debug_settings(
                settings,
                slack_bot_token=SecretStr(BOT_TOKEN),
                slack_client_secret=SecretStr(CLIENT_SECRET),
            ),
            to_file=tmp_path / "herald.log",
        )
        client = WebClient(token=BOT_TOKEN, base_url=fake.url)
        assert client.auth_test()["ok"]
        installed = client.oauth_v2_access(
            client_id="1.2", client_secret=CLIENT_SECRET, code="good-code"
        )
        assert installed["access_token"] == "xoxb-installed-token"
    finally:
        fake.close()
    assert leaks(logs, BOT_TOKEN, CLIENT_SECRET, "good-code", "xoxb-installed-token") == []


def test_a_library_turned_to_debug_by_hand_still_logs_no_secret(
    settings: Settings, logs: list[logging.LogRecord]
) -> None:
    configure_logging(debug_settings(settings, telegram_token=SecretStr(TOKEN)))
    # An operator chasing a bug may turn any library up: redaction does not depend on levels.
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger("httpx").info(
        'HTTP Request: POST %s "HTTP/1.1 200 OK"', f"https://api.telegram.org/bot{TOKEN}/getMe"
    )
    logging.getLogger("slack_sdk.web.base_client").debug(
        "Received the following response - body: %s",
        {"ok": True, "access_token": "xoxp-1-2-3-abcdef", "refresh_token": "xoxe-1-abc"},
    )
    logging.getLogger("openai").debug("headers: {'Authorization': 'Bearer sk-proj-abc123def456'}")
    logging.getLogger("kombu").info("Connected to redis://:hunter2-pass@redis.internal:6379/0")
    logging.getLogger("bot.web").info(
        "callback /oauth/x/callback?state=s1gned.st4te&code=0auth-c0de&client_secret=cs-123"
    )
    try:
        raise RuntimeError(f"request to https://api.telegram.org/bot{TOKEN}/sendMessage failed")
    except RuntimeError:
        logging.getLogger("telegram.ext").exception("Exception while handling an update")
    assert len(logs) >= 6
    assert (
        leaks(
            logs,
            TOKEN.partition(":")[2],
            "xoxp-1-2-3-abcdef",
            "xoxe-1-abc",
            "sk-proj-abc123def456",
            "hunter2-pass",
            "0auth-c0de",
            "cs-123",
            "s1gned.st4te",
        )
        == []
    )
    # The rest stays readable: ordinary words that are also secret names are left alone.
    logging.getLogger("core.pipeline").info("target 12 state: approved; error_code=400")
    logging.getLogger("bot.telegram").info("Telegram bot started for @herald_bot")
    said = " ".join(r.getMessage() for r in logs)
    assert "redis.internal" in said
    assert "target 12 state: approved; error_code=400" in said
    assert "Telegram bot started for @herald_bot" in said
