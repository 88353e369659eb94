"""What the inbox keeps: no credential in clear, nothing once run; and one bad command in a
burst fails alone."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from bot.inbox import Inbox, _Waiting
from bot.runtime import Runtime
from storage.models import AuditEvent, ConnectedAccount, InboxCommand, Post
from tests.fakes.bluesky import FakeBluesky
from tests.support.helpers import accept_together, actor, dump, eventually, slack_actor
from tests.support.platforms import runtime_with, start_worker

ANA = slack_actor("U1ANA", "ana")


def test_an_app_password_sent_through_the_inbox_is_never_stored_in_clear(
    settings,
    fake_bluesky: FakeBluesky,
) -> None:
    rt = runtime_with(settings, worker=False)
    try:
        rt.herald.accept(
            ANA, f"connect bluesky {fake_bluesky.handle} {fake_bluesky.password} {fake_bluesky.url}"
        )
        waiting = dump(rt)
        assert "connect bluesky" not in waiting  # sealed whole, before any worker saw it
        assert fake_bluesky.password not in waiting
        start_worker(rt)

        def connected() -> int:
            with rt.db.session() as s:
                return int(s.scalar(select(func.count(ConnectedAccount.id))) or 0)

        eventually(lambda: connected() == 1, what="the Bluesky account")
        eventually(lambda: "✅ Connected Bluesky" in dump(rt), what="the answer")

        def audited() -> list[dict[str, object]]:
            # Written with the answer to the chat, a moment after the account's own message.
            with rt.db.session() as s:
                return list(
                    s.scalars(
                        select(AuditEvent.detail).where(AuditEvent.action == "command.credential")
                    )
                )

        audit = eventually(audited, what="the audit of the command")
        assert audit == [
            {"command": f"connect bluesky {fake_bluesky.handle} ••• {fake_bluesky.url}", "ok": True}
        ]
        assert fake_bluesky.password not in dump(rt)
        with rt.db.session() as s:
            assert s.scalar(select(func.count(InboxCommand.id))) == 0  # purged once run
    finally:
        rt.close()


def test_a_pasted_app_password_is_sealed_too(idle_runtime: Runtime) -> None:
    secret = "abcd-efgh-ijkl-mnop"
    idle_runtime.herald.accept(ANA, f"draft my bluesky password is {secret} --to outbox")
    assert secret not in dump(idle_runtime)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_nul_byte_in_a_burst_fails_nobody(runtime: Runtime) -> None:
    texts = [f"draft Burst {i} --to outbox" for i in range(6)]
    texts[3] = "draft Burst 3\x00 with a NUL --to outbox"
    ids = accept_together(runtime, texts)
    assert all(isinstance(i, int) for i in ids), ids

    def briefs() -> list[str]:
        with runtime.db.session() as s:
            return sorted(s.scalars(select(Post.brief)))

    eventually(lambda: len(briefs()) == 6, timeout=60, what="six drafts")
    assert briefs()[3] == "Burst 3 with a NUL"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_nul_byte_in_a_name_fails_nobody(idle_runtime: Runtime) -> None:
    # A display name comes from the platform's profile, which its owner writes.
    people = [actor("maria")] * 6
    people[2] = dataclasses.replace(actor("lee"), user_name="lee\x00\x1b[31m")
    ids = accept_together(idle_runtime, [f"draft Named {i} --to outbox" for i in range(6)], people)
    assert all(isinstance(i, int) for i in ids), ids
    with idle_runtime.db.session() as s:
        names = {row["user_name"] for row in s.scalars(select(InboxCommand.actor))}
    assert names == {"maria", "lee"}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_row_the_database_refuses_fails_alone(idle_runtime: Runtime) -> None:
    inbox = idle_runtime.herald.inbox
    assert isinstance(inbox, Inbox)  # the group-commit inbox, whose steps this test drives
    good = [inbox._row(actor("maria"), f"draft Good {i} --to outbox") for i in range(3)]
    bad = {**good[0], "text": "draft raw \x00 --to outbox"}  # past the cleaning, as a bug might
    batch = [_Waiting(p) for p in (good[0], bad, good[1], good[2])]
    inbox._store(batch)
    assert all(w.done for w in batch)
    assert batch[1].error is not None and batch[1].row_id == 0
    stored = [w.row_id for w in batch if w.error is None]
    assert len(stored) == 3 and all(stored)
    with idle_runtime.db.session() as s:
        texts = sorted(s.scalars(select(InboxCommand.text)))
    assert texts == [f"draft Good {i} --to outbox" for i in range(3)]
