"""Slack over HTTP: real signed requests through `herald web` into the real bolt app, a local
Slack Web API recording every call, and a real Celery worker on both backends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.slack.blocks import validate_message, validate_view
from bot.web.app import create_app
from core.settings import Settings
from storage.models import InboundEvent, Post
from storage.vault import new_key
from tests.fakes_slack import (
    BOT_TOKEN,
    SECRET,
    TEAM,
    FakeSlack,
    click,
    event,
    sign,
    slash,
    submit,
)
from tests.helpers import eventually, outbox_files, post_state, snapshot, target_states
from workers.app import EmbeddedWorker

MARIA, LEE, KIM, VIC = "U0MARIA01", "U0LEE0001", "U0KIM0001", "U0VIC0001"
GENERAL = "C0GENERAL"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    for user, name in ((MARIA, "maria"), (LEE, "lee"), (KIM, "kim"), (VIC, "vic")):
        slack.add_user(user, name)
    yield slack
    slack.close()
    # Every message and view Herald sent is one Slack accepts.
    assert slack.invalid == []
    for call in slack.calls:
        if call.method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            validate_message(call.body)
        if call.method == "views.open":
            validate_view(call.body["view"])


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def slack_settings(settings: Settings, fake: FakeSlack, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": fake.url,
            "secret_key": SecretStr(new_key()),
            **more,
        }
    )


@pytest.fixture
def web(settings: Settings, fake: FakeSlack) -> Iterator[tuple[Runtime, TestClient]]:
    rt = build_runtime(slack_settings(settings, fake))
    worker = EmbeddedWorker(rt.celery, rt.settings)
    worker.start()
    rt.embedded = worker
    with TestClient(create_app(rt)) as client:
        yield rt, client
    rt.close()


def post(client: TestClient, request: tuple[str, dict[str, str]], path: str = "/slack/events"):  # type: ignore[no-untyped-def]
    body, headers = request
    return client.post(path, content=body, headers=headers)


def card_message(fake: FakeSlack, number: int, channel: str = GENERAL) -> tuple[str, str]:
    """Where the card of post `number` was posted: (channel, ts)."""

    def find() -> tuple[str, str] | None:
        for (ch, ts), msg in list(fake.messages.items()):
            if ch == channel and f"#{number} · Draft" in dumps(msg["blocks"]):
                return ch, ts
        return None

    return eventually(find, what=f"the card of #{number}")


def texts(fake: FakeSlack, method: str, **match: str) -> list[str]:
    found = []
    for call in fake.named(method):
        if all(call.body.get(k) == v for k, v in match.items()):
            found.append(str(call.body.get("text")) + dumps(call.body.get("blocks") or []))
    return found


def setup_team(client: TestClient, fake: FakeSlack) -> None:
    """Maria owns the workspace (first to speak); Lee and Kim approve; Vic only views."""
    for user, role in ((LEE, "approver"), (KIM, "approver"), (VIC, "viewer")):
        reply = post(client, slash(f"role <@{user}|x> {role}", user=MARIA))
        assert reply.status_code == 200
        assert "is now" in reply.json()["text"], reply.json()


def draft(client: TestClient, fake: FakeSlack, text: str) -> tuple[str, str]:
    reply = post(client, slash(f"draft {text}", user=MARIA))
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Drafting #")
    number = int(answer["text"].split("#")[1].split()[0])
    return card_message(fake, number)


def test_slash_command_card_approve_publish_and_the_card_shows_the_link(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Our public API is live --to outbox")
    card = fake.messages[(channel, ts)]
    blocks = dumps(card["blocks"])
    assert "#1 · Draft by @maria · for Outbox" in blocks
    assert "API is live" in blocks
    assert "/5,000 characters" in blocks  # weighted length against the limit
    assert "as soon as approved" in blocks
    actions = next(b for b in card["blocks"] if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Approve",
        "Edit",
        "Regenerate",
        "Reject",
    ]
    assert all(e["value"] == "1" for e in actions["elements"])  # the number, nothing else

    started = time.monotonic()
    answer = post(client, click(fake, "herald_approve", "1", user=LEE, channel=channel, ts=ts))
    assert answer.status_code == 200
    assert time.monotonic() - started < 3

    eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, what="publish")
    files = outbox_files(rt)
    assert len(files) == 1
    link = str(rt.settings.outbox_dir)

    def card_has_link() -> bool:
        final = dumps(fake.messages[(channel, ts)]["blocks"])
        return link in final and "published" in final

    eventually(card_has_link, what="the card redrawn with the link")
    thread = texts(fake, "chat.postMessage", channel=channel, thread_ts=ts)
    assert any("approved by @lee" in t for t in thread)
    assert any("🚀 #1 published" in t for t in thread)
    assert len(fake.named("users.info")) <= 4  # cached: once per person


def test_forged_stale_altered_or_unsigned_requests_get_401_and_write_nothing(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    body, headers = slash("draft Sneaky --to outbox", user=MARIA)
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    stale_headers = {
        **headers,
        **sign(body, timestamp=int(time.time()) - 301),
    }
    altered = body.replace("Sneaky", "Altered")
    bare = {"Content-Type": headers["Content-Type"]}
    for content, hdrs in ((body, forged), (body, stale_headers), (altered, headers), (body, bare)):
        assert client.post("/slack/events", content=content, headers=hdrs).status_code == 401
    ev_body, ev_headers = event({"type": "message", "channel_type": "im"}, "EvForged")
    ev_headers["X-Slack-Signature"] = "v0=" + "1" * 64
    assert client.post("/slack/events", content=ev_body, headers=ev_headers).status_code == 401
    time.sleep(0.3)
    with rt.db.session() as s:
        assert s.scalar(select(func.count(Post.id))) == 0
        assert s.scalar(select(func.count(InboundEvent.id))) == 0
    assert fake.calls == []
    # The same request, correctly signed, is accepted.
    assert post(client, slash("queue", user=MARIA)).status_code == 200


def test_two_approvers_clicking_at_once_give_one_approval(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Launch day --to outbox")
    requests = [
        click(fake, "herald_approve", "1", user=who, channel=channel, ts=ts) for who in (LEE, KIM)
    ]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def go(request: tuple[str, dict[str, str]]) -> None:
        barrier.wait()
        codes.append(post(client, request).status_code)

    threads = [threading.Thread(target=go, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [200, 200]
    eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, what="publish")
    loser = eventually(
        lambda: [t for t in texts(fake, "chat.postEphemeral") if "already approved by @" in t],
        what="the loser told",
    )
    assert len(loser) == 1
    approved = [t for t in texts(fake, "chat.postMessage", thread_ts=ts) if "approved by" in t]
    assert len(approved) == 1
    assert len(outbox_files(rt)) == 1


def test_a_viewers_click_changes_nothing_and_is_explained_privately(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Quiet news --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="pending")
    before = snapshot(rt)
    card_before = dumps(fake.messages[(channel, ts)]["blocks"])
    assert post(client, click(fake, "herald_approve", "1", user=VIC, channel=channel, ts=ts))
    told = eventually(
        lambda: [
            c.body
            for c in fake.named("chat.postEphemeral")
            if c.body.get("user") == VIC and "viewer" in str(c.body.get("text"))
        ],
        what="the viewer told",
    )
    assert "only owners, admins and approvers can approve" in told[0]["text"]
    time.sleep(0.5)
    assert snapshot(rt) == before
    assert dumps(fake.messages[(channel, ts)]["blocks"]) == card_before


def test_the_same_event_delivered_twice_drafts_once(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    dm = {
        "type": "message",
        "channel": "D0MARIA01",
        "channel_type": "im",
        "user": MARIA,
        "text": "draft Direct message idea --to outbox",
        "ts": "1700000001.000100",
        "event_ts": "1700000001.000100",
    }
    assert post(client, event(dm, "Ev0DM0001")).status_code == 200
    assert post(client, event(dm, "Ev0DM0001", retry=1)).status_code == 200
    mention = {
        "type": "app_mention",
        "channel": GENERAL,
        "user": MARIA,
        "text": "<@U0HERALD> draft Mentioned idea --to outbox",
        "ts": "1700000002.000100",
        "event_ts": "1700000002.000100",
    }
    assert post(client, event(mention, "Ev0MENTION")).status_code == 200
    assert post(client, event(mention, "Ev0MENTION", retry=2)).status_code == 200
    # Herald's own messages and edits are not requests.
    own = {**dm, "bot_id": "B0HERALD", "text": "draft Loop --to outbox", "ts": "1700000003.0"}
    assert post(client, event(own, "Ev0OWN0001")).status_code == 200
    eventually(lambda: post_state(rt, 2) == "pending_approval", what="both drafts")
    time.sleep(0.5)
    with rt.db.session() as s:
        assert s.scalar(select(func.count(Post.id))) == 2
    answers = texts(fake, "chat.postMessage", channel="D0MARIA01")
    assert sum("Drafting #" in t for t in answers) == 1
    in_thread = texts(fake, "chat.postMessage", channel=GENERAL, thread_ts="1700000002.000100")
    assert sum("Drafting #" in t for t in in_thread) == 1


def test_edit_modal_prefilled_validated_inline_then_saved(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Edit me --to outbox")
    assert post(client, click(fake, "herald_edit", "1", user=MARIA, channel=channel, ts=ts))
    opened = eventually(lambda: fake.named("views.open"), what="the modal")
    view = opened[0].body["view"]
    field = next(b for b in view["blocks"] if b["type"] == "input")
    assert field["block_id"] == "net_outbox"
    assert "Edit me" in field["element"]["initial_value"]

    too_long = {"net_outbox": {"text": {"type": "plain_text_input", "value": "x" * 5001}}}
    answer = post(client, submit(view, too_long, user=MARIA))
    assert answer.status_code == 200
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"net_outbox": "5,001/5,000 characters: shorten it by 1."},
    }
    assert target_states(rt, 1) == {"outbox": "draft"}

    fixed = {"net_outbox": {"text": {"type": "plain_text_input", "value": "Edited <text> & all"}}}
    answer = post(client, submit(view, fixed, user=MARIA))
    assert answer.status_code == 200
    assert answer.content in {b"", b"null"} or not answer.json().get("response_action")
    with rt.db.session() as s:
        post_row = s.scalars(select(Post)).one()
        assert post_row.targets[0].text == "Edited <text> & all"
    eventually(
        lambda: "Edited by @maria" in dumps(fake.messages[(channel, ts)]["blocks"]),
        what="the card redrawn",
    )


def test_reject_asks_for_a_reason_and_a_thread_reply_regenerates_with_feedback(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Salesy stuff --to outbox")
    assert post(client, click(fake, "herald_reject", "1", user=LEE, channel=channel, ts=ts))
    view = eventually(lambda: fake.named("views.open"), what="the reason form")[0].body["view"]
    assert view["callback_id"] == "herald_reject"
    reason = {"reason": {"text": {"type": "plain_text_input", "value": "too salesy"}}}
    assert post(client, submit(view, reason, user=LEE)).status_code == 200
    assert post_state(rt, 1) == "rejected"
    eventually(
        lambda: "too salesy" in dumps(fake.messages[(channel, ts)]["blocks"]),
        what="the card shows the rejection",
    )
    reply = {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": MARIA,
        "text": "make it calmer",
        "ts": "1700000009.000100",
        "thread_ts": ts,
        "event_ts": "1700000009.000100",
    }
    assert post(client, event(reply, "Ev0THREAD1")).status_code == 200
    eventually(
        lambda: any(
            "Drafting #1 again (make it calmer)" in t
            for t in texts(fake, "chat.postMessage", thread_ts=ts)
        ),
        what="regenerate with feedback",
    )
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the new draft")


def test_help_approvals_channel_and_shortcut(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    _, client = web
    answer = post(client, slash("help", user=MARIA)).json()
    assert answer["blocks"][0]["text"]["text"] == "Herald commands"
    assert "/herald draft" in dumps(answer["blocks"])
    validate_message(answer)

    answer = post(client, slash("config approvals-channel <#C0APPROVE|approvals>", user=MARIA))
    assert answer.json()["text"] == "Approval cards now go to #C0APPROVE."
    shortcut = {
        "type": "message_action",
        "callback_id": "turn_into_post",
        "trigger_id": fake.trigger(),
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": MARIA, "username": "maria", "name": "maria", "team_id": TEAM},
        "channel": {"id": GENERAL, "name": "general"},
        "message": {"type": "message", "user": LEE, "ts": "1700000100.0001", "text": "We ship v2"},
        "message_ts": "1700000100.0001",
        "response_url": "https://hooks.slack.invalid/x",
        "token": "deprecated",
    }
    body = "payload=" + quote(dumps(shortcut))
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    card_message(fake, 1, channel="C0APPROVE")
    eventually(
        lambda: any("Drafting #1" in t for t in texts(fake, "chat.postEphemeral", user=MARIA)),
        what="the private answer",
    )
