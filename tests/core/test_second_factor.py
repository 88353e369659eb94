"""The second factor: `2fa enrol` privately, codes required where the policy says, each code
taken once, wrong codes counted and limited, and the code Herald asks for answered only by the
next message of the person who was asked. TOTP secrets and codes are kept nowhere in clear."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.runtime import Runtime
from core.grammar import redact_secrets
from core.settings import Settings
from core.workspace.people import Actor
from core.workspace.second_factor import MAX_FAILURES, split_code
from storage.models import AuditEvent, InboxCommand, Member, OutboundMessage, SurfaceKind
from storage.models_api import ApiToken
from storage.models_twofa import SecondFactor, SecondFactorAsk
from storage.rotate import rotate
from storage.vault import Vault, decode_key, new_key
from tests.support.helpers import actor, slack_actor

ANA = slack_actor("U1ANA", "ana")  # the owner: first to speak
LEE = slack_actor("U2LEE", "lee")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A key to seal with on PostgreSQL too (SQLite makes its own)."""
    return settings.model_copy(update={"secret_key": SecretStr(new_key())})


def say(rt: Runtime, who: Actor, text: str) -> str:
    return rt.herald.handle(who, text).text or ""


def roles(rt: Runtime) -> dict[str, str]:
    with rt.db.session() as s:
        return {e: r.value for e, r in s.execute(select(Member.external_id, Member.role))}


class Clock:
    """Herald's clock, moved on by the test: a person waits for their app's next code."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def idle_runtime(idle_runtime: Runtime) -> Runtime:
    idle_runtime.herald.ctx.clock = Clock()
    return idle_runtime


class App:
    """The person's authenticator app, set up from the link Herald sent."""

    def __init__(self, rt: Runtime, link: str) -> None:
        self.totp = pyotp.TOTP(pyotp.parse_uri(link).secret)
        self.secret = self.totp.secret
        clock = rt.herald.ctx.clock
        assert isinstance(clock, Clock)
        self.clock = clock

    def code(self) -> str:
        """The code the app shows 30 s later (each code works once: people wait for the
        next one)."""
        self.clock.at += timedelta(seconds=30)
        return str(self.totp.at(self.clock.at))


def enrol(rt: Runtime, who: Actor) -> App:
    answer = rt.herald.handle(who, "2fa enrol")
    link = re.search(r"otpauth://\S+", answer.text or "")
    assert link, answer.text
    app = App(rt, link.group(0))
    assert "switch it on" in (answer.text or "")
    assert "Your second factor is on" in say(rt, who, app.code())
    return app


def team(rt: Runtime) -> App:
    say(rt, ANA, "queue")
    say(rt, LEE, "queue")
    app = enrol(rt, ANA)
    assert "2FA for sensitive actions: on" in say(rt, ANA, "policy 2fa on")
    return app


