"""Plain language that starts like a command ("approve post 1", "make #1 shorter"): the grammar
refuses it, the interpreter (rules offline, the model when configured) guesses, and a guess
that changes something waits for the same person's yes. On both databases, through
`Herald.handle`, the path Slack, Telegram and the terminal share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.runtime import Runtime, build_runtime
from core.approvals.commands import Approve, Reject
from core.generation.interpret import RuleInterpreter
from core.guesses import PostAbout
from core.posts.commands import Cancel, Draft, Queue, Regenerate, Show
from core.registry import Command
from core.scheduling.commands import Schedule
from core.settings import Settings
from storage.models import Post
from tests.fakes.openai import FakeOpenAI, connect_stand_ins, isolated, llm_settings
from tests.support.helpers import actor, post_state, snapshot, target_states
from tests.support.terminal import Transcript

MARIA = actor("maria")
LEE = actor("lee")

SIX = [
    "schedule 1 for tomorrow at 10am",
    "approve post 1",
    "show me the queue",
    "move 1 to friday 9am",
    "make #1 shorter",
    "cancel the post about the webinar",
]


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("schedule 1 for tomorrow at 10am", Schedule(1, "tomorrow at 10am")),
        ("approve post 1", Approve(1)),
        ("show me the queue", Queue()),
        ("move 1 to friday 9am", Schedule(1, "friday 9am")),
        ("make #1 shorter", Regenerate(1, "shorter")),
        ("cancel the post about the webinar", PostAbout("cancel", "the webinar")),
        ("please approve #12", Approve(12)),
        ("reject post 2 because it is too salesy", Reject(2, "it is too salesy")),
        ("rewrite post 3 to be more formal", Regenerate(3, "more formal")),
        ("show me post 4", Show(4)),
        (
            "move the post about the launch to monday 9am",
            PostAbout("schedule", "the launch", "monday 9am"),
        ),
        ("cancel post #5", Cancel(5)),
    ],
)
def test_the_rules_read_requests_about_a_post(text: str, command: Command) -> None:
    assert RuleInterpreter().interpret(text, actor=MARIA) == command


@pytest.mark.parametrize(
    ("text", "command"),
    [
        (
            "write a post about our new pricing for the outbox tomorrow morning",
            Draft("Our new pricing", ("outbox",), "tomorrow morning"),
        ),
        ('post "our spring sale" on linkedin', Draft("Our spring sale", ("linkedin",))),
        ("share “the beta is open” on mastodon", Draft("The beta is open", ("mastodon",))),
        (
            "write a post about our pricing for small teams on the outbox",
            Draft("Our pricing for small teams", ("outbox",)),
        ),
    ],
)
def test_briefs_keep_the_whole_subject_without_quotes(text: str, command: Command) -> None:
    assert RuleInterpreter().interpret(text, actor=MARIA) == command


@pytest.fixture
def two(idle_runtime: Runtime) -> Runtime:
    """#1 pending (our new pricing), #2 pending (the webinar); lee is an approver."""
    return _two(idle_runtime)


def _two(rt: Runtime) -> Runtime:
    rt.herald.handle(MARIA, "draft Our new pricing --to outbox")
    rt.herald.handle(MARIA, "draft Join our webinar on Thursday --to outbox")
    with rt.db.session() as s:
        ids = s.scalars(select(Post.id).order_by(Post.id)).all()
    for post_id in ids:
        rt.herald.generate(post_id)
    rt.herald.handle(LEE, "queue")  # lee joins
    assert "is now" in (rt.herald.handle(MARIA, "role lee approver").text or "")
    return rt


def _planned_at(rt: Runtime, number: int) -> Any:
    with rt.db.session() as s:
        return s.scalars(select(Post.planned_at).where(Post.number == number)).one()


