"""Random and hostile requests to the Slack endpoints and the Telegram webhook: never a 500 or
a traceback, and an unsigned or badly signed request changes nothing (no row, no message)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.web.app import create_app
from core.settings import Settings
from storage.models import InboundEvent, InboxCommand, OutboundMessage, Post
from storage.models_slack import SlackOAuthState
from tests.fakes.slack import TEAM, FakeSlack, sign, slack_settings
from tests.fakes.telegram import TOKEN, FakeTelegram

HOOK_SECRET = "fuzz-hook-secret"
SLACK_PATHS = ("/slack/events", "/slack/commands", "/slack/interactions")
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["/herald", "block_actions", "view_submission", "event_callback", TEAM]),
)
shapes = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "command",
                    "text",
                    "team_id",
                    "user_id",
                    "channel_id",
                    "trigger_id",
                    "payload",
                    "event",
                    "actions",
                    "team",
                    "user",
                    "view",
                    "update_id",
                    "message",
                    "callback_query",
                    "challenge",
                ]
            )
            | st.text(max_size=10),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=12,
)
form_fields = st.dictionaries(
    st.sampled_from(
        ["command", "text", "team_id", "user_id", "channel_id", "trigger_id", "payload", "ssl"]
    ),
    st.one_of(st.text(max_size=40), shapes.map(json.dumps)),
    max_size=8,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    shapes.map(lambda v: json.dumps(v).encode()),
    form_fields.map(lambda f: urlencode(f).encode()),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "",
        ]
    ),
    header_text,
)
timestamps = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.just(str(int(time.time()))),
    header_text,
)


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[Runtime, TestClient, FakeSlack, FakeTelegram]]:
    slack = FakeSlack()
    telegram = FakeTelegram().start()
    configured = slack_settings(settings, slack).model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": telegram.base_url,
            "telegram_webhook_secret": SecretStr(HOOK_SECRET),
            "slack_client_id": "111.222",
            "slack_client_secret": SecretStr("s3cret"),
            "command_rate_limit": 0,
        }
    )
    rt = build_runtime(configured)
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        yield rt, client, slack, telegram
    rt.close()
    slack.close()
    telegram.stop()


def nothing_changed(rt: Runtime, slack: FakeSlack, telegram: FakeTelegram) -> None:
    with rt.db.session() as s:
        for model, column in (
            (Post, Post.id),
            (InboxCommand, InboxCommand.id),
            (InboundEvent, InboundEvent.id),
            (OutboundMessage, OutboundMessage.id),
            (SlackOAuthState, SlackOAuthState.state),
        ):
            assert s.scalar(select(func.count(column))) == 0, model.__name__
    assert slack.calls == []
    assert [c for c in telegram.calls_of("sendMessage")] == []


def answered_sanely(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


def test_unsigned_or_badly_signed_requests_never_fail_and_change_nothing(
    served: tuple[Runtime, TestClient, FakeSlack, FakeTelegram],
) -> None:
    rt, client, slack, telegram = served

    @FUZZ
    @given(
        path=st.sampled_from([*SLACK_PATHS, "/telegram/webhook"]),
        body=bodies,
        content_type=content_types,
        stamp=st.none() | timestamps,
        signature=st.none() | header_text | st.text("0123456789abcdef", min_size=64, max_size=64),
        secret=st.none() | header_text.filter(lambda s: s != HOOK_SECRET),
    )
    def hostile(
        path: str,
        body: bytes,
        content_type: str,
        stamp: str | None,
        signature: str | None,
        secret: str | None,
    ) -> None:
        headers = {"Content-Type": content_type}
        if stamp is not None:
            headers["X-Slack-Request-Timestamp"] = stamp
        if signature is not None:
            headers["X-Slack-Signature"] = f"v0={signature}"
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        response = client.post(path, content=body, headers=headers)
        answered_sanely(response)
        assert response.status_code in {400, 401, 403, 404, 413, 415, 422}, response.status_code

    hostile()
    nothing_changed(rt, slack, telegram)


def test_signed_hostile_payloads_never_give_a_500(
    served: tuple[Runtime, TestClient, FakeSlack, FakeTelegram],
) -> None:
    _, client, _, _ = served

    @FUZZ
    @given(
        body=st.one_of(
            shapes.map(json.dumps),
            form_fields.map(urlencode),
            st.text(max_size=200),
        ),
        content_type=content_types,
        path=st.sampled_from(SLACK_PATHS),
    )
    def slack(body: str, content_type: str, path: str) -> None:
        response = client.post(
            path, content=body.encode(), headers={"Content-Type": content_type, **sign(body)}
        )
        answered_sanely(response)

    @FUZZ
    @given(data=shapes)
    def telegram(data: Any) -> None:
        response = client.post(
            "/telegram/webhook",
            content=json.dumps(data).encode(),
            headers={"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET},
        )
        answered_sanely(response)

    slack()
    telegram()
