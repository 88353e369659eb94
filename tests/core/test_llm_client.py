"""The model generator against the fake server, on the wire: structured output and its
fallback, retries, timeouts, malformed answers and usage. No database: these requests carry no
workspace, so nothing is recorded (the flow tests cover recording)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.generation.budget import Ledger, cost_of, price_of
from core.generation.client import ModelClient, ModelError, Usage
from core.generation.llm import OpenAIGenerator
from core.generation.offline import OfflineGenerator
from core.generation.schema import InvalidOutput, parse_variants
from core.ports import GenerationRequest
from core.settings import Settings
from storage.db import Database
from tests.fakes.openai import (
    TEST_KEY,
    FakeOpenAI,
    Reply,
    completion,
    error_body,
    llm_settings,
    variants_json,
)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _settings(tmp_path: Path, fake: FakeOpenAI, **overrides: Any) -> Settings:
    base = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    result: Settings = llm_settings(base, fake, **overrides)
    return result


def _generator(settings: Settings) -> OpenAIGenerator:
    # The database is never opened: requests without a workspace read and record nothing.
    db = Database(f"sqlite:///{settings.data_dir / 'unused.sqlite3'}")
    return OpenAIGenerator(ModelClient(settings), Ledger(settings, db), db, OfflineGenerator())


def _request(*networks: str, brief: str = "Our API is live") -> GenerationRequest:
    return GenerationRequest(brief=brief, networks=networks, workspace_name="Test", post_number=1)


def test_structured_output_with_a_strict_schema(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_variants({"x": "API live.", "bluesky": "API live, finally."}, x={"hashtags": ["API"]})
    variants = _generator(_settings(tmp_path, fake)).generate(_request("x", "bluesky"))
    assert [(v.network, v.text) for v in variants] == [
        ("x", "API live.\n\n#API"),
        ("bluesky", "API live, finally."),
    ]
    assert all(v.generator == "llm:test-model" for v in variants)
    body = fake.calls()[0].body
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    items = schema["schema"]["properties"]["variants"]["items"]
    assert items["properties"]["network"]["enum"] == ["x", "bluesky"]
    assert items["additionalProperties"] is False
    assert set(items["required"]) == set(items["properties"])
    assert body["model"] == "test-model"
    assert body["max_completion_tokens"] > 0


def test_server_without_json_schema_gets_json_mode_and_it_is_remembered(tmp_path: Path) -> None:
    with FakeOpenAI(json_schema=False) as fake:
        generator = _generator(_settings(tmp_path, fake))
        first = generator.generate(_request("linkedin"))
        second = generator.generate(_request("linkedin"))
        kinds = [c.body.get("response_format", {}).get("type") for c in fake.calls()]
    assert first[0].text == second[0].text == "Fresh from the model for linkedin."
    assert kinds == ["json_schema", "json_object", "json_object"]


def test_a_server_that_wants_max_tokens(tmp_path: Path, fake: FakeOpenAI) -> None:
    def ollama(body: dict[str, Any]) -> Reply:
        if "max_completion_tokens" in body:
            message = "Unrecognized request argument supplied: max_completion_tokens"
            return Reply(400, error_body(message, "invalid_request_error"))
        content = variants_json({"x": "ok."})
        return Reply(200, json.dumps(completion(content=content)).encode())

    fake.then(ollama).then(ollama)
    variants = _generator(_settings(tmp_path, fake)).generate(_request("x"))
    assert variants[0].text == "ok."
    assert "max_tokens" in fake.calls()[1].body


def test_429_with_retry_after_is_retried(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_rate_limited(retry_after="1")
    started = time.monotonic()
    variants = _generator(_settings(tmp_path, fake)).generate(_request("x"))
    assert variants[0].text == "Fresh from the model for x."
    assert time.monotonic() - started >= 0.9  # it waited as the server asked
    calls = fake.calls()
    assert len(calls) == 2
    assert calls[1].headers.get("x-stainless-retry-count") == "1"


def test_retries_are_bounded_and_the_error_is_plain(tmp_path: Path, fake: FakeOpenAI) -> None:
    for _ in range(5):
        fake.then_error(500, "server_error")
    with pytest.raises(ModelError) as caught:
        _generator(_settings(tmp_path, fake, llm_max_retries=2)).generate(_request("x"))
    assert str(caught.value) == "the model service had an error (HTTP 500)"
    assert len(fake.calls()) == 3


def test_a_hang_past_the_timeout(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_hang(30)
    settings = _settings(tmp_path, fake, llm_timeout_seconds=1.0, llm_max_retries=0)
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        _generator(settings).generate(_request("x"))
    assert str(caught.value) == "the model did not answer within 1 s"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("status", "kind", "code", "says"),
    [
        (401, "invalid_request_error", "invalid_api_key", "refused Herald's API key"),
        (404, "invalid_request_error", "model_not_found", 'does not know the model "test-model"'),
        (429, "insufficient_quota", "insufficient_quota", "has run out of quota"),
    ],
)
def test_errors_become_plain_words_without_secrets(
    tmp_path: Path, fake: FakeOpenAI, status: int, kind: str, code: str, says: str
) -> None:
    for _ in range(3):
        fake.then_error(status, kind, code)
    with pytest.raises(ModelError) as caught:
        _generator(_settings(tmp_path, fake, llm_max_retries=0)).generate(_request("x"))
    assert says in str(caught.value)
    assert TEST_KEY not in str(caught.value) and "fake" not in str(caught.value)


def test_a_body_that_is_not_json(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_malformed()
    with pytest.raises(ModelError, match="sent an answer I could not read"):
        _generator(_settings(tmp_path, fake, llm_max_retries=0)).generate(_request("x"))


def test_invalid_json_content_gets_one_more_try(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_json('{"variants": [{"network": "x", "text": "cut off')
    variants = _generator(_settings(tmp_path, fake)).generate(_request("x"))
    assert variants[0].text == "Fresh from the model for x."
    second = fake.calls()[1].messages
    assert second[-2]["role"] == "assistant"
    assert "not valid JSON" in second[-1]["content"]


def test_invalid_json_twice_is_a_plain_failure(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_json("Sure! Here is your post: Our API is live").then_json("{}")
    with pytest.raises(ModelError) as caught:
        _generator(_settings(tmp_path, fake)).generate(_request("x"))
    assert (
        str(caught.value) == 'the model\'s answer had no "variants" list, even after asking again'
    )
    assert len(fake.calls()) == 2


def test_a_refusal(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then(lambda _b: Reply(200, json.dumps(completion(refusal="I can't help")).encode()))
    with pytest.raises(ModelError, match="the model declined to write this post"):
        _generator(_settings(tmp_path, fake)).generate(_request("x"))


def test_a_server_without_usage_is_estimated(tmp_path: Path, fake: FakeOpenAI) -> None:
    content = variants_json({"x": "ok."})
    fake.then(lambda _b: Reply(200, json.dumps(completion(content=content, usage=False)).encode()))
    result = ModelClient(_settings(tmp_path, fake)).complete(
        [{"role": "user", "content": "x" * 400}]
    )
    assert result.usage.estimated
    assert result.usage.prompt_tokens >= 100
    assert result.usage.completion_tokens >= 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            '{"variants": [{"network": "x", "text": "hi", "hashtags": [], "thread": [], '
            '"alt_texts": [], "url": "https://evil.example"}]}',
            "unexpected fields (url)",
        ),
        ('{"variants": []}', "the model wrote nothing for x"),
        ('{"variants": [{"network": "linkedin", "text": "hi"}]}', "a network that was not asked"),
        ('{"variants": [{"network": "x", "text": "\\u200b "}]}', "the model's x text was empty"),
        ('{"variants": [{"network": "x", "text": "hi", "hashtags": "#a"}]}', "not a list"),
        ('{"variants": [{"network": "x", "text": "a"}, {"network": "x", "text": "b"}]}', "twice"),
        ('["x"]', 'no "variants" list'),
    ],
)
def test_schema_is_checked_in_code(content: str, problem: str) -> None:
    with pytest.raises(InvalidOutput, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_variants(content, ("x",))


def test_prices_come_from_settings(tmp_path: Path, fake: FakeOpenAI) -> None:
    settings = _settings(
        tmp_path, fake, llm_model="gpt-4o-mini", llm_prices={"gpt-4o-mini": (0.15, 0.60)}
    )
    usage = Usage(
        model="gpt-4o-mini-2024-07-18", prompt_tokens=1_000_000, completion_tokens=500_000
    )
    assert cost_of(settings, "gpt-4o-mini", usage) == pytest.approx(0.15 + 0.30)
    assert price_of(settings, "gpt-4o-mini-2024-07-18") == (0.15, 0.60)  # a dated model name
    assert price_of(settings, "llama3.1") == (0.0, 0.0)  # a local model costs nothing


def test_a_deadline_bounds_the_call_with_its_retries(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.then_hang(30).then_hang(30).then_hang(30)
    client = ModelClient(_settings(tmp_path, fake, llm_timeout_seconds=10.0, llm_max_retries=2))
    started = time.monotonic()
    with pytest.raises(ModelError, match="did not answer"):
        client.complete([{"role": "user", "content": "hi"}], deadline=time.monotonic() + 1.5)
    assert time.monotonic() - started < 4  # not 3 x 10 s
    with pytest.raises(ModelError, match="did not answer"):
        client.complete([{"role": "user", "content": "hi"}], deadline=time.monotonic() + 0.5)
