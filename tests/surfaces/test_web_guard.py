"""What `herald web` refuses from the outside: oversized bodies (413, unread), requests it
cannot check (4xx, never a traceback), replayed Slack commands, floods from one address or
one person (429 or a friendly refusal), and request bodies in the logs."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime, configure_logging
from bot.web.app import create_app
from core.settings import Settings
from storage.models import InboxCommand, Post
from storage.models_slack import SlackOAuthState
from tests.fakes.slack import MARIA, FakeSlack, sign, slack_settings, slash, texts
from tests.fakes.telegram import WebServer
from tests.support.helpers import eventually, post_state
from workers.app import EmbeddedWorker

CAP = 64 * 1024


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user(MARIA, "maria")
    yield slack
    slack.close()


def serve(settings: Settings, fake: FakeSlack, **more: Any) -> Runtime:
    rt = build_runtime(
        slack_settings(
            settings,
            fake,
            slack_client_id="111.222",
            slack_client_secret=SecretStr("s3cret"),
            max_body_bytes=CAP,
            **more,
        )
    )
    worker = EmbeddedWorker(rt.celery, rt.settings)
    worker.start()
    rt.embedded = worker
    return rt


@pytest.fixture
def rt(settings: Settings, fake: FakeSlack) -> Iterator[Runtime]:
    runtime = serve(settings, fake, http_rate_limit=20)
    yield runtime
    runtime.close()


def somewhere() -> tuple[str, int]:
    """A client address of this test's own: counters on Redis outlive a test."""
    return f"client-{uuid.uuid4().hex[:8]}", 50000


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.db.session() as s:
        return (
            s.scalar(select(func.count(InboxCommand.id))) or 0,
            s.scalar(select(func.count(Post.id))) or 0,
        )


def test_a_body_over_the_cap_is_refused_unread_and_one_under_it_works(
    rt: Runtime, fake: FakeSlack
) -> None:
    body, headers = slash("draft Small enough --to outbox")
    padded = body + "&pad=" + "x" * CAP  # signed, so only the size is wrong
    with TestClient(create_app(rt)) as client:
        big = client.post("/slack/events", content=padded, headers=sign(padded) | headers)
        assert big.status_code == 413
        assert "too large" in big.text
        # No Content-Length: the body streams in chunks and is cut off at the cap.
        chunks = (padded[i : i + 8192].encode() for i in range(0, len(padded), 8192))
        streamed = client.post(
            "/slack/events",
            content=chunks,
            headers={"Content-Type": headers["Content-Type"], **sign(padded)},
        )
        assert streamed.status_code == 413
        hook = client.post("/telegram/webhook", content=b"{" + b" " * CAP + b"}")
        assert hook.status_code == 413
        time.sleep(0.3)
        assert counts(rt) == (0, 0)
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the small draft")


def test_requests_bolt_cannot_check_get_4xx_not_500(rt: Runtime) -> None:
    body, headers = slash("draft Odd --to outbox")
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        for stamp in ("soon", "1e9", "-5", "１２３".encode(), "9" * 40):
            odd = {**headers, "X-Slack-Request-Timestamp": stamp}
            answer = client.post("/slack/events", content=body, headers=odd)
            assert answer.status_code == 401, (stamp, answer.status_code)
            assert "Traceback" not in answer.text
        latin = body.encode() + b"&x=\xff\xfe"
        answer = client.post("/slack/events", content=latin, headers=sign(latin.decode("latin-1")))
        assert 400 <= answer.status_code < 500
        answer = client.post(
            "/slack/events", content=body, headers={**headers, "Content-Length": "12x"}
        )
        assert 400 <= answer.status_code < 500
    assert counts(rt) == (0, 0)


