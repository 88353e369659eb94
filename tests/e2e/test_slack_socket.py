"""`herald slack` as a person runs it: Socket Mode against a local Socket Mode server (a real
websocket) and the fake Slack Web API, with a real Celery worker on both backends.

The process asks apps.connections.open for a URL with the app-level token, connects, and acks
every envelope; a slash command drafts, a card button approves, the worker publishes and the
card shows the link. Envelopes and events Slack delivers again run once, also across a
reconnect; a missing or refused app-level token is a clear error."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.runtime import Runtime, build_runtime
from bot.slack.blocks import validate_message
from core.settings import Settings
from storage.models import Post
from tests.fakes.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    GENERAL,
    FakeSlack,
    card_message,
    direct_message,
    dumps,
    texts,
)
from tests.fakes.slack_socket import FakeSocketMode, click_payload, event_payload, slash_payload
from tests.support.helpers import eventually, herald_env, outbox_files, post_state, target_states
from workers.app import EmbeddedWorker

MARIA, LEE = "U0MARIA01", "U0LEE0001"
NAMES = {MARIA: "maria", LEE: "lee"}
HERALD = Path(sys.executable).with_name("herald")


def _env(settings: Settings, fake: FakeSlack, **more: str) -> dict[str, str]:
    return herald_env(
        settings, HERALD_SLACK_BOT_TOKEN=BOT_TOKEN, HERALD_SLACK_API_URL=fake.url, **more
    )


@dataclass
class HeraldSlack:
    """A running `herald slack`: the Web API it calls, the socket it is connected to, and a
    runtime on its database."""

    fake: FakeSlack
    socket: FakeSocketMode
    rt: Runtime

    def command(self, text: str, user: str = MARIA, envelope_id: str | None = None) -> str:
        """`/herald <text>` as one envelope; acked within Slack's three seconds."""
        payload = slash_payload(text, user=user, user_name=NAMES[user])
        nth = len(self.socket.acks_of(envelope_id)) + 1 if envelope_id else 1
        envelope = self.socket.deliver("slash_commands", payload, envelope_id=envelope_id)
        self.socket.ack(envelope, timeout=3, nth=nth)
        return envelope

    def ask(self, text: str, user: str = MARIA) -> str:
        """A command acked empty, then answered privately by the worker."""
        before = len(texts(self.fake, "chat.postEphemeral", user=user))
        envelope = self.command(text, user)
        assert self.socket.ack(envelope).payload is None
        return eventually(
            lambda: texts(self.fake, "chat.postEphemeral", user=user)[before:],
            what=f"the answer to {text}",
        )[0]


@pytest.fixture
def herald(settings: Settings, tmp_path: Path) -> Iterator[HeraldSlack]:
    """`herald slack` in its own process, connected; on PostgreSQL the worker runs here."""
    fake = FakeSlack()
    for user, name in NAMES.items():
        fake.add_user(user, name)
    socket = FakeSocketMode().attach(fake)
    # Migrates SQLite and reads the rows; on Redis its worker (`herald worker`) drafts,
    # publishes and posts the cards.
    rt = build_runtime(
        settings.model_copy(
            update={"slack_bot_token": SecretStr(BOT_TOKEN), "slack_api_url": fake.url}
        )
    )
    worker = None
    if not settings.embedded:
        worker = EmbeddedWorker(rt.celery, rt.settings)
        worker.start()
    log_path = tmp_path / "slack.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [str(HERALD), "slack"],
        env=_env(settings, fake, HERALD_SLACK_APP_TOKEN=APP_TOKEN),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        socket.wait_connected()
        yield HeraldSlack(fake, socket, rt)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        finally:
            log.close()
            if worker is not None:
                worker.stop()
            rt.close()
            socket.close()
            fake.close()
    output = log_path.read_text()
    assert code == 0, output[-3000:]  # SIGTERM stops it cleanly
    assert "connected to Slack over Socket Mode" in output
    assert socket.strays == []  # the app sent nothing but acks
    # Every message Herald sent is one Slack accepts.
    assert fake.invalid == []
    for call in fake.calls:
        if call.method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            validate_message(call.body)


def _posts(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count(Post.id))) or 0)


