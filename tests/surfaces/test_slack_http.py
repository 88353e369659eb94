"""Slack over HTTP: real signed requests through `herald web` into the real bolt app, a local
Slack Web API recording every call, and a real Celery worker on both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.slack.blocks import validate_message, validate_view
from bot.web.app import create_app
from core.approvals import deadlines
from core.settings import Settings
from storage.models import InboundEvent, InboxCommand, Post
from tests.fakes.slack import (
    BOT_TOKEN,
    GENERAL,
    KIM,
    LEE,
    MARIA,
    NAMES,
    TEAM,
    VIC,
    FakeSlack,
    card_message,
    click,
    direct_message,
    dumps,
    event,
    sign,
    slack_settings,
    slash,
    submit,
    texts,
)
from tests.support.helpers import eventually, outbox_files, post_state, snapshot, target_states
from tests.support.platforms import tiny_png
from workers.app import EmbeddedWorker


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


@pytest.fixture
def web(settings: Settings, fake: FakeSlack) -> Iterator[tuple[Runtime, TestClient]]:
    rt = build_runtime(slack_settings(settings, fake))
    worker = EmbeddedWorker(rt.celery, rt.settings)
    worker.start()
    rt.embedded = worker
    with TestClient(create_app(rt)) as client:
        yield rt, client
    rt.close()


def post(client: TestClient, request: tuple[str, dict[str, str]], path: str = "/slack/events"):
    body, headers = request
    return client.post(path, content=body, headers=headers)


def command(text: str, user: str = MARIA) -> tuple[str, dict[str, str]]:
    """`/herald <text>` as Slack sends it, with the person's Slack username."""
    request: tuple[str, dict[str, str]] = slash(text, user=user, user_name=NAMES[user])
    return request


def ask(client: TestClient, fake: FakeSlack, text: str, user: str = MARIA) -> str:
    """A slash command: acked at once with an empty 200, then answered privately by the worker."""
    before = len(texts(fake, "chat.postEphemeral", user=user))
    reply = post(client, command(text, user))
    assert reply.status_code == 200
    assert reply.content == b"", reply.content  # the ack waits for nothing but the row
    return eventually(
        lambda: texts(fake, "chat.postEphemeral", user=user)[before:], what=f"the answer to {text}"
    )[0]


def setup_team(client: TestClient, fake: FakeSlack) -> None:
    """Maria owns the workspace (first to speak); Lee and Kim approve; Vic only views."""
    for user, role in ((LEE, "approver"), (KIM, "approver"), (VIC, "viewer")):
        assert "is now" in ask(client, fake, f"role <@{user}|x> {role}")


def draft(client: TestClient, fake: FakeSlack, text: str, number: int = 1) -> tuple[str, str]:
    """Maria drafts post `number`; where its card was posted."""
    assert f"Drafting #{number}" in ask(client, fake, f"draft {text}")
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

    # Each step is a reply in the card's thread (paced: one message a second per channel).
    def in_thread(step: str) -> bool:
        return any(
            step in t for t in texts(fake, "chat.postMessage", channel=channel, thread_ts=ts)
        )

    for step in ("approved by @lee", "🚀 #1 published"):
        eventually(lambda step=step: in_thread(step), what=f"{step!r} in the thread")  # type: ignore[misc]
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
        assert s.scalar(select(func.count(InboxCommand.id))) == 0
    assert fake.calls == []
    # The same request, correctly signed, is accepted: one row, then the worker's answer.
    assert post(client, (body, headers)).status_code == 200
    eventually(
        lambda: any("Drafting #1" in t for t in texts(fake, "chat.postEphemeral", user=MARIA)),
        what="the accepted command run",
    )
    with rt.db.session() as s:  # stored before the ack, purged once run
        assert s.scalar(select(func.count(InboxCommand.id))) == 0