def test_a_replayed_slash_command_drafts_once_and_is_still_acked(
    rt: Runtime, fake: FakeSlack
) -> None:
    body, headers = slash("draft Replayed launch --to outbox")
    with TestClient(create_app(rt)) as client:
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200
        eventually(lambda: post_state(rt, 1) == "pending_approval", what="the first draft")
        # The same signed request again (within Slack's five minutes), and re-signed.
        again = client.post("/slack/events", content=body, headers=headers)
        assert again.status_code == 200
        resigned = {**headers, **sign(body)}
        assert client.post("/slack/events", content=body, headers=resigned).status_code == 200
    time.sleep(1.0)
    with rt.db.session() as s:
        assert s.scalar(select(func.count(Post.id))) == 1
    drafting = [t for t in texts(fake, "chat.postEphemeral", user=MARIA) if "Drafting #" in t]
    assert len(drafting) == 1


def test_the_install_page_is_limited_per_address(rt: Runtime) -> None:
    with TestClient(create_app(rt), client=somewhere()) as client:
        answers = [client.get("/slack/install") for _ in range(400)]
    codes = [a.status_code for a in answers]
    assert codes[:20] == [200] * 20
    assert set(codes[20:]) == {429}
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many requests" in refused.text
    with rt.db.session() as s:
        assert s.scalar(select(func.count(SlackOAuthState.state))) == 20
    # Another address is not affected.
    with TestClient(create_app(rt), client=somewhere()) as other:
        assert other.get("/slack/install").status_code == 200


def test_commands_over_the_per_person_limit_are_refused_and_not_stored(
    rt: Runtime, fake: FakeSlack
) -> None:
    ctx = rt.herald.ctx
    ctx.settings = ctx.settings.model_copy(update={"command_rate_limit": 3})
    # No worker: a command it ran would be purged from the inbox, and the count is what was kept.
    assert rt.embedded is not None
    rt.embedded.stop()
    rt.embedded = None
    user = f"U0{uuid.uuid4().hex[:8].upper()}"  # counters on Redis outlive a test
    fake.add_user(user, "fast")
    with TestClient(create_app(rt)) as client:
        answers = [
            client.post("/slack/events", content=b, headers=h)
            for b, h in (slash(f"queue {i}", user=user, user_name="fast") for i in range(5))
        ]
    assert [a.status_code for a in answers] == [200] * 5
    refused = [a for a in answers if "faster than I can take them" in a.text]
    assert len(refused) == 2
    assert "try again in" in refused[0].text
    with rt.db.session() as s:
        stored = s.scalars(select(InboxCommand.actor)).all()
    assert sum(1 for actor in stored if actor["user_id"] == user) == 3


def test_bolt_logs_no_request_body_at_any_level(rt: Runtime, logs: list[logging.LogRecord]) -> None:
    # Logging as `herald web` sets it up, at its most talkative.
    configure_logging(rt.settings.model_copy(update={"log_level": "DEBUG"}))
    marker = "Zebra4711"
    body, headers = slash(f"draft {marker} --to outbox")
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    with TestClient(create_app(rt)) as client:
        assert client.post("/slack/events", content=body, headers=forged).status_code == 401
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200
        eventually(lambda: post_state(rt, 1) == "pending_approval", what="the draft")
    bolt = [r for r in logs if r.name.startswith(("slack_bolt", "slack_sdk", "herald."))]
    assert not [r.getMessage() for r in bolt if marker in r.getMessage()]


def test_the_telegram_webhook_refuses_json_that_is_no_update(
    settings: Settings,
) -> None:
    from tests.fakes.telegram import TOKEN, FakeTelegram

    fake = FakeTelegram().start()
    configured = settings.model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": fake.base_url,
            "telegram_webhook_secret": SecretStr("hook-secret"),
        }
    )
    runtime = build_runtime(configured)
    web = WebServer(create_app(runtime)).start()
    try:
        hook = f"{web.url}/telegram/webhook"
        secret = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
        for data in ([], [1, 2], "text", 7, None, {"update_id": "x"}):
            answer = httpx.post(hook, json=data, headers=secret, timeout=10)
            assert answer.status_code == 400, (data, answer.status_code)
        answer = httpx.post(hook, content=b"{not json", headers=secret, timeout=10)
        assert answer.status_code == 400
    finally:
        web.stop()
        runtime.close()
        fake.stop()
