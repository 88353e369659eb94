"""Pause-all on both backends: a pause stops a target already claimed before its network call
and resume releases it; posts whose time passes during a (timed) pause are held and asked
about in one message; cards and queue show the pause; the operator's switch holds everyone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from core.approvals import deadlines
from core.posts.card import Message
from core.publishing.pause import pause_install, resume_install
from core.settings import Settings
from storage.models import Post, Target
from tests.core.test_deadlines import surfaces_of
from tests.support.clock import Clock
from tests.support.helpers import actor, messages, outbox_files, post_state, target_states
from tests.support.platforms import approved_and_queued, runtime_with

MARIA = actor("maria")
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = runtime_with(settings, worker=False)
    yield runtime
    runtime.close()


def say(rt: Runtime, text: str) -> Message:
    reply = rt.herald.handle(MARIA, text)
    assert not reply.error, reply.text
    return reply


def test_pause_stops_a_claimed_target_before_the_network_and_resume_releases_it(
    rt: Runtime,
) -> None:
    target_id = approved_and_queued(rt)
    assert target_states(rt, 1) == {"outbox": "queued"}
    reply = say(rt, "pause incident review")
    assert "⏸ Publishing is paused by @maria since" in (reply.text or "")
    assert "incident review" in (reply.text or "")
    rt.herald.publish(target_id)  # the publish job it was claimed for runs now
    assert outbox_files(rt) == []
    assert target_states(rt, 1) == {"outbox": "scheduled"}
    assert rt.herald.dispatch_due() == 0  # nothing claimed while paused
    assert "⏸ Publishing is paused" in (say(rt, "queue").text or "")
    card = say(rt, "show 1").card
    assert card is not None and "⏸ Publishing is paused" in (card.note or "")
    again = rt.herald.handle(MARIA, "pause")
    assert again.error and "Type resume to lift it first" in (again.text or "")

    assert say(rt, "resume").text == "▶ Publishing resumed by @maria."
    assert rt.herald.dispatch_due() == 1
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"outbox": "published"}
    assert len(outbox_files(rt)) == 1
    assert "⏸" not in (say(rt, "queue").text or "")


@pytest.fixture
def timed(settings: Settings) -> Iterator[tuple[Runtime, Clock]]:
    runtime = runtime_with(settings, worker=False)
    clock = Clock(START)
    runtime.herald.ctx.clock = clock
    yield runtime, clock
    runtime.close()


def scheduled(rt: Runtime, brief: str, when: str) -> int:
    reply = say(rt, f'draft {brief} --to outbox --at "{when}"')
    assert reply.post_number is not None
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id).where(Post.number == reply.post_number)).one()
    rt.herald.generate(post_id)
    say(rt, f"approve {reply.post_number}")
    return reply.post_number


def test_a_timed_pause_lifts_itself_and_asks_about_posts_it_held(
    timed: tuple[Runtime, Clock],
) -> None:
    rt, clock = timed
    scheduled(rt, "Launch day", "2026-12-07 10:00 UTC")
    scheduled(rt, "Follow-up", "2026-12-07 10:30 UTC")
    scheduled(rt, "Next week", "2026-12-14 10:00 UTC")
    reply = say(rt, "pause 2h")
    assert "until Mon 7 Dec, 10:00 UTC" in (reply.text or "")
    clock.at = START + timedelta(hours=1, minutes=45)
    assert rt.herald.dispatch_due() == 0
    clock.at = START + timedelta(hours=2, minutes=45)
    assert rt.herald.dispatch_due() == 0  # the timer has run out, but the tick ends it
    assert deadlines.watch(rt.herald.ctx)["resumed"] == 1
    assert deadlines.watch(rt.herald.ctx)["resumed"] == 0
    assert target_states(rt, 1) == {"outbox": "draft"}
    assert target_states(rt, 2) == {"outbox": "draft"}
    assert target_states(rt, 3) == {"outbox": "scheduled"}
    assert rt.herald.dispatch_due() == 0  # held: nothing goes out unasked
    [asked] = [m for m in messages(rt) if (m.text or "").startswith("⏸ The time of")]
    text = asked.text or ""
    assert "#1 · Outbox · was due Mon 7 Dec, 10:00 UTC" in text
    assert "#2 · Outbox · was due Mon 7 Dec, 10:30 UTC" in text
    assert "#3" not in text
    cards = [m.card for m in messages(rt) if m.card and m.card.title.startswith("#1 · Held")]
    assert [b.label for b in cards[-1].buttons] == ["Publish now", "Reschedule", "Cancel"]
    for surface, offered in surfaces_of(cards[-1]).items():
        assert offered == [
            ("Publish now", "release 1"),
            ("Reschedule", "reschedule 1"),
            ("Cancel", "cancel 1"),
        ], surface

    assert "Publishing #1 on Outbox now" in (say(rt, "release 1").text or "")
    assert rt.herald.dispatch_due() == 1
    assert "#2 will go out Tue 8 Dec, 09:00 UTC" in (
        say(rt, 'reschedule 2 "2026-12-08 09:00 UTC"').text or ""
    )
    assert target_states(rt, 2) == {"outbox": "scheduled"}
    assert post_state(rt, 2) == "approved"


def test_only_owners_and_admins_pause(timed: tuple[Runtime, Clock]) -> None:
    rt, _ = timed
    say(rt, "queue")
    lee = actor("lee")
    rt.herald.handle(lee, "queue")  # lee joins
    refused = rt.herald.handle(lee, "pause")
    assert refused.error and "only owners and admins can configure" in (refused.text or "")
    bad = rt.herald.handle(MARIA, "pause 90d")
    assert bad.error and "from 1 minute to 30 days" in (bad.text or "")
    assert "⏸" not in (say(rt, "queue").text or "")


def test_the_operators_switch_pauses_every_workspace(timed: tuple[Runtime, Clock]) -> None:
    rt, clock = timed
    scheduled(rt, "Launch day", "2026-12-07 08:30 UTC")
    clock.at = START + timedelta(minutes=30)
    assert rt.herald.dispatch_due() == 1  # claimed just before the pause
    assert "paused for this whole Herald by the operator" in pause_install(
        rt.herald.ctx, None, "maintenance"
    )
    with rt.db.session() as s:
        target_id = s.scalars(select(Target.id)).one()
    rt.herald.publish(target_id)
    assert outbox_files(rt) == []
    assert rt.herald.dispatch_due() == 0
    refused = rt.herald.handle(MARIA, "resume")
    assert refused.error and "herald resume --all" in (refused.text or "")
    assert "resumed for every workspace" in resume_install(rt.herald.ctx)
    assert rt.herald.dispatch_due() == 1  # due before the pause: released, not held
    rt.herald.publish(target_id)
    assert len(outbox_files(rt)) == 1


def test_herald_pause_all_and_resume_all_from_the_command_line(rt: Runtime) -> None:
    from click.testing import CliRunner

    from bot.cli import main
    from tests.support.helpers import herald_env

    env = herald_env(rt.settings)
    refused = CliRunner().invoke(main, ["pause"], env=env)
    assert refused.exit_code != 0 and "--all" in refused.output
    bad = CliRunner().invoke(main, ["pause", "--all", "--for", "soon"], env=env)
    assert bad.exit_code != 0 and "e.g. 2h or 30m" in bad.output
    paused = CliRunner().invoke(main, ["pause", "--all", "--for", "2h", "db", "failover"], env=env)
    assert paused.exit_code == 0, paused.output
    assert "paused for this whole Herald by the operator" in paused.output
    assert "db failover" in paused.output
    assert "for this whole Herald" in (say(rt, "queue").text or "")
    resumed = CliRunner().invoke(main, ["resume", "--all"], env=env)
    assert resumed.exit_code == 0 and "resumed for every workspace" in resumed.output
    assert "⏸" not in (say(rt, "queue").text or "")


def test_resume_is_said_once_where_it_was_typed_and_told_where_the_pause_began(
    rt: Runtime,
) -> None:
    say(rt, "pause")
    say(rt, "resume")  # typed where the pause was: its own answer is the only word
    resumed = [m for m in messages(rt) if (m.text or "").startswith("▶ Publishing resumed")]
    assert resumed == []
    say(rt, "pause")
    elsewhere = dataclasses.replace(MARIA, conversation="another-channel")
    reply = rt.herald.handle(elsewhere, "resume")
    assert reply.text == "▶ Publishing resumed by @maria."
    told = [m for m in messages(rt) if (m.text or "") == "▶ Publishing resumed."]
    assert len(told) == 1  # the conversation where the pause began hears of it