def test_each_guess_that_changes_something_waits_for_a_yes(two: Runtime) -> None:
    rt = two
    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("approve post 1", "approve 1", lambda: post_state(rt, 1) == "approved"),
        ("move 2 to friday 9am", "schedule 2 friday 9am", lambda: _planned_at(rt, 2)),
        ("make #2 shorter", "regenerate 2 shorter", lambda: post_state(rt, 2) == "generating"),
        (
            "cancel the post about the webinar",
            'cancel 2 (#2: "Join our webinar on Thursday")',
            lambda: post_state(rt, 2) == "cancelled",
        ),
    ]
    for said, meant, done in cases:
        before = snapshot(rt)
        asked = rt.herald.handle(LEE, said)
        assert not asked.error, asked.text
        assert asked.text == (
            f"Did you mean: {meant}\nReply yes to do it, or no. (Typed like that, it runs at once.)"
        )
        assert snapshot(rt) == before  # nothing happened yet
        assert not done()
        answer = rt.herald.handle(LEE, "yes")
        assert not answer.error, answer.text
        assert done(), (said, answer.text)
        if said.startswith("make"):  # the new text arrives; then the next guess can cancel it
            with rt.db.session() as s:
                post_id = s.scalars(select(Post.id).where(Post.number == 2)).one()
            rt.herald.generate(post_id)


def test_the_queue_is_just_shown_and_schedule_with_for_is_understood(two: Runtime) -> None:
    reply = two.herald.handle(MARIA, "show me the queue")
    assert not reply.error
    assert "#1" in (reply.text or "") and "#2" in (reply.text or "")
    # A command word, its number and an English connector: the grammar reads it, no guess.
    reply = two.herald.handle(LEE, "approve 1")
    assert reply.text and reply.text.startswith("✅"), reply.text
    reply = two.herald.handle(LEE, "schedule 1 for tomorrow at 10am")
    assert not reply.error, reply.text
    assert "10:00" in (reply.text or "")
    assert _planned_at(two, 1) is not None


def test_only_the_person_who_asked_can_say_yes(two: Runtime) -> None:
    rt = two
    assert (rt.herald.handle(LEE, "approve post 1").text or "").startswith("Did you mean")
    other = rt.herald.handle(MARIA, "yes")
    assert other.error
    assert other.text == (
        "Nothing is waiting for a yes from you here (a guess waits 10 minutes). "
        "Say what you want again, or type help."
    )
    elsewhere = actor("lee", workspace="local")
    elsewhere = type(elsewhere)(**{**elsewhere.__dict__, "conversation": "another"})
    assert rt.herald.handle(elsewhere, "yes").error
    assert post_state(rt, 1) == "pending_approval"
    assert rt.herald.handle(LEE, "no").text == "OK, I won't approve 1. Nothing changed."
    assert rt.herald.handle(LEE, "yes").error
    assert post_state(rt, 1) == "pending_approval"


def test_a_guess_is_refused_at_once_when_the_person_may_not(two: Runtime) -> None:
    rt = two
    rt.herald.handle(actor("vic"), "queue")
    rt.herald.handle(MARIA, "role vic viewer")
    before = snapshot(rt)
    reply = rt.herald.handle(actor("vic"), "approve post 1")
    assert reply.error
    assert "You are a viewer here" in (reply.text or "")
    assert snapshot(rt) == before


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("schedule", "I need a post number like 12 or #12, got nothing. Usage: schedule <n>"),
        ("approve post 1 and 2", 'I need a post number like 12 or #12, got "post". Usage:'),
        ("cancel the post about the moon landing", 'No post here is about "moon landing".'),
        ("cancel the post about our", "Which post? Give its number"),
        ("make #1", 'I don\'t know the command "make".'),
        ("show me something", 'I need a post number like 12 or #12, got "me".'),
        ("yes", "Nothing is waiting for a yes from you here"),
    ],
)
def test_what_no_one_can_read_keeps_the_clear_refusal(two: Runtime, line: str, says: str) -> None:
    before = snapshot(two)
    reply = two.herald.handle(MARIA, line)
    assert reply.error, reply.text
    assert says in (reply.text or "")
    assert snapshot(two) == before


def test_two_posts_about_the_same_thing_are_not_guessed_between(two: Runtime) -> None:
    two.herald.handle(MARIA, "draft Webinar recording is up --to outbox")
    reply = two.herald.handle(MARIA, "cancel the post about the webinar")
    assert reply.error
    assert reply.text == (
        'More than one post is about "webinar": #2, #3. Say which by its number, e.g. 2.'
    )