def test_socket_mode_drafts_approves_publishes_and_runs_redeliveries_once(
    herald: HeraldSlack,
) -> None:
    fake, socket, rt = herald.fake, herald.socket, herald.rt
    # The URL came from apps.connections.open, asked with the app-level token only.
    assert [c.token for c in fake.named("apps.connections.open")] == [APP_TOKEN]
    assert socket.refused == 0

    # `/herald help` is answered in the ack itself: Slack shows its payload.
    help_ack = socket.ack(herald.command("help"))
    assert help_ack.payload is not None
    assert help_ack.payload["blocks"][0]["text"]["text"] == "Herald commands"
    assert "/herald draft" in dumps(help_ack.payload["blocks"])

    # Maria (the first to speak owns the workspace) makes Lee an approver, then drafts.
    assert "is now" in herald.ask(f"role <@{LEE}|lee> approver")
    drafting = herald.command("draft Socket Mode is live --to outbox")
    assert socket.ack(drafting).payload is None  # the answer follows privately
    channel, ts = card_message(fake, 1, channel=GENERAL)
    blocks = dumps(fake.messages[(channel, ts)]["blocks"])
    assert "#1 · Draft by @maria · for Outbox" in blocks
    assert "Socket Mode is live" in blocks
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="pending")

    # Slack delivers the same envelope again (its ack was lost): acked again, drafted once.
    herald.command("draft Socket Mode is live --to outbox", envelope_id=drafting)
    assert len(socket.acks_of(drafting)) == 2

    # Lee approves on the card; the worker publishes and the card shows the link.
    click = click_payload(fake, "herald_approve", "1", user=LEE, channel=channel, ts=ts)
    approve = socket.deliver("interactive", click)
    assert socket.ack(approve, timeout=3).payload is None
    eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, what="publish")
    assert len(outbox_files(rt)) == 1
    link = str(rt.settings.outbox_dir)

    def card_has_link() -> bool:
        final = dumps(fake.messages[(channel, ts)]["blocks"])
        return link in final and "published" in final

    eventually(card_has_link, what="the card redrawn with the link")
    assert any(call.body.get("ts") == ts for call in fake.named("chat.update"))
    eventually(
        lambda: any(
            "approved by @lee" in t
            for t in texts(fake, "chat.postMessage", channel=channel, thread_ts=ts)
        ),
        what="the approval in the card's thread",
    )
    assert _posts(rt) == 1
    assert sum("Drafting #" in t for t in texts(fake, "chat.postEphemeral", user=MARIA)) == 1

    # A direct message, then Slack refreshes the connection: the app asks for a new URL and
    # connects again, and Slack delivers the event again there, also as a retry.
    dm = direct_message("draft Direct message idea --to outbox", MARIA)
    first = socket.deliver("events_api", event_payload(dm, "Ev0SOCKET1"))
    assert socket.ack(first, timeout=3).connection == 1
    socket.refresh()
    socket.wait_connected(2)
    assert len(fake.named("apps.connections.open")) == 2
    assert socket.refused == 0
    socket.deliver("events_api", event_payload(dm, "Ev0SOCKET1"), envelope_id=first)
    retry = socket.deliver(
        "events_api", event_payload(dm, "Ev0SOCKET1"), retry_attempt=1, retry_reason="timeout"
    )
    assert socket.ack(retry, timeout=3).connection == 2
    eventually(lambda: len(socket.acks_of(first)) == 2, what="the redelivery acked")
    assert socket.acks_of(first)[1].connection == 2
    # New work on the new connection runs.
    second = {**dm, "text": "draft Another idea --to outbox", "ts": "1700000002.000100"}
    socket.deliver("events_api", event_payload(second, "Ev0SOCKET2"))
    eventually(lambda: post_state(rt, 3) == "pending_approval", what="the third draft")
    time.sleep(0.5)  # a duplicate would be drafting by now
    assert _posts(rt) == 3
    answers = texts(fake, "chat.postMessage", channel="D0MARIA01")
    assert sum("Drafting #2" in t for t in answers) == 1
    assert sum("Drafting #3" in t for t in answers) == 1
    assert sum("Drafting #4" in t for t in answers) == 0


def _start_slack(data: Path, fake: FakeSlack, **env: str) -> subprocess.Popen[str]:
    settings = Settings(_env_file=None, data_dir=data)  # type: ignore[call-arg]
    return subprocess.Popen(
        [str(HERALD), "slack"],
        env=_env(settings, fake, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_missing_or_refused_app_token_is_a_clear_error(tmp_path: Path) -> None:
    fake = FakeSlack()
    socket = FakeSocketMode().attach(fake)
    try:
        # Both at once: each start takes a moment.
        missing = _start_slack(tmp_path / "missing", fake)
        refused = _start_slack(
            tmp_path / "refused", fake, HERALD_SLACK_APP_TOKEN="xapp-1-A0HERALD-1-revoked"
        )
        _, missing_err = missing.communicate(timeout=60)
        _, refused_err = refused.communicate(timeout=60)
        assert missing.returncode != 0
        assert "Set HERALD_SLACK_APP_TOKEN (xapp-…" in missing_err
        assert "Traceback" not in missing_err

        assert refused.returncode != 0
        assert "Slack refused to open a Socket Mode connection (invalid_auth)" in refused_err
        assert "Check HERALD_SLACK_APP_TOKEN" in refused_err
        assert "Traceback" not in refused_err
        # Only the refused one asked Slack, and nothing connected.
        assert [c.token for c in fake.named("apps.connections.open")] == [
            "xapp-1-A0HERALD-1-revoked"
        ]
        assert socket.opened == 0
    finally:
        socket.close()
        fake.close()
