"""Each network's own count decides whether a model draft fits: links, emoji sequences, CJK
and combining marks are where a naive `len()` gets it wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.generation.budget import Ledger
from core.generation.client import ModelClient
from core.generation.compose import as_thread
from core.generation.llm import OpenAIGenerator
from core.generation.offline import OfflineGenerator
from core.networks import get_network
from core.ports import GenerationRequest
from core.settings import Settings
from storage.db import Database
from tests.fakes.openai import FakeOpenAI, llm_settings

FAMILY = "👨\u200d👩\u200d👧\u200d👦"
FLAG = "🇩🇪"
ZALGO = "Z\u0324\u0354\u0367\u0311\u0313"  # one grapheme, six code points
LONG_URL = "https://example.com/" + "a" * 200


@pytest.mark.parametrize(
    ("network", "text", "length"),
    [
        ("x", "Hi http://test.co", 26),
        ("x", "日本語", 6),
        ("x", FAMILY, 2),
        ("x", FLAG + " 👍🏽", 5),
        ("x", "e\u0301", 1),  # NFC makes é
        ("x", LONG_URL, 23),
        ("x", "see example.com/docs", 27),
        ("mastodon", f"{LONG_URL} @ann@mastodon.social", 23 + 5),
        ("bluesky", FAMILY + ZALGO + "日本", 4),
        ("linkedin", FAMILY, 7),
        ("facebook", "日本語", 3),
    ],
)
def test_network_counts(network: str, text: str, length: int) -> None:
    assert get_network(network).length(text) == length


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _generate(tmp_path: Path, fake: FakeOpenAI, *networks: str) -> list[object]:
    settings = llm_settings(Settings(_env_file=None, data_dir=tmp_path), fake)  # type: ignore[call-arg]
    db = Database(f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    generator = OpenAIGenerator(ModelClient(settings), Ledger(settings, db), db, OfflineGenerator())
    request = GenerationRequest(
        brief="Launch", networks=networks, workspace_name="Test", post_number=1
    )
    return list(generator.generate(request))


def test_cjk_under_280_characters_is_still_too_long_for_x(tmp_path: Path, fake: FakeOpenAI) -> None:
    cjk = "新しい検索は十倍速くなりました。" * 10  # 160 characters, 320 weighted
    fake.then_variants({"x": cjk})
    fake.then_variants({"x": cjk[:100]})
    (variant,) = _generate(tmp_path, fake, "x")
    assert len(fake.calls()) == 2  # the weighted count triggered the repair round
    assert "320 weighted characters" in fake.calls()[1].messages[-1]["content"]
    assert variant.text == cjk[:100]  # type: ignore[attr-defined]
    assert variant.parts == ()  # type: ignore[attr-defined]


def test_long_links_are_fine_on_x(tmp_path: Path, fake: FakeOpenAI) -> None:
    text = " ".join([LONG_URL] * 3) + " " + FAMILY * 10  # 660+ characters, 3*23+2+20 weighted
    fake.then_variants({"x": text})
    (variant,) = _generate(tmp_path, fake, "x")
    assert len(fake.calls()) == 1
    assert variant.text == text  # type: ignore[attr-defined]


def test_bluesky_counts_graphemes_and_caps_bytes(tmp_path: Path, fake: FakeOpenAI) -> None:
    fits = "Z\u0324\u0354" * 290  # 290 graphemes, 870 code points, 1,450 bytes
    too_big = FAMILY * 200  # 200 graphemes, but 5,000 bytes
    fake.then_variants({"bluesky": fits, "mastodon": "ok"})
    fake.then_variants({"bluesky": too_big, "mastodon": "ok"})
    fake.then_variants({"bluesky": too_big, "mastodon": "ok"})
    first, _ = _generate(tmp_path, fake, "bluesky", "mastodon")
    assert first.text == fits  # type: ignore[attr-defined]
    assert len(fake.calls()) == 1
    second, _ = _generate(tmp_path, fake, "bluesky", "mastodon")
    assert len(fake.calls()) == 3  # a repair round for the bytes
    assert not get_network("bluesky").fits(second.text)  # type: ignore[attr-defined]  # pipeline warns


def test_a_thread_of_cjk_text_without_spaces_fits() -> None:
    text = "検索" * 400  # no spaces, no sentence ends: 1,600 weighted
    posts = as_thread(text, ())
    assert len(posts) > 5
    for post in posts:
        assert get_network("x").fits(post)
    assert "".join(p.rsplit(" ", 1)[0] for p in posts) == text


def test_a_thread_keeps_links_and_emoji_whole() -> None:
    sentences = [f"Point {i} {FAMILY} is at {LONG_URL} today." for i in range(12)]
    posts = as_thread(" ".join(sentences), ())
    for post in posts:
        assert get_network("x").fits(post)
    assert sum(p.count(LONG_URL) for p in posts) == 12
    assert sum(p.count(FAMILY) for p in posts) == 12
