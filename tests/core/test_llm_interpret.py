"""Free text to commands: the rule-based parser, and the model's tool calls with their fallbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.runtime import Runtime, build_runtime
from core.errors import BadInput
from core.generation.interpret import RuleInterpreter
from core.grammar import UnknownCommand
from core.posts.commands import Draft, Queue
from core.registry import Command
from core.scheduling.commands import Schedule
from core.settings import Settings
from tests.fakes.openai import FakeOpenAI, connect_stand_ins, isolated, llm_settings
from tests.support.helpers import actor

MARIA = actor("maria")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        (
            "post about our launch on LinkedIn Monday 9am",
            Draft("Our launch", ("linkedin",), "Monday 9am"),
        ),
        (
            "schedule a LinkedIn post about our launch for next monday 14:30",
            Draft("Our launch", ("linkedin",), "next monday 14:30"),
        ),
        (
            "post about our launch on LinkedIn and X tomorrow morning",
            Draft("Our launch", ("linkedin", "x"), "tomorrow morning"),
        ),
        ("tweet that our API is 10x faster", Draft("Our API is 10x faster", ("x",))),
        (
            "share our 10x faster search on x and bluesky in 2h",
            Draft("Our 10x faster search", ("x", "bluesky"), "in 2h"),
        ),
        (
            "Post on Mastodon: we are hiring two engineers",
            Draft("We are hiring two engineers", ("mastodon",)),
        ),
        (
            "please write a post on twitter announcing the new pricing page",
            Draft("The new pricing page", ("x",)),
        ),
        # Past phrases tell what the post is about, never when it goes out.
        (
            "post on LinkedIn about what we shipped yesterday",
            Draft("What we shipped yesterday", ("linkedin",)),
        ),
        (
            "post about the talk we gave last monday on X tomorrow 9am",
            Draft("The talk we gave last monday", ("x",), "tomorrow 9am"),
        ),
        ("what's scheduled?", Queue()),
        ("move #3 to friday 10am", Schedule(3, "friday 10am")),
    ],
)
def test_rules_understand_requests(text: str, command: Command) -> None:
    assert RuleInterpreter().interpret(text, actor=MARIA) == command


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("post about our launch", 'Which network should "Our launch" go to'),
        ("schedule a linkedin post for monday 9am", "What should the LinkedIn post be about?"),
        ("write something on x", "What should the X post be about?"),
    ],
)
def test_rules_ask_one_question_when_something_is_missing(text: str, question: str) -> None:
    with pytest.raises(BadInput) as caught:
        RuleInterpreter().interpret(text, actor=MARIA)
    assert not isinstance(caught.value, UnknownCommand)
    assert str(caught.value).startswith(question)
    assert str(caught.value).count("?") == 1


@pytest.mark.parametrize("text", ["frobnicate 1", "publish 1", "hello there", "10x"])
def test_rules_leave_non_requests_unknown(text: str) -> None:
    with pytest.raises(UnknownCommand) as caught:
        RuleInterpreter().interpret(text, actor=MARIA)
    assert str(caught.value) == (
        f'I don\'t know the command "{text.split()[0]}". Type help to see what I can do.'
    )


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def idle(settings: Settings, fake: FakeOpenAI) -> Iterator[Runtime]:
    rt = build_runtime(llm_settings(settings, fake))
    connect_stand_ins(rt)
    yield rt
    rt.close()


def test_the_model_asks_a_clarifying_question(idle: Runtime, fake: FakeOpenAI) -> None:
    fake.then_tool_call("ask_clarifying_question", {"question": "Which network should it go to"})
    reply = idle.herald.handle(MARIA, "make something nice about our launch")
    assert reply.error
    assert reply.text == "Which network should it go to?"


def test_the_model_schedules_and_lists(idle: Runtime, fake: FakeOpenAI) -> None:
    fake.then_tool_call("schedule_post", {"number": 7, "when": "friday 10am"})
    fake.then_tool_call("show_queue", {})
    understand = idle.herald.understand
    assert understand(MARIA, "could you push seven to friday 10am") == Schedule(7, "friday 10am")
    assert understand(MARIA, "what have we got lined up") == Queue()


def test_not_a_request_and_short_text_keep_the_usual_answer(
    idle: Runtime, fake: FakeOpenAI
) -> None:
    fake.then_tool_call("not_a_request", {})
    reply = idle.herald.handle(MARIA, "the weather is nice today")
    assert reply.text == 'I don\'t know the command "the". Type help to see what I can do.'
    reply = idle.herald.handle(MARIA, "frobnicate 1")  # too short to ask the model
    assert reply.text == 'I don\'t know the command "frobnicate". Type help to see what I can do.'
    assert len(fake.calls()) == 1


def test_the_rules_take_over_when_the_model_fails(idle: Runtime, fake: FakeOpenAI) -> None:
    fake.then_error(500, "server_error").then_error(500, "server_error")
    command = idle.herald.understand(MARIA, "post about our launch on LinkedIn Monday 9am")
    assert command == Draft("Our launch", ("linkedin",), "Monday 9am")
    fake.then_text("Sure, I'll post that for you!")  # no tool call at all
    command = idle.herald.understand(MARIA, "tweet that our API is 10x faster")
    assert command == Draft("Our API is 10x faster", ("x",))
    fake.then_tool_call("draft_post", {"brief": "x", "networks": "linkedin"})  # bad arguments
    command = idle.herald.understand(MARIA, "post about the beta on bluesky")
    assert command == Draft("The beta", ("bluesky",))


def test_without_a_model_the_rules_serve(settings: Settings) -> None:
    rt = build_runtime(isolated(settings))
    try:
        assert rt.herald.understand(MARIA, "what's scheduled?") == Queue()
        reply = rt.herald.handle(MARIA, "post about our launch on outbox tomorrow 9am")
        assert reply.text and reply.text.startswith("Drafting #1 for Outbox for "), reply.text
    finally:
        rt.close()
