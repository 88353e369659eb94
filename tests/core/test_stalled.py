"""Nothing running to publish (issue 17, item 1): a post whose time passed with no scheduler
alive says so on its card, and a chat that ran the only scheduler says what it leaves behind."""

from __future__ import annotations

import os
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.runtime import Runtime
from core.operations.heartbeats import Kind, beat
from core.scheduling.stalled import left_waiting
from storage.models import Post, Target, Workspace
from tests.support.helpers import actor

MARIA = actor("maria")


def _approved_later(rt: Runtime) -> None:
    rt.herald.handle(MARIA, "draft The webinar is on --to outbox --at in 2h")
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    assert "scheduled for" in (rt.herald.handle(MARIA, "approve 1").text or "")


def test_a_card_past_its_time_with_no_scheduler_says_so(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    _approved_later(rt)
    shown = rt.herald.handle(MARIA, "show 1")
    assert shown.card is not None and "nothing is running" not in (shown.card.note or "")
    now = rt.herald.ctx.clock.now()
    with rt.db.session() as s:
        s.execute(update(Target).values(scheduled_at=now - timedelta(minutes=5)))
    card = rt.herald.handle(MARIA, "show 1").card
    assert card is not None and card.note is not None
    assert "⚠ #1 was due" in card.note and "herald up" in card.note
    beat(rt.db, Kind.SCHEDULER, "beat@elsewhere", os.getpid(), now)  # a scheduler lives
    card = rt.herald.handle(MARIA, "show 1").card
    assert card is not None and "nothing is running" not in (card.note or "")


def test_what_a_chat_leaves_behind_when_it_ran_the_only_scheduler(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    _approved_later(rt)
    ctx = rt.herald.ctx

    def said(tz: str, own: int) -> str | None:
        with ctx.tx() as tx:
            ws = tx.session.scalars(select(Workspace)).one()
            return left_waiting(tx.session, ws.id, ZoneInfo(tz), tx.now, own=own)

    told = said("Europe/Berlin", 0)
    assert told is not None
    assert "#1 at" in told and "UTC)" in told  # the person's zone with the UTC instant
    assert "nothing will publish it once this chat ends" in told
    now = ctx.clock.now()
    beat(rt.db, Kind.SCHEDULER, "embedded@chat", os.getpid(), now)  # the chat's own
    assert said("UTC", 1) is not None
    beat(rt.db, Kind.SCHEDULER, "beat@server", os.getpid(), now)  # and another
    assert said("UTC", 1) is None