def test_enrol_sends_a_link_and_qr_image_and_the_first_code_switches_it_on(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    say(rt, ANA, "queue")
    assert "no second factor" in say(rt, ANA, "2fa")
    answer = rt.herald.handle(ANA, "2fa enrol")
    assert "otpauth://totp/Herald:ana?secret=" in (answer.text or "")
    (qr,) = answer.files
    assert qr.mime == "image/png" and qr.data.startswith(b"\x89PNG")
    link = re.search(r"otpauth://\S+", answer.text or "")
    assert link
    app = App(rt, link.group(0))
    assert "Your second factor is on" in say(rt, ANA, app.code())
    assert "Your second factor is on since" in say(rt, ANA, "2fa")
    assert "already on" in say(rt, ANA, "2fa enrol")


def test_the_policy_needs_an_enrolled_admin_and_then_a_code_for_sensitive_commands(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    say(rt, ANA, "queue")
    say(rt, LEE, "queue")
    assert "Set up your own second factor first" in say(rt, ANA, "policy 2fa on")
    app = enrol(rt, ANA)
    assert "2FA for sensitive actions: on" in say(rt, ANA, "policy 2fa on")
    # Reading the policy is not sensitive; changing a role is.
    assert "Self-approval" in say(rt, ANA, "policy")
    asked = say(rt, ANA, "role <@U2LEE> admin")
    assert "send me the 6-digit code" in asked and "UTC" in asked
    assert roles(rt)["U2LEE"] == "editor"
    assert say(rt, ANA, app.code()) == "@lee is now admin."
    assert roles(rt)["U2LEE"] == "admin"
    # With the code in the command, at once.
    assert say(rt, ANA, f"role <@U2LEE> approver --code {app.code()}") == ("@lee is now approver.")
    # An admin without a second factor is told how to get one; nothing changes.
    say(rt, ANA, f"role <@U2LEE> admin --code {app.code()}")
    refused = say(rt, LEE, "disconnect outbox")
    assert "you have none yet" in refused and "2fa enrol" in refused
    # Turning the policy off is a policy change: it takes a code too.
    assert "send me the 6-digit code" in say(rt, ANA, "policy 2fa off")
    assert "2FA for sensitive actions: off" in say(rt, ANA, app.code())
    assert roles(rt)["U2LEE"] == "admin"


def test_a_replayed_code_is_refused(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    app = team(rt)
    code = app.code()
    assert say(rt, ANA, f"role <@U2LEE> admin --code {code}") == "@lee is now admin."
    again = say(rt, ANA, f"role <@U2LEE> viewer --code {code}")
    assert "used already" in again and "works once" in again
    assert roles(rt)["U2LEE"] == "admin"


def test_wrong_codes_are_counted_then_refused_with_a_wait(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    app = team(rt)
    good = app.code()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for tries_left in range(MAX_FAILURES - 1, 0, -1):
        refused = say(rt, ANA, f"role <@U2LEE> admin --code {wrong}")
        assert "That code is wrong" in refused
        assert f"{tries_left} more tr" in refused, refused
    locked = say(rt, ANA, f"role <@U2LEE> admin --code {wrong}")
    assert "I take no code for 15 min" in locked and "UTC" in locked
    # Even the right code waits now.
    still = say(rt, ANA, f"role <@U2LEE> admin --code {app.code()}")
    assert "I take no code for" in still
    assert roles(rt)["U2LEE"] == "editor"
    # The window over, codes are taken again.
    app.clock.at += timedelta(minutes=15)
    assert say(rt, ANA, f"role <@U2LEE> admin --code {app.code()}") == "@lee is now admin."


def test_only_the_next_message_of_the_person_asked_answers(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    app = team(rt)
    assert "send me the 6-digit code" in say(rt, ANA, "role <@U2LEE> admin")
    # Lee sends a code (even Ana's current one): it answers nothing of Ana's.
    code = app.code()
    assert "Nothing is waiting for a code" in say(rt, LEE, code)
    assert roles(rt)["U2LEE"] == "editor"
    assert say(rt, ANA, code) == "@lee is now admin."
    # Anything else Ana sends first drops the request.
    assert "send me the 6-digit code" in say(rt, ANA, "role <@U2LEE> viewer")
    dropped = say(rt, ANA, "queue")
    assert "I dropped the role that waited for your code" in dropped
    assert "Nothing is waiting for a code" in say(rt, ANA, app.code())
    assert roles(rt)["U2LEE"] == "admin"
    # A mistyped code keeps the request for the next message.
    assert "send me the 6-digit code" in say(rt, ANA, "role <@U2LEE> viewer")
    assert "Send the right one now" in say(rt, ANA, "000000" if code != "000000" else "111111")
    assert say(rt, ANA, f"code {app.code()}") == "@lee is now viewer."


def test_2fa_off_needs_a_code(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    say(rt, ANA, "queue")
    app = enrol(rt, ANA)
    assert "send me the 6-digit code" in say(rt, ANA, "2fa off")
    assert "Your second factor is off" in say(rt, ANA, app.code())
    assert "no second factor" in say(rt, ANA, "2fa")
    with rt.db.session() as s:
        assert s.scalars(select(SecondFactor)).all() == []
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"member.2fa.enrol", "member.2fa.on", "member.2fa.off"} <= actions


def test_revoking_anothers_token_takes_a_code_and_a_member_is_refused_before_any(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    say(rt, ANA, "queue")
    say(rt, LEE, "queue")
    assert "valid until" in say(rt, LEE, "token new ci")  # before the policy: no code yet
    app = enrol(rt, ANA)
    assert "2FA for sensitive actions: on" in say(rt, ANA, "policy 2fa on")

    def live() -> list[str]:
        with rt.db.session() as s:
            return list(s.scalars(select(ApiToken.name).where(ApiToken.revoked_at.is_(None))))

    # Lee, an editor, may not: told so at once, not asked for a code first.
    refused = say(rt, LEE, "token list all")
    assert "only owners and admins can see or revoke others' API tokens" in refused
    assert "You are an editor here" in say(rt, LEE, "token revoke x <@U1ANA>")
    # Listing is reading: no code. Revoking Lee's token is: asked, then done with the code.
    assert "@lee: ci (read)" in say(rt, ANA, "token list all")
    asked = say(rt, ANA, "token revoke ci <@U2LEE>")
    assert "send me the 6-digit code" in asked
    assert live() == ["ci"]
    done = say(rt, ANA, app.code())
    assert done == 'Revoked the token "ci" of @lee. Requests with it are refused from now.'
    assert live() == []


def test_enrol_goes_only_to_the_person(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    # A Telegram group: refused, and told where.
    group = Actor(
        surface=SurfaceKind.TELEGRAM,
        workspace_id="-100600",
        workspace_name="Acme team",
        user_id="1111",
        user_name="ana",
        conversation="-100600",
        shared=True,
    )
    refused = say(rt, group, "2fa enrol")
    assert "only in a private chat" in refused and "/2fa enrol there" in refused
    # A Slack channel: a direct message to the person, with the QR image; the channel
    # hears only where it went.
    channel = dataclasses.replace(ANA, shared=True)
    answer = say(rt, channel, "2fa enrol")
    assert answer == "🔒 I sent you your second factor in a direct message."
    with rt.db.session() as s:
        rows = s.scalars(select(OutboundMessage)).all()
        (private,) = [r for r in rows if "otpauth://" in str(r.payload)]
        assert private.recipient == "U1ANA"
        assert private.payload["secret"] is True  # wiped once delivered
        assert all("otpauth://" not in str(r.payload) for r in rows if r.recipient is None)
    # The terminal prints it: the link and the QR code as text, no file anywhere.
    printed = rt.herald.handle(actor("maria"), "2fa enrol")
    assert "otpauth://" in (printed.text or "") and "▀" in (printed.text or "")
    assert printed.files == ()


def test_secrets_and_codes_are_not_kept_or_logged_in_clear(
    idle_runtime: Runtime, logs: list[logging.LogRecord]
) -> None:
    rt = idle_runtime
    app = team(rt)
    code = app.code()
    # Through the inbox (Slack's ack path): the stored command must not hold the code.
    row_id = rt.herald.accept(ANA, f"role <@U2LEE> admin --code {code}")
    assert row_id is not None
    with rt.db.session() as s:
        stored = s.get(InboxCommand, row_id)
        assert stored is not None and code not in stored.text
    rt.herald.run_inbound(row_id)
    assert roles(rt)["U2LEE"] == "admin"
    # Asked, then answered through the inbox: neither the command nor the code in clear.
    assert "send me the 6-digit code" in say(rt, ANA, "role <@U2LEE> approver")
    code = app.code()
    row_id = rt.herald.accept(ANA, code)
    assert row_id is not None
    with rt.db.session() as s:
        stored = s.get(InboxCommand, row_id)
        assert stored is not None and code not in stored.text
    rt.herald.run_inbound(row_id)
    assert roles(rt)["U2LEE"] == "approver"
    with rt.db.session() as s:
        (factor,) = s.scalars(select(SecondFactor)).all()
        assert app.secret.encode() not in factor.secret
        kept = [str(d) for d in s.scalars(select(AuditEvent.detail))]
        kept += [str(p) for p in s.scalars(select(OutboundMessage.payload))]
        assert s.scalars(select(SecondFactorAsk)).all() == []
    assert all(app.secret not in k and code not in k for k in kept)
    for record in logs:
        line = record.getMessage()
        assert app.secret not in line and code not in line, line


def test_codes_are_redacted_and_split_from_commands() -> None:
    assert redact_secrets("connect x --code 123456") == "connect x --code •••"
    assert redact_secrets("123456") == "•••"
    assert redact_secrets("code 123456") == "•••"
    assert redact_secrets("show 12") == "show 12"
    assert split_code("connect x --code 123456") == ("connect x", "123456")
    assert split_code("role <@U1> admin --code=654321") == ("role <@U1> admin", "654321")
    assert split_code("queue") == ("queue", None)


def test_keys_rotate_reseals_the_second_factor(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    app = team(rt)
    assert "send me the 6-digit code" in say(rt, ANA, "role <@U2LEE> admin")  # an ask kept
    old = rt.vault
    assert old is not None
    newer = Vault([decode_key(new_key()), old.current])
    assert rotate(rt.db, newer) == 2  # the secret and the waiting command
    with rt.db.session() as s:
        (factor,) = s.scalars(select(SecondFactor)).all()
        assert newer.is_current(factor.secret)
    rt.herald.ctx.hub.vault = Vault([newer.current])  # type: ignore[union-attr]
    assert say(rt, ANA, app.code()) == "@lee is now admin."
