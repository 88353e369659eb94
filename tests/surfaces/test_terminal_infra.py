"""The terminal chat when what Herald stands on is missing: a job queue that does not answer,
and the connect link that needs `herald web`. On both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from core.settings import Settings
from storage.models import AuditEvent, OutboundMessage, Post, Workspace
from tests.support.platforms import runtime_with
from tests.support.services import free_port
from tests.support.terminal import Transcript


@pytest.fixture
def broker_down(settings: Settings) -> Iterator[Runtime]:
    """Herald on the test's database, its broker a Redis port nothing listens on."""
    port = free_port()
    rt = runtime_with(settings, worker=False, broker_url=f"redis://:hunter2pw@127.0.0.1:{port}/0")
    rt.port = port  # type: ignore[attr-defined]
    yield rt
    rt.close()


def _rows(rt: Runtime) -> tuple[int, int, list[int]]:
    with rt.db.session() as s:
        posts = s.scalar(select(func.count(Post.id))) or 0
        events = s.scalar(select(func.count(AuditEvent.id))) or 0
        seqs = list(s.scalars(select(Workspace.post_seq)))
    return posts, events, seqs


def test_a_draft_with_no_queue_is_refused_and_changes_nothing(
    broker_down: Runtime, runtime: Runtime
) -> None:
    down = Transcript(broker_down)
    port = broker_down.port  # type: ignore[attr-defined]
    before = _rows(broker_down)
    said = down.push("draft Our new API is live --to outbox")
    assert said == (
        "> draft Our new API is live --to outbox\n"
        f"I can't reach Redis at 127.0.0.1:{port} (connection refused), so I did nothing. "
        "Is it running? Check HERALD_BROKER_URL, then try again.\n"
    )
    assert "hunter2pw" not in down.text
    assert _rows(broker_down) == before  # no post, no event, no number used
    # What needs no job still works while the queue is away.
    assert "Nothing is waiting." in down.push("queue")
    assert down.end() == 1  # the refusal is in the exit code

    # With the queue back (the same database, a worker on a broker that answers), the next
    # draft is #1: the refused one took no number.
    up = Transcript(runtime)
    assert up.push("draft Our new API is live --to outbox").endswith("Drafting #1 for Outbox…\n")
    assert up.wait().startswith("#1 · Draft by @maria · for Outbox\n")
    assert up.end() == 0


def test_the_connect_link_is_printed_once_and_says_herald_web_must_run(
    settings: Settings,
) -> None:
    rt = runtime_with(
        settings,
        x_client_id="x-client",
        x_auth_url="http://127.0.0.1:9/i/oauth2/authorize",  # never opened here
    )
    try:
        chat = Transcript(rt)
        chat.push("connect x")
        assert chat.end() == 0
        screen = chat.text
        assert screen.count("http://herald.test/oauth/") == 1, screen
        assert screen.count("🔗 Connect X: open http://herald.test/oauth/") == 1
        assert "The link works only while herald web is running" in screen
        with rt.db.session() as s:  # nothing left to print it again later
            stored = list(s.scalars(select(OutboundMessage.payload)))
        assert not [p for p in stored if "/oauth/" in str(p)]
    finally:
        rt.close()
