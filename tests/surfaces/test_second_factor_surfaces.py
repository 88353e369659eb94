"""The second factor on the chat surfaces. Telegram: set up only in the private chat (a
group is told where), the QR code a photo there; then, in the group, a sensitive command waits
for `/code`. Slack: the link and the QR code in a direct message, wiped once sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.runtime import Runtime
from core.settings import Settings
from storage.models import OutboundMessage
from storage.vault import new_key
from tests.core.test_second_factor import Clock
from tests.fakes.slack import GENERAL, MARIA, FakeSlack, slash
from tests.fakes.slack import texts as slack_texts
from tests.fakes.telegram import Bot, FakeTelegram
from tests.support.helpers import eventually

GROUP = -100700


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr(new_key())})


def texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in fake.sent(chat_id)]


def said(fake: FakeTelegram, chat_id: int, part: str) -> str:
    found = fake.wait_for(
        lambda: [t for t in texts(fake, chat_id) if part in t], what=f'"{part}" in {chat_id}'
    )
    return str(found[-1])


def test_enrol_in_the_private_chat_then_a_group_command_waits_for_code(tg: Bot) -> None:
    clock = Clock()
    tg.runtime.herald.ctx.clock = clock
    team = tg.fake.group(GROUP, "Acme team")
    in_group = tg.fake.member(team, 1111, "Ana", "ana")
    tg.send(in_group.says("/start"))
    tg.send(in_group.says("/2fa enrol"))
    refusal = said(tg.fake, GROUP, "only in a private chat")
    assert "/2fa enrol there" in refusal
    assert all("otpauth://" not in t for t in texts(tg.fake, GROUP))
    assert tg.fake.files_in(GROUP) == []

    private = tg.fake.private(1111, "Ana", "ana")
    tg.send(private.says("/start"))
    tg.send(private.says("/2fa enrol"))
    text = said(tg.fake, 1111, "otpauth://")
    (qr,) = tg.fake.wait_for(lambda: tg.fake.files_in(1111), what="the QR code")
    assert qr.kind == "photo"
    link = re.search(r"otpauth://\S+", text)
    assert link
    app = pyotp.TOTP(pyotp.parse_uri(link.group(0)).secret)
    tg.send(private.says(str(app.at(clock.now()))))  # plain text in the private chat
    said(tg.fake, 1111, "Your second factor is on")

    # The factor is Ana's on Telegram: it serves in the group too.
    tg.send(in_group.says("/policy 2fa on"))
    said(tg.fake, GROUP, "2FA for sensitive actions: on")
    tg.send(in_group.says("/policy self-approval off"))
    said(tg.fake, GROUP, "send me the 6-digit code")
    clock.at += timedelta(seconds=30)  # the app's next code
    tg.send(in_group.says(f"/code {app.at(clock.now())}"))
    said(tg.fake, GROUP, "Self-approval: off")


def test_slack_sends_the_link_and_qr_code_in_a_dm_and_keeps_no_copy(
    slack_web: tuple[Runtime, TestClient], slack: FakeSlack
) -> None:
    rt, client = slack_web
    body, headers = slash("2fa enrol", user=MARIA, user_name="maria")
    assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    (dm,) = eventually(
        lambda: [s for s in slack.shared() if s.channel.startswith("D")], what="the DM"
    )
    assert "otpauth://totp/Herald:maria" in (dm.initial_comment or "")
    ((name, _, png),) = dm.files
    assert name == "herald-2fa.png" and png.startswith(b"\x89PNG")
    # Nothing of it in the channel, where only a note says where it went.
    public = slack_texts(slack, "chat.postMessage", channel=GENERAL)
    assert all("otpauth" not in t for t in public)
    note = eventually(lambda: slack_texts(slack, "chat.postEphemeral", user=MARIA), what="the note")
    assert "direct message" in note[0] and "otpauth" not in note[0]

    def kept() -> list[str]:
        with rt.db.session() as s:
            rows = s.scalars(select(OutboundMessage)).all()
            return [str(r.payload) for r in rows if r.delivered_at is not None]

    stored = eventually(kept, what="the message marked delivered")
    assert all("otpauth" not in p for p in stored), stored
