"""Drafting with a model end to end: chat → worker → the fake OpenAI server → the approval card.

Each test runs on SQLite with the in-process worker and on PostgreSQL + Redis, with the real
`openai` client talking to a local fake server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.runtime import Runtime, build_runtime
from core.networks import get_network
from core.posts.card import Card
from core.settings import Settings
from storage.models import Post, Target
from storage.models_llm import LlmUsage
from tests.fakes.openai import TEST_KEY, FakeOpenAI, connect_stand_ins, llm_settings
from tests.support.helpers import actor, eventually, messages, post_state
from workers.app import EmbeddedWorker

MARIA = actor("maria")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _start(settings: Settings) -> Runtime:
    rt = build_runtime(settings)
    connect_stand_ins(rt)
    worker = EmbeddedWorker(rt.celery, settings)
    worker.start()
    rt.embedded = worker
    return rt


@pytest.fixture
def llm(settings: Settings, fake: FakeOpenAI) -> Iterator[Runtime]:
    rt = _start(llm_settings(settings, fake))
    yield rt
    rt.close()


def _card(rt: Runtime, number: int) -> Card:
    cards = [m.card for m in messages(rt) if m.card is not None and m.card.number == number]
    assert cards, "no card"
    return cards[-1]


def _draft(rt: Runtime, line: str, who=MARIA) -> int:
    reply = rt.herald.handle(who, line)
    assert not reply.error, reply.text
    assert reply.post_number is not None
    number = reply.post_number
    eventually(lambda: post_state(rt, number) == "pending_approval", what=f"card #{number}")
    return number


def _user_document(fake: FakeOpenAI, index: int = -1) -> dict[str, object]:
    request = fake.calls()[index]
    users = [m for m in request.messages if m["role"] == "user"]
    return dict(json.loads(users[0]["content"]))


def test_card_comes_from_the_model_fits_and_carries_voice_warnings(
    llm: Runtime, fake: FakeOpenAI
) -> None:
    for line in ("voice banned guarantee", "voice disclosure #ad", "voice utm utm_source=herald"):
        assert not llm.herald.handle(MARIA, line).error
    fake.then_variants(
        {
            "x": "We guarantee 10x faster search: https://example.com/api",
            "linkedin": "Our public API is live. Search is now ten times faster.",
        },
        linkedin={"hashtags": ["#API"]},
    )
    number = _draft(llm, "draft Our public API is live: 10x faster search --to x,linkedin")

    card = _card(llm, number)
    x, linkedin = card.variants
    assert x.text.startswith("We guarantee 10x faster search: https://example.com/api?utm_source=")
    assert "#ad" in x.text and "#ad" in linkedin.text  # the disclosure is added in code
    assert "#API" in linkedin.text
    assert '⚠ banned word "guarantee"' in x.warnings
    assert not any("banned" in w for w in linkedin.warnings)
    for variant in card.variants:
        assert variant.length <= variant.limit
        assert get_network(variant.network).fits(variant.text)
    assert card.note is None  # no "offline template" note

    request = fake.calls()[0]
    assert "Our public API is live" in request.role_text("user")
    assert "Our public API is live" not in request.role_text("system")
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert TEST_KEY not in json.dumps(request.body)
    assert request.body["response_format"]["type"] == "json_schema"

    with llm.db.session() as s:
        usage = s.scalars(select(LlmUsage)).all()
        post = s.scalars(select(Post).where(Post.number == number)).one()
        assert post.generator == "llm"
    assert [(u.purpose, u.prompt_tokens, u.completion_tokens) for u in usage] == [
        ("draft", 100, 50)
    ]
    assert usage[0].cost_usd == pytest.approx(1.0)
    assert usage[0].member_id == post.author_id
    assert llm.herald.handle(MARIA, f"approve {number}").text.startswith("✅")  # type: ignore[union-attr]


def test_a_failed_call_tells_the_user_and_regenerate_retries(
    llm: Runtime, fake: FakeOpenAI
) -> None:
    fake.then_error(500, "server_error").then_error(500, "server_error")  # first try + 1 retry
    reply = llm.herald.handle(MARIA, "draft Launch day --to x")
    number = reply.post_number
    assert number is not None
    eventually(lambda: post_state(llm, number) == "draft", what="the failure")
    told = [m.text for m in messages(llm) if m.error and m.text]
    assert told == [
        f"⚠ I couldn't draft #{number}: the model service had an error (HTTP 500). "
        f"Try again: regenerate {number}"
    ]
    assert len(fake.calls()) == 2

    fake.then_variants({"x": "Launch day is here."})
    assert not llm.herald.handle(MARIA, f"regenerate {number} shorter").error
    eventually(lambda: post_state(llm, number) == "pending_approval", what="the card")
    assert _card(llm, number).variants[0].text == "Launch day is here."
    assert _user_document(fake)["feedback"] == "shorter"


def test_regenerate_with_feedback_sends_the_current_drafts(llm: Runtime, fake: FakeOpenAI) -> None:
    fake.then_variants({"linkedin": "Hey folks! Our API is live 🎉"})
    number = _draft(llm, "draft Our API is live --to linkedin")
    fake.then_variants({"linkedin": "We are pleased to announce that our API is available."})
    assert not llm.herald.handle(MARIA, f"regenerate {number} more formal").error
    eventually(
        lambda: "pleased" in _card(llm, number).variants[0].text, what="the regenerated card"
    )
    document = _user_document(fake)
    assert document["feedback"] == "more formal"
    assert document["current_drafts"] == {"linkedin": "Hey folks! Our API is live 🎉"}


def test_too_long_gets_one_repair_round_then_a_thread(llm: Runtime, fake: FakeOpenAI) -> None:
    long_x = " ".join(f"Sentence number {i} about the launch." for i in range(1, 16))  # ~500
    long_linkedin = "word " * 700  # 3,500 characters
    fake.then_variants({"x": long_x, "linkedin": long_linkedin})
    fake.then_variants({"x": long_x, "linkedin": long_linkedin})  # the repair is no better
    number = _draft(llm, "draft A long story --to x,linkedin")

    calls = fake.calls()
    assert len(calls) == 2
    repair = calls[1].messages[-1]
    assert repair["role"] == "user"
    assert "x: the text is" in repair["content"] and "Shorten it by at least" in repair["content"]
    assert calls[1].messages[-2]["role"] == "assistant"

    with llm.db.session() as s:
        targets = {t.network: t for t in s.scalars(select(Target)).all()}
    x = targets["x"]
    assert x.parts, "X became a thread"
    for text in [x.text, *x.parts]:
        assert get_network("x").fits(text)
    assert x.text.endswith(f"1/{len(x.parts) + 1}")
    assert " ".join(p.rsplit(" ", 1)[0] for p in [x.text, *x.parts]) == long_x
    card = _card(llm, number)
    assert any("Split into a thread" in w for w in card.variants[0].warnings)
    assert any(
        "Shorten it by" in w and "Edit it before it can be published" in w
        for w in card.variants[1].warnings
    )
    with llm.db.session() as s:
        purposes = [u.purpose for u in s.scalars(select(LlmUsage).order_by(LlmUsage.id))]
    assert purposes == ["draft", "repair"]


def test_approved_edits_become_examples_for_the_next_draft(llm: Runtime, fake: FakeOpenAI) -> None:
    fake.then_variants({"x": "Big news!!! Our API is live 🚀🚀"})
    first = _draft(llm, "draft Our API is live --to x")
    assert not llm.herald.handle(MARIA, f"edit {first} x Our API is live.").error
    assert llm.herald.handle(MARIA, f"approve {first}").text.startswith("✅")  # type: ignore[union-attr]
    _draft(llm, "draft Docs are updated --to x")
    assert _user_document(fake)["approved_edits"] == [
        {"network": "x", "draft": "Big news!!! Our API is live 🚀🚀", "final": "Our API is live."}
    ]


def test_the_call_that_crosses_the_budget_is_the_last(settings: Settings, fake: FakeOpenAI) -> None:
    # The settings allow USD 100; this workspace sets its own USD 2.50 (USD 1 a call).
    rt = _start(llm_settings(settings, fake, llm_monthly_budget_usd=100))
    try:
        assert rt.herald.handle(MARIA, "voice budget 2.5").text == (
            "Model budget: USD 2.50 a month for this workspace."
        )
        refused = rt.herald.handle(MARIA, "voice budget lots")
        assert refused.error and "voice budget 50" in (refused.text or "")
        for i in range(1, 5):
            _draft(rt, f"draft Update number {i} --to x")
        assert len(fake.calls()) == 3  # 1.00, 2.00 (80 %), 3.00 (crosses 100 %): then no more
        texts = [m.text for m in messages(rt) if m.text]
        warnings = [t for t in texts if "of its model budget" in t]
        assert len(warnings) == 1 and "80%" in warnings[0]
        ended = [t for t in texts if "has used its model budget for the month" in t]
        assert len(ended) == 1
        assert "drafts come from the offline templates" in ended[0]
        assert _card(rt, 3).variants[0].text == "Fresh from the model for x."
        fourth = _card(rt, 4).variants[0]
        assert "Update number 4" in fourth.text
        assert any("budget is used up" in w for w in fourth.warnings)
        with rt.db.session() as s:
            generators = s.scalars(select(Post.generator).order_by(Post.number)).all()
            spent = sum(u.cost_usd for u in s.scalars(select(LlmUsage)))
        assert generators == ["llm"] * 4  # the post's generator; the variant says offline
        assert spent == pytest.approx(3.0)
        usage = rt.herald.handle(MARIA, "voice usage").text or ""
        assert "USD 3.0000 of USD 2.50" in usage and "@maria: 3 calls" in usage
    finally:
        rt.close()


def test_free_text_becomes_a_draft_through_tool_calling(llm: Runtime, fake: FakeOpenAI) -> None:
    fake.then_tool_call(
        "draft_post", {"brief": "Our launch", "networks": ["linkedin"], "when": "monday 9am"}
    )
    fake.then_variants({"linkedin": "Our launch is on Monday."})
    reply = llm.herald.handle(MARIA, "post about our launch on LinkedIn Monday 9am")
    assert not reply.error, reply.text
    assert reply.text and reply.text.startswith("Drafting #1 for LinkedIn for Mon")
    eventually(lambda: post_state(llm, 1) == "pending_approval", what="the card")
    first = fake.calls()[0]
    assert first.body["tools"][0]["function"]["name"] == "draft_post"
    assert first.messages[-1] == {
        "role": "user",
        "content": "post about our launch on LinkedIn Monday 9am",
    }
    with llm.db.session() as s:
        assert [u.purpose for u in s.scalars(select(LlmUsage).order_by(LlmUsage.id))] == [
            "interpret",
            "draft",
        ]


class _Jobs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[int, ...]]] = []

    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        self.sent.append((task, args))


def test_budget_notices_for_a_team_chat_are_sent_at_once(
    settings: Settings, fake: FakeOpenAI
) -> None:
    from dataclasses import replace

    from core.generation.budget import Ledger
    from core.generation.client import Usage
    from storage.models import SurfaceKind

    rt = build_runtime(llm_settings(settings, fake, llm_monthly_budget_usd=1.5))
    try:
        team = replace(MARIA, surface=SurfaceKind.SLACK, workspace_id="T1", conversation="C1")
        workspace_id = rt.herald.workspace_of(team)
        jobs = _Jobs()
        ledger = Ledger(rt.settings, rt.db, queue=jobs)
        usage = Usage(model="test-model", prompt_tokens=100, completion_tokens=0)
        first = ledger.record(
            usage,
            workspace_id=workspace_id,
            member_id=None,
            post_id=None,
            purpose="draft",
            conversation="C1",
        )
        assert (first.spent, first.exhausted, jobs.sent) == (1.0, False, [])
        second = ledger.record(
            usage,
            workspace_id=workspace_id,
            member_id=None,
            post_id=None,
            purpose="draft",
            conversation="C1",
        )
        assert second.exhausted
        assert [task for task, _ in jobs.sent] == ["herald.deliver_message"]
        assert "used its model budget" in (messages(rt)[-1].text or "")
    finally:
        rt.close()


def test_tokens_and_cost_reach_the_metrics(llm: Runtime, fake: FakeOpenAI) -> None:
    """herald_llm_tokens_total and herald_llm_cost_usd_total move with each model call,
    labelled by the workspace (a bounded label: see core.metrics.WorkspaceLabels)."""
    from prometheus_client import REGISTRY, generate_latest

    from tests.support.scrape import parse

    before = parse(generate_latest(REGISTRY).decode())
    fake.then_variants({"x": "Our public API is live."})
    _draft(llm, "draft Our public API is live --to x")
    after = parse(generate_latest(REGISTRY).decode())
    ws = str(llm.herald.workspace_of(MARIA))

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    assert moved("herald_llm_tokens_total", workspace=ws, kind="prompt") == 100
    assert moved("herald_llm_tokens_total", workspace=ws, kind="completion") == 50
    assert moved("herald_llm_cost_usd_total", workspace=ws) == pytest.approx(1.0)