# --- with the model ----------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def modelled(settings: Settings, fake: FakeOpenAI) -> Iterator[Runtime]:
    rt = build_runtime(llm_settings(settings, fake))
    connect_stand_ins(rt)
    yield _two(rt)
    rt.close()


def test_the_model_reads_the_six_and_the_guesses_wait_for_a_yes(
    modelled: Runtime, fake: FakeOpenAI
) -> None:
    rt = modelled
    fake.then_tool_call(
        "act_on_post", {"action": "approve", "number": 1, "about": None, "detail": None}
    )
    fake.then_tool_call("show_queue", {})
    fake.then_tool_call(
        "act_on_post", {"action": "schedule", "number": 1, "about": None, "detail": "friday 9am"}
    )
    fake.then_tool_call(
        "act_on_post", {"action": "regenerate", "number": 2, "about": None, "detail": "shorter"}
    )
    fake.then_tool_call(
        "act_on_post",
        {"action": "cancel", "number": None, "about": "the webinar", "detail": None},
    )
    calls = len(fake.calls())
    expected = [
        ("approve post 1", "Did you mean: approve 1\n"),
        ("show me the queue", None),
        ("move 1 to friday 9am", "Did you mean: schedule 1 friday 9am\n"),
        ("make #2 shorter", "Did you mean: regenerate 2 shorter\n"),
        ("cancel the post about the webinar", 'Did you mean: cancel 2 (#2: "Join our webinar'),
    ]
    for said, asked in expected:
        reply = rt.herald.handle(LEE, said)
        assert not reply.error, reply.text
        if asked is None:
            assert "#1" in (reply.text or "")
        else:
            assert (reply.text or "").startswith(asked), reply.text
    assert len(fake.calls()) == calls + 5
    assert post_state(rt, 2) == "pending_approval"
    assert (rt.herald.handle(LEE, "yes").text or "").startswith("Cancelled #2")
    assert post_state(rt, 2) == "cancelled"
    # The grammar reads this one: no model call.
    reply = rt.herald.handle(LEE, "schedule 1 for tomorrow at 10am")
    assert not reply.error and len(fake.calls()) == calls + 5


def test_a_model_that_cannot_read_a_command_line_leaves_the_usage(
    modelled: Runtime, fake: FakeOpenAI
) -> None:
    fake.then_tool_call("not_a_request", {})
    reply = modelled.herald.handle(MARIA, "approve post 1 and 2")
    assert reply.error
    assert (reply.text or "").endswith("Usage: approve <n>")


def test_only_post_commands_are_guessed_at_and_secrets_never_reach_the_model(
    modelled: Runtime, fake: FakeOpenAI
) -> None:
    calls = len(fake.calls())
    for line, says in [
        ("connect myspace acme.bsky.social abcd-efgh-ijkl-mnop", "I don't know the network"),
        ("draft hello --to myspace", "I don't know the network"),
        ("role maria superhero now", "Name a member and a role."),
    ]:
        reply = modelled.herald.handle(MARIA, line)
        assert reply.error and says in (reply.text or ""), reply.text
    assert len(fake.calls()) == calls


def test_the_terminal_chat_asks_then_does_it(runtime: Runtime) -> None:
    rt = runtime
    chat = Transcript(rt)
    chat.push("draft Our new pricing --to outbox")
    chat.wait()
    assert chat.push("approve post 1") == (
        "> approve post 1\nDid you mean: approve 1\n"
        "Reply yes to do it, or no. (Typed like that, it runs at once.)\n"
    )
    assert target_states(rt, 1) == {"outbox": "draft"}
    assert chat.push("yes").startswith("> yes\n✅ #1 approved by @maria")
    assert chat.end() == 0


def test_without_an_interpreter_nothing_is_guessed(settings: Settings) -> None:
    rt = build_runtime(isolated(settings))
    rt.herald.ctx.interpreter = None
    try:
        reply = rt.herald.handle(MARIA, "approve post 1")
        assert reply.text == 'I need a post number like 12 or #12, got "post". Usage: approve <n>'
    finally:
        rt.close()