def test_the_ack_waits_for_no_slack_call_and_no_command(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    fake.delays["users.info"] = 2.0  # a slow Slack: nobody's profile is cached yet

    def fast_ack(request: tuple[str, dict[str, str]]) -> None:
        started = time.monotonic()
        answer = post(client, request)
        assert answer.status_code == 200
        assert answer.content == b""
        assert time.monotonic() - started < 1.0

    fast_ack(command("draft Fast ack --to outbox"))
    channel, ts = card_message(fake, 1)  # the worker ran the draft after the ack
    fast_ack(click(fake, "herald_approve", "1", user=KIM, channel=channel, ts=ts))
    # Kim is new here (an editor): the worker tells him privately that he can't approve.
    told = eventually(lambda: texts(fake, "chat.postEphemeral", user=KIM), what="Kim told")
    assert "can approve" in told[0]
    assert post_state(rt, 1) != "approved"


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

    def approvals() -> list[str]:
        return [t for t in texts(fake, "chat.postMessage", thread_ts=ts) if "approved by" in t]

    eventually(approvals, what="the approval in the thread")
    time.sleep(1.2)  # a second one would be paced a second behind the first
    assert len(approvals()) == 1
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
    dm = direct_message("draft Direct message idea --to outbox", MARIA)
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
        "errors": {"net_outbox": "The Outbox text is 5,001/5,000 characters. Shorten it by 1."},
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
    answer = post(client, command("help")).json()
    assert answer["blocks"][0]["text"]["text"] == "Herald commands"
    assert "/herald draft" in dumps(answer["blocks"])
    validate_message(answer)

    answer_text = ask(client, fake, "config approvals-channel <#C0APPROVE|approvals>")
    assert answer_text.startswith("Approval cards now go to #C0APPROVE.")
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


def file_share(
    fake: FakeSlack, user: str, channel: str, *, thread: str | None, text: str = "", **more: Any
) -> tuple[str, dict[str, str]]:
    """A message with an uploaded image (event `message`, subtype `file_share`)."""
    ts = f"{1700000500 + len(fake.files)}.000100"
    inner = {
        "type": "message",
        "subtype": "file_share",
        "channel": channel,
        "channel_type": "im" if channel.startswith("D") else "channel",
        "user": user,
        "text": text,
        "files": [fake.add_file("chart.png", tiny_png(640, 480))],
        "upload": False,
        "display_as_bot": False,
        "ts": ts,
        "event_ts": ts,
        **({"thread_ts": thread} if thread else {}),
        **more,
    }
    return event(inner, f"Ev0FILE{len(fake.files):04d}")


def media_of(rt: Runtime, number: int) -> list[dict[str, Any]]:
    with rt.db.session() as s:
        row = s.scalars(select(Post).where(Post.number == number)).one()
        return list(row.media or [])


def test_a_file_shared_in_a_card_thread_is_attached_to_its_post(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Growth report --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="pending")
    shared = file_share(fake, MARIA, channel, thread=ts, text="A chart of our growth")
    assert post(client, shared).status_code == 200
    media = eventually(lambda: media_of(rt, 1), what="the media attached")
    assert len(media) == 1
    assert media[0]["content_type"] == "image/png"
    assert media[0]["alt"] == "A chart of our growth"
    assert (media[0]["width"], media[0]["height"]) == (640, 480)
    # Downloaded once, with the bot token.
    downloads = fake.named("files.download")
    assert len(downloads) == 1 and downloads[0].token == BOT_TOKEN
    eventually(
        lambda: any(
            "📎 Attached image (640×480" in t
            for t in texts(fake, "chat.postMessage", channel=channel, thread_ts=ts)
        ),
        what="the answer in the thread",
    )
    card_json = dumps(fake.messages[(channel, ts)]["blocks"])  # the card, redrawn in place
    assert "📎 Attached image" in card_json
    assert "🖼 image 640×480" in card_json
    # Slack delivering the same event again attaches nothing more.
    assert post(client, (shared[0], {**shared[1], "X-Slack-Retry-Num": "1"})).status_code == 200
    time.sleep(0.5)
    assert len(media_of(rt, 1)) == 1


def test_a_file_from_a_viewer_or_outside_a_card_thread_attaches_nothing(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Quiet report --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="pending")
    before = snapshot(rt)
    # A viewer: refused privately, nothing stored.
    assert post(client, file_share(fake, VIC, channel, thread=ts)).status_code == 200
    told = eventually(
        lambda: [t for t in texts(fake, "chat.postEphemeral", user=VIC)], what="the viewer told"
    )
    assert "viewer" in told[0]
    # A direct message with a file: where to share it instead.
    assert post(client, file_share(fake, MARIA, "D0MARIA01", thread=None)).status_code == 200
    eventually(
        lambda: any(
            "thread of the post's card" in t
            for t in texts(fake, "chat.postEphemeral", channel="D0MARIA01")
        ),
        what="the hint",
    )
    # A file in some other thread is not for Herald: not even downloaded.
    other = file_share(fake, MARIA, channel, thread="1700000001.000200")
    assert post(client, other).status_code == 200
    time.sleep(0.5)
    assert media_of(rt, 1) == []
    assert snapshot(rt) == before
    assert len(fake.named("files.download")) == 1  # only the viewer's, refused by core


def test_a_command_that_cannot_be_stored_is_answered_with_the_failure(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    """The team's token is cached by now, so bolt runs these on the event loop and the
    answer waits for the inbox's writer: a failed write answers with a ref, stores nothing."""
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Stored before the outage --to outbox")
    with rt.db.engine.begin() as conn:
        conn.execute(sql_text("ALTER TABLE inbox_commands RENAME TO inbox_commands_away"))
    try:
        answer = post(client, command("draft Lost in the outage --to outbox"))
        assert answer.status_code == 200
        said = answer.json()
        assert said["response_type"] == "ephemeral"
        assert said["text"].startswith("Something went wrong on my side (ref ")
        clicked = post(client, click(fake, "herald_approve", "1", user=LEE, channel=channel, ts=ts))
        assert clicked.status_code == 200
        told = eventually(
            lambda: texts(fake, "chat.postEphemeral", user=LEE), what="Lee told privately"
        )
        assert "Something went wrong on my side (ref " in told[-1]
    finally:
        with rt.db.engine.begin() as conn:
            conn.execute(sql_text("ALTER TABLE inbox_commands_away RENAME TO inbox_commands"))
    assert post_state(rt, 1) == "pending_approval"
    with rt.db.session() as s:
        briefs = list(s.scalars(select(Post.brief)))
    assert briefs == ["Stored before the outage"]
    # Stored again, the next command goes through.
    assert "Drafting #2" in ask(client, fake, "draft After the outage --to outbox")


def test_a_mention_and_a_command_in_a_cards_thread_are_answered(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    setup_team(client, fake)
    channel, ts = draft(client, fake, "Thread idea --to outbox")
    mention = {
        "type": "app_mention",
        "channel": GENERAL,
        "user": MARIA,
        "text": "<@U0HERALD> show 1",
        "ts": "1700000010.000100",
        "event_ts": "1700000010.000100",
    }
    assert post(client, event(mention, "Ev0SHOW01")).status_code == 200
    answer = eventually(
        lambda: texts(fake, "chat.postMessage", channel=GENERAL, thread_ts="1700000010.000100"),
        what="the answer to the mention",
    )
    assert "#1" in answer[0] and "Thread idea" in answer[0], answer
    # In the card's thread, a command is a command (not feedback, not ignored).
    reply = {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": LEE,
        "text": "approve 1",
        "ts": "1700000011.000100",
        "thread_ts": ts,
    }
    assert post(client, event(reply, "Ev0APPROVE1")).status_code == 200
    eventually(lambda: post_state(rt, 1) in {"approved", "scheduled", "published"}, what="#1")


def test_metrics_count_acks_commands_denials_and_forged_requests(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    """/metrics (Prometheus' parser) moves with Slack traffic: each ack's latency by kind, each
    command by outcome, a permission refused as `denied`, a forged request as rejected."""
    from tests.support.scrape import parse

    _, client = web
    before = parse(client.get("/metrics").text)
    setup_team(client, fake)
    assert "admin" in ask(client, fake, f"role <@{KIM}|x> viewer", user=VIC).lower()
    body, headers = command("queue")
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    assert client.post("/slack/commands", content=body, headers=forged).status_code == 401
    after = parse(client.get("/metrics").text)

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    assert moved("herald_slack_ack_duration_seconds_count", kind="command") == 4
    assert moved("herald_commands_total", command="role", outcome="ok") == 3
    assert moved("herald_commands_total", command="role", outcome="denied") == 1
    assert moved("herald_rejected_requests_total", surface="slack") == 1
    assert moved("herald_http_request_duration_seconds_count", route="/slack/events") == 4
    assert moved("herald_http_request_duration_seconds_count", route="/slack/commands") == 1
    assert moved("herald_chat_deliveries_total", surface="slack", outcome="delivered") >= 4


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def test_the_edit_modal_on_an_expired_post_says_its_time_has_passed(
    web: tuple[Runtime, TestClient], fake: FakeSlack
) -> None:
    rt, client = web
    clock = _Clock(datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    rt.herald.ctx.clock = clock
    setup_team(client, fake)
    channel, ts = draft(client, fake, 'Launch day --to outbox --at "2026-12-07 12:00 UTC"')
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the draft")
    clock.at = datetime(2026, 12, 7, 12, 1, tzinfo=UTC)
    assert deadlines.watch(rt.herald.ctx)["expired"] == 1
    assert post(client, click(fake, "herald_edit", "1", user=MARIA, channel=channel, ts=ts))
    view = eventually(lambda: fake.named("views.open"), what="the modal")[0].body["view"]
    edited = {"net_outbox": {"text": {"type": "plain_text_input", "value": "Launch day, edited"}}}
    assert post(client, submit(view, edited, user=MARIA)).status_code == 200
    eventually(
        lambda: (
            "Its time, Mon 7 Dec, 12:00 UTC, has passed: it goes out as soon as it is "
            "approved, or set one with schedule 1 &lt;when&gt;."
            in dumps(fake.messages[(channel, ts)]["blocks"])
        ),
        what="the card redrawn with the passed time",
    )
    assert post_state(rt, 1) == "pending_approval"
    assert "as soon as approved" in dumps(fake.messages[(channel, ts)]["blocks"])
