"""Slack delivery and install: rate limits become retries, pacing per channel, private
messages, the OAuth install of a second workspace, uninstall, and the Block Kit validator."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.slack.blocks import InvalidBlocks, card_blocks, message_payload, validate_message
from bot.slack.delivery import build_slack_delivery
from bot.web.app import create_app
from core.errors import RetryLater
from core.ports import Delivery
from core.posts.card import Button, Card, Message, VariantView
from core.settings import Settings
from storage.models_slack import SlackInstallation
from tests.fakes.slack import TEAM, FakeSlack, dumps, event, slack_settings, slash
from tests.support.helpers import eventually, hostile_card

CARD = Card(
    number=7,
    title="#7 · Draft by @maria · for Outbox",
    brief="Launch",
    variants=[VariantView("outbox", "Outbox", "Hello", 5, 5000, "characters", "draft")],
    when="as soon as approved",
    status=None,
    buttons=[Button("approve", "Approve", "primary"), Button("skip", "Skip X", value="x")],
)


def delivery(**fields: object) -> Delivery:
    values: dict[str, object] = {
        "message_id": 1,
        "workspace": TEAM,
        "conversation": "C0GENERAL",
        "recipient": None,
        "text": None,
        "error": False,
        "card": CARD,
        "card_ref": None,
        "post_number": 7,
        "new_card": True,
    }
    values.update(fields)
    return Delivery(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user("U0MARIA01", "maria")
    yield slack
    slack.close()
    assert slack.invalid == []


@pytest.fixture
def rt(settings: Settings, fake: FakeSlack) -> Iterator[Runtime]:
    runtime = build_runtime(
        slack_settings(
            settings, fake, slack_client_id="111.222", slack_client_secret=SecretStr("s3cret")
        )
    )
    yield runtime
    runtime.close()


def test_a_429_becomes_retry_later_and_channels_are_paced(rt: Runtime, fake: FakeSlack) -> None:
    slack = build_slack_delivery(rt.settings, rt.db, rt.vault)
    assert slack is not None
    # A channel of its own: pacing slots live in Redis, shared by the whole test session.
    here = f"C0{uuid.uuid4().hex[:8].upper()}"
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(RetryLater) as limited:
        slack.deliver(delivery(conversation=here))
    assert limited.value.seconds == 7
    # The slot of the refused attempt still counts: the next message waits its second.
    with pytest.raises(RetryLater) as paced:
        slack.deliver(delivery(conversation=here))
    assert 0 < paced.value.seconds <= 1
    time.sleep(paced.value.seconds + 0.05)  # Redis expires keys to the millisecond, roughly
    ref = slack.deliver(delivery(conversation=here))
    assert ref is not None and ref.startswith(f"{here}:")
    assert len(fake.named("chat.postMessage")) == 2  # the 429 and the one that went out
    # Another channel is not held up by this one.
    assert slack.deliver(delivery(conversation=here + "X")) is not None
    # A redraw in place with progress in the thread.
    ts = ref.split(":")[1]
    for _ in range(3):  # the channel's slot frees within a second; take it when it does
        try:
            assert (
                slack.deliver(delivery(card_ref=ref, new_card=False, text="🚀 published")) is None
            )
            break
        except RetryLater as wait:
            time.sleep(wait.seconds + 0.05)
    else:
        raise AssertionError("the channel never freed up")
    update = fake.named("chat.update")[-1].body
    assert update["ts"] == ts and "🚀 published" in dumps(update["blocks"])
    assert fake.named("chat.postMessage")[-1].body["thread_ts"] == ts


def test_private_messages_are_ephemeral_or_a_dm(rt: Runtime, fake: FakeSlack) -> None:
    slack = build_slack_delivery(rt.settings, rt.db, rt.vault)
    assert slack is not None
    slack.deliver(delivery(card=None, recipient="U0MARIA01", text="Your connect link"))
    assert fake.named("chat.postEphemeral")[-1].body["user"] == "U0MARIA01"
    slack.deliver(delivery(card=None, recipient="U0MARIA01", text="Link", conversation="CGONE0001"))
    assert fake.named("conversations.open")[-1].body["users"] == "U0MARIA01"
    assert fake.named("chat.postMessage")[-1].body["channel"].startswith("D")


def test_oauth_install_a_second_workspace_then_uninstall(rt: Runtime, fake: FakeSlack) -> None:
    # The state cookie is Secure, as in production behind TLS.
    with TestClient(create_app(rt), base_url="https://testserver") as client:
        page = client.get("/slack/install")
        assert page.status_code == 200
        link = re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', page.text)
        assert link is not None
        url = link.group(1).replace("&amp;", "&")
        assert url.startswith(fake.url.removesuffix("api/") + "oauth/v2/authorize")
        query = parse_qs(urlparse(url).query)
        assert "chat:write" in query["scope"][0]
        state = query["state"][0]

        done = client.get(f"/slack/oauth_redirect?code=good-code&state={state}")
        assert done.status_code == 200, done.text
        with rt.db.session() as s:
            row = s.scalars(select(SlackInstallation)).one()
            assert row.team_id == "T0BETA001"
            assert b"xoxb-installed-token" not in row.bot_token  # sealed at rest
        # A state works once, and only one Herald issued.
        again = client.get(f"/slack/oauth_redirect?code=good-code&state={state}")
        assert again.status_code != 200
        assert client.get("/slack/oauth_redirect?code=good-code&state=forged").status_code != 200

        body, headers = slash("queue", user="U0MARIA01")
        body = body.replace(TEAM, "T0BETA001")
        from tests.fakes.slack import sign

        headers.update(sign(body))
        fake.add_user("U0MARIA01", "maria")
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200
        # The person is looked up after the ack, with that workspace's own token.
        looked_up = eventually(lambda: fake.named("users.info"), what="users.info")
        assert looked_up[-1].token == "xoxb-installed-token"

        gone, gone_headers = event({"type": "app_uninstalled"}, "Ev0GONE001")
        gone = gone.replace(TEAM, "T0BETA001")
        gone_headers.update(sign(gone))
        assert client.post("/slack/events", content=gone, headers=gone_headers).status_code == 200
        for _ in range(50):
            with rt.db.session() as s:
                if s.scalars(select(SlackInstallation)).first() is None:
                    break
            time.sleep(0.05)
        with rt.db.session() as s:
            assert s.scalars(select(SlackInstallation)).first() is None


def test_validator_catches_what_slack_refuses() -> None:
    validate_message({"text": "x", "blocks": card_blocks(CARD)})
    too_many = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51
    with pytest.raises(InvalidBlocks):
        validate_message({"text": "x", "blocks": too_many})
    long_field = [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}]
    with pytest.raises(InvalidBlocks):
        validate_message({"text": "x", "blocks": long_field})
    with pytest.raises(Exception, match="3000"):
        validate_message(
            {
                "text": "x",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}],
            }
        )
    # A card with many long networks still fits Slack's limits.
    many = Card(
        **{
            **CARD.__dict__,
            "variants": [
                VariantView(f"n{i}", f"N{i}", "z" * 4000, 4000, 5000, "characters", "draft")
                for i in range(30)
            ],
        }
    )
    validate_message({"text": "x", "blocks": card_blocks(many)})


def test_the_manifest_names_what_the_app_handles() -> None:
    import yaml

    from bot.slack.actions import SHORTCUT
    from bot.slack.install import BOT_SCOPES

    root = __import__("pathlib").Path(__file__).parents[2]
    manifest = yaml.safe_load((root / "slack" / "manifest.yml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert manifest["features"]["slash_commands"][0]["command"] == "/herald"
    assert manifest["features"]["shortcuts"][0]["callback_id"] == SHORTCUT
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "app_uninstalled", "tokens_revoked"} <= events
    assert manifest["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")


# Typed or named by people (a brief, a display name, a rejection reason), or sent back by a
# network (a post's URL): none of it may become a Slack mention or a link of its own.
PINGS = "<!channel> <!here> <!everyone> <@U0LEE0001> <!subteam^S0TEAM> &lt;!channel&gt;"
NETWORK_URL = "https://x.com/a|b><!channel>"
_LIVE = re.compile(r"<[!@#]")


def _markup_texts(body: dict[str, object]) -> list[str]:
    """The top-level `text` and every mrkdwn text of a recorded call: where Slack parses markup."""
    blocks = body.get("blocks")
    texts = [str(body.get("text") or "")]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                texts.append(str(node.get("text")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(blocks) if isinstance(blocks, str) else blocks)
    return texts


def test_user_and_network_text_cannot_ping_anyone_or_forge_a_link(
    rt: Runtime, fake: FakeSlack
) -> None:
    slack = build_slack_delivery(rt.settings, rt.db, rt.vault)
    assert slack is not None
    card = hostile_card(PINGS, url=NETWORK_URL)
    here = f"C0{uuid.uuid4().hex[:8].upper()}"
    ref = slack.deliver(delivery(card=card, conversation=here, text=PINGS))
    assert ref is not None
    for _ in range(3):  # the channel's slot frees within a second
        try:
            slack.deliver(delivery(card=card, card_ref=ref, new_card=False, text=PINGS))
            break
        except RetryLater as wait:
            time.sleep(wait.seconds + 0.05)
    slack.deliver(delivery(card=None, conversation=here + "X", text=PINGS))
    slack.deliver(delivery(card=None, recipient="U0MARIA01", text=PINGS))
    sent = [
        c.body
        for c in fake.calls
        if c.method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}
    ]
    assert len(sent) == 5  # the card, its redraw and thread reply, a message, a private one
    for body in sent:
        for text in _markup_texts(body):
            assert not _LIVE.search(text), text
    # Shown as typed: a typed "<!channel>" and a typed "&lt;!channel&gt;" alike.
    assert all("&lt;!channel&gt;" in str(body["text"]) for body in sent)
    assert all("&amp;lt;!channel&amp;gt;" in str(body["text"]) for body in sent)
    card_blocks_text = dumps(sent[0]["blocks"])
    link = "<https://x.com/a%7Cb%3E%3C!channel%3E|https://x.com/a|b&gt;&lt;!channel&gt;>"
    assert link in card_blocks_text


def test_an_answer_in_an_ack_cannot_ping_anyone() -> None:
    payload = message_payload(Message(text=f"Rejected: {PINGS}"))
    for text in _markup_texts(payload):
        assert not _LIVE.search(text), text
