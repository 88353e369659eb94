"""The weekly digest, on both backends with a fake clock: `config digest` sets the day and hour
in the workspace's zone (Europe/Berlin here), `send_due` sends it once at that hour with the
week's figures, never twice, never when off, and across a change of clocks at the right local
hour over the right seven local days."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text

from bot.runtime import Runtime, build_runtime
from core.analytics import digest
from core.settings import Settings
from storage.models import OutboundMessage
from storage.models_analytics import DigestSent, DigestSetting
from tests.support.clock import Clock
from tests.support.helpers import actor, eventually
from tests.support.platforms import runtime_with
from tests.unit.analytics.seeding import Seeder

BERLIN = ZoneInfo("Europe/Berlin")
MARIA = actor("maria")  # the first here: the owner
LEE = actor("lee")
# Monday 30 Nov 2026, 09:00 in Berlin (CET, UTC+1).
MONDAY_9AM = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_9AM - timedelta(days=2))


@pytest.fixture
def rt(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    """Herald with no worker, new workspaces in Europe/Berlin, time standing still."""
    runtime = runtime_with(settings, worker=False, timezone="Europe/Berlin")
    runtime.herald.ctx.clock = clock
    yield runtime
    runtime.close()


def say(rt: Runtime, text: str, who: Any = MARIA) -> str:
    reply = rt.herald.handle(who, text)
    assert not reply.error, reply.text
    return reply.text or ""


def digests(rt: Runtime) -> list[tuple[str, str]]:
    """(conversation, text) of every digest Herald wrote."""
    with rt.db.session() as s:
        rows = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        return [
            (row.conversation, str(row.payload.get("text")))
            for row in rows
            if str(row.payload.get("text") or "").startswith("📊 Weekly digest")
        ]


def counts(impressions: int | None, likes: int, **more: int) -> dict[str, Any]:
    return {"impressions": impressions, "likes": likes, **more}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def seed_week(rt: Runtime) -> Seeder:
    """Two posts the week before and four in the seven days to Monday 30 Nov 09:00 (Berlin),
    one of them not measured yet; one more just after 09:00."""
    seed = Seeder(rt.db)
    ws = rt.herald.workspace_of(MARIA)
    seed.post(ws, at(2026, 11, 18, 10), ("linkedin", counts(1000, 40)))  # 1
    seed.post(ws, at(2026, 11, 23, 7, 30), ("linkedin", counts(1000, 10)))  # 2: 08:30, before
    seed.post(  # 3
        ws,
        at(2026, 11, 24, 9),
        ("linkedin", counts(2000, 40, reposts=5)),
        ("x", counts(1000, 10)),
    )
    seed.post(ws, at(2026, 11, 26, 14), ("x", counts(3000, 100, replies=20)))  # 4
    seed.post(ws, at(2026, 11, 30, 7, 50), ("outbox", None))  # 5: 08:50, no figures yet
    seed.post(ws, at(2026, 11, 30, 8, 10), ("x", counts(500, 50)))  # 6: 09:10, next week's
    return seed


def test_monday_9am_in_berlin_sends_one_digest_with_the_weeks_figures(
    rt: Runtime, clock: Clock
) -> None:
    say(rt, "queue")  # maria, the owner
    say(rt, "queue", who=LEE)  # a team: one person at a terminal has no approvals channel
    assert say(rt, "config approvals-channel #marketing").startswith("Approval cards now go")
    answer = say(rt, "config digest monday 9am")
    assert answer == (
        "📊 The weekly digest now goes out every Monday at 09:00 (Europe/Berlin) to #marketing; "
        "next: Mon 30 Nov, 09:00 Europe/Berlin (08:00 UTC)."
    )
    seed_week(rt)

    clock.at = MONDAY_9AM - timedelta(minutes=1)  # 08:59 in Berlin
    assert digest.send_due(rt.herald.ctx) == 0
    assert digests(rt) == []

    clock.at = MONDAY_9AM
    assert digest.send_due(rt.herald.ctx) == 1
    [(conversation, text)] = digests(rt)
    assert conversation == "marketing"
    assert text.splitlines() == [
        "📊 Weekly digest · the 7 days to Mon 30 Nov, 09:00 Europe/Berlin (08:00 UTC)",
        "3 posts on LinkedIn, Outbox and X · 6,000 impressions · 175 interactions · "
        "2.9 % engagement",
        "Against the week before: posts 3 (was 2) · impressions +200 % · interactions +250 % · "
        "engagement 2.9 % (was 2.5 %)",
        "🏆 Best post: #4 · 120 interactions · 3,000 impressions · X: https://x.example/4",
        "By network: X 130 interactions · LinkedIn 45 interactions · Outbox 0 interactions",
        "Posts:",
        "#3 · Tue 24 Nov · LinkedIn, X · 3,000 impressions · 55 interactions",
        "#4 · Thu 26 Nov · X · 3,000 impressions · 120 interactions",
        "#5 · Mon 30 Nov · Outbox · no figures yet",
        "Every Monday at 09:00 Europe/Berlin. Change it: config digest <day> <hour> · "
        "config digest off",
    ]
    with rt.db.session() as s:
        (sent,) = s.scalars(select(DigestSent)).all()
        # Keyed by the week it went out in: Monday 00:00 in Berlin.
        assert sent.period_start == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)

    # Later ticks, the same day and the next, send nothing more.
    for later in (timedelta(minutes=5), timedelta(hours=3), timedelta(days=1)):
        clock.at = MONDAY_9AM + later
        assert digest.send_due(rt.herald.ctx) == 0
    assert len(digests(rt)) == 1


def test_the_digest_carries_its_chart(rt: Runtime, clock: Clock) -> None:
    seed_week(rt)
    ws = rt.herald.workspace_of(MARIA)
    week = digest.last_due(digest.DEFAULT, BERLIN, MONDAY_9AM)
    with rt.db.session() as s:
        facts = digest.read(s, ws, week, BERLIN)
    message = digest.compose(facts, week, digest.DEFAULT, BERLIN, MONDAY_9AM)
    assert message is not None
    (chart,) = message.files
    assert (chart.name, chart.mime) == ("herald-digest-2026-11-30.png", "image/png")
    assert chart.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart.title == "Interactions over the 7 days to Mon 30 Nov"
    # What the chart draws: the week's days per network, and one bar per network.
    assert facts.summary.daily["x"] == [
        (date(2026, 11, 24), 10),
        (date(2026, 11, 26), 120),
    ]
    assert {n: t.interactions for n, t in facts.summary.by_network.items()} == {
        "x": 130,
        "linkedin": 45,
        "outbox": 0,
    }


def test_two_schedulers_at_once_send_one_digest(rt: Runtime, clock: Clock) -> None:
    say(rt, "config digest monday 9am")
    say(rt, "draft Launch day --to outbox")  # where the digest goes: "terminal"
    seed_week(rt)
    clock.at = MONDAY_9AM + timedelta(minutes=2)
    # A second scheduler: its own engine, sessions and context, the same database.
    other = build_runtime(rt.settings)
    other.herald.ctx.clock = clock
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def tick(runtime: Runtime) -> None:
        barrier.wait()
        sent.append(digest.send_due(runtime.herald.ctx))

    try:
        threads = [threading.Thread(target=tick, args=(r,)) for r in (rt, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.close()
    assert sorted(sent) == [0, 1]
    [(conversation, _)] = digests(rt)
    assert conversation == "terminal"


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers at BEGIN
@pytest.mark.parametrize("other_commits", [True, False], ids=["other-commits", "other-fails"])
def test_the_unique_key_decides_when_another_scheduler_is_mid_send(
    rt: Runtime, clock: Clock, other_commits: bool
) -> None:
    say(rt, "config digest monday 9am")
    say(rt, "draft Launch day --to outbox")
    seed_week(rt)
    clock.at = MONDAY_9AM
    key = digest.last_due(digest.DEFAULT, BERLIN, MONDAY_9AM).key
    ws = rt.herald.workspace_of(MARIA)
    # Another scheduler has written this week's row and not committed yet: this one finds no
    # row when it checks, composes the digest, and must wait at its own insert.
    other = rt.db.engine.connect()
    pending = other.begin()
    other.execute(insert(DigestSent).values(workspace_id=ws, period_start=key, sent_at=MONDAY_9AM))
    sent: list[int] = []
    tick = threading.Thread(target=lambda: sent.append(digest.send_due(rt.herald.ctx)))
    tick.start()
    try:
        eventually(lambda: _waiting_on_a_lock(rt) == 1, 30, "the second insert to wait")
        assert sent == []
    finally:
        if other_commits:
            pending.commit()
        else:
            pending.rollback()
        other.close()
        tick.join(30)
    assert sent == [0 if other_commits else 1]
    assert len(digests(rt)) == (0 if other_commits else 1)
    with rt.db.session() as s:
        assert len(s.scalars(select(DigestSent)).all()) == 1


def _waiting_on_a_lock(rt: Runtime) -> int:
    with rt.db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_off_sends_nothing_and_on_again_resumes_next_week(rt: Runtime, clock: Clock) -> None:
    say(rt, "draft Launch day --to outbox")
    seed_week(rt)
    assert say(rt, "config digest off") == (
        "📊 The weekly digest is off now. Turn it back on: config digest on"
    )
    assert say(rt, "config digest") == (
        "📊 The weekly digest is off. Turn it on: config digest monday 9am"
    )
    for at in (MONDAY_9AM, MONDAY_9AM + timedelta(hours=1)):
        clock.at = at
        assert digest.send_due(rt.herald.ctx) == 0
    assert digests(rt) == []

    # On again after this week's hour: nothing for the hour already past, the next one is sent.
    assert say(rt, "config digest on").endswith("next: Mon 7 Dec, 09:00 Europe/Berlin (08:00 UTC).")
    assert digest.send_due(rt.herald.ctx) == 0
    Seeder(rt.db).post(
        rt.herald.workspace_of(MARIA), datetime(2026, 12, 2, 9, tzinfo=UTC), ("x", counts(10, 1))
    )
    clock.at = MONDAY_9AM + timedelta(days=7)
    assert digest.send_due(rt.herald.ctx) == 1
    [(_, text)] = digests(rt)
    assert text.startswith("📊 Weekly digest · the 7 days to Mon 7 Dec, 09:00 Europe/Berlin")


def test_a_dst_week_goes_out_at_the_local_hour_over_seven_local_days(
    rt: Runtime, clock: Clock
) -> None:
    # Berlin moves to summer time at 01:00 UTC on Sunday 28 Mar 2027: Sunday 09:00 is 07:00 UTC,
    # and the Sunday before, 09:00 was 08:00 UTC. The seven days in between are 167 hours.
    clock.at = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    say(rt, "draft Spring --to outbox")
    assert say(rt, "config digest sun 09:00").endswith(
        "next: Sun 28 Mar, 09:00 Europe/Berlin (07:00 UTC)."
    )
    seed = Seeder(rt.db)
    ws = rt.herald.workspace_of(MARIA)
    seed.post(ws, datetime(2027, 3, 21, 7, 30, tzinfo=UTC), ("x", counts(100, 1)))  # 08:30 CET
    seed.post(ws, datetime(2027, 3, 21, 8, 30, tzinfo=UTC), ("x", counts(100, 2)))  # 09:30 CET
    seed.post(ws, datetime(2027, 3, 28, 6, 30, tzinfo=UTC), ("x", counts(100, 4)))  # 08:30 CEST
    seed.post(ws, datetime(2027, 3, 28, 7, 30, tzinfo=UTC), ("x", counts(100, 8)))  # 09:30 CEST

    clock.at = datetime(2027, 3, 28, 6, 59, tzinfo=UTC)  # 08:59 CEST
    assert digest.send_due(rt.herald.ctx) == 0
    clock.at = datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # 09:00 CEST, not 10:00
    assert digest.send_due(rt.herald.ctx) == 1
    [(_, text)] = digests(rt)
    lines = text.splitlines()
    assert lines[0].endswith("the 7 days to Sun 28 Mar, 09:00 Europe/Berlin (07:00 UTC)")
    # 09:30 CET on the 21st and 08:30 CEST on the 28th; not 08:30 CET on the 21st (an hour
    # before the week began, though within 168 hours) nor 09:30 CEST on the 28th.
    assert lines[1] == "2 posts on X · 200 impressions · 6 interactions · 3.0 % engagement"
    assert lines[2].startswith("Against the week before: posts 2 (was 1)")
    with rt.db.session() as s:
        (sent,) = s.scalars(select(DigestSent)).all()
        assert sent.period_start == datetime(2027, 3, 21, 23, 0, tzinfo=UTC)  # Mon 22, CET

    # The next week starts on Monday 29 Mar in summer time: nothing until next Sunday.
    clock.at = datetime(2027, 3, 29, 9, 0, tzinfo=UTC)
    assert digest.send_due(rt.herald.ctx) == 0
    assert len(digests(rt)) == 1


def test_a_late_digest_or_a_quiet_fortnight_says_nothing(rt: Runtime, clock: Clock) -> None:
    say(rt, "draft Launch day --to outbox")
    say(rt, "config digest monday 9am")
    seed_week(rt)
    clock.at = MONDAY_9AM + timedelta(hours=25)  # the schedulers were down for a day
    assert digest.send_due(rt.herald.ctx) == 0
    clock.at = MONDAY_9AM + timedelta(days=21)  # nothing published for two weeks
    assert digest.send_due(rt.herald.ctx) == 0
    assert digests(rt) == []


def test_a_quiet_week_after_a_busy_one_gets_one_line(rt: Runtime, clock: Clock) -> None:
    say(rt, "draft Launch day --to outbox")
    say(rt, "config digest monday 9am")
    seed_week(rt)  # #6 went out on Monday 30 Nov 09:10: in the week to 7 Dec
    clock.at = MONDAY_9AM + timedelta(days=14)
    assert digest.send_due(rt.herald.ctx) == 1
    [(_, text)] = digests(rt)
    assert text.splitlines()[1] == (
        "Nothing was published (1 post the week before). "
        "Plan the next one at your best hour: draft <brief> --at best"
    )


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("someday 9am", 'I don\'t know the day "someday". Say monday … sunday (or mon, tue …)'),
        ("9am", "Which day?"),
        ("monday", "At what hour?"),
        ("monday 25:00", '"25:00" isn\'t an hour: the hour goes from 0 to 23.'),
        ("monday 13pm", '"13pm" isn\'t an hour: with am/pm the hour goes from 1 to 12.'),
        ("monday 9", 'Is "9" am or pm? Say 9am, 9pm or 21:00.'),
        ("monday 9:30am", 'The digest goes out on the hour: say 09:00, not "9:30am".'),
        ("monday tuesday 9am", "The digest goes out once a week: name one day."),
        ("monday soon", 'I can\'t read "soon" as an hour. Say 9am, 5pm or 17:00.'),
    ],
)
def test_a_bad_day_or_hour_is_refused_and_changes_nothing(
    rt: Runtime, typed: str, problem: str
) -> None:
    say(rt, "config digest tue 17:00")
    reply = rt.herald.handle(MARIA, f"config digest {typed}")
    assert reply.error
    assert reply.text is not None and reply.text.startswith(problem), reply.text
    assert "Usage: config [approvals-channel #channel] · config digest" in reply.text
    with rt.db.session() as s:
        (row,) = s.scalars(select(DigestSetting)).all()
        assert (row.enabled, row.weekday, row.hour) == (True, 1, 17)


def test_everyone_reads_the_setting_and_only_admins_change_it(rt: Runtime) -> None:
    say(rt, "queue")  # maria: the owner
    lee_sees = say(rt, "config", who=LEE)  # lee joins as an editor
    assert lee_sees == (
        "Approval cards go to where each draft was asked.\n"
        "📊 The weekly digest goes out every Monday at 09:00 (Europe/Berlin) to where the first "
        "draft is asked; next: Mon 30 Nov, 09:00 Europe/Berlin (08:00 UTC)."
    )
    refused = rt.herald.handle(LEE, "config digest friday 5pm")
    assert refused.error
    assert refused.text == (
        "You are an editor here, and only owners and admins can configure. "
        "Ask an admin: role @lee admin"
    )
    with rt.db.session() as s:
        assert s.scalars(select(DigestSetting)).all() == []

    # In the workspace's zone; someone elsewhere sees their own time of the next one.
    say(rt, "tz America/New_York")
    assert say(rt, "config digest fri 5pm") == (
        "📊 The weekly digest now goes out every Friday at 17:00 (Europe/Berlin, the "
        "workspace's time zone) to where the first draft is asked; next: Fri 4 Dec, 11:00 "
        "America/New_York (16:00 UTC)."
    )
