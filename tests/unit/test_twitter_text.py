"""X's text rules against twitter-text's own conformance suite (tests/data/twitter-text/).

Every case of the sections that decide what X counts runs here: the weighted length of
validate.yml (configs v1, v2 and v3, with their valid ranges) and the link extraction of
extract.yml and tlds.yml. The data is twitter-text's, Apache-2.0 (see the LICENSE files there).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.twitter_text import (
    CONFIG_V2,
    CONFIG_V3,
    ParsedTweet,
    TextConfig,
    extract_urls,
    parse_tweet,
    weighted_length,
)
from core.twitter_tlds import COUNTRY, GENERIC

DATA = Path(__file__).parents[1] / "data" / "twitter-text"
CONFIG_V1 = TextConfig(
    version=1, max_weighted_tweet_length=140, scale=1, default_weight=1, ranges=()
)


@cache
def _suite(name: str) -> dict[str, Any]:
    text = (DATA / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)  # the C loader: 10x faster
    return loaded


def _cases(name: str, *sections: str) -> list[Any]:
    tests = _suite(name)["tests"]
    return [
        pytest.param(case, id=f"{section}: {case['description']}")
        for section in sections
        for case in tests[section]
    ]


def _as_twitter_text(parsed: ParsedTweet) -> dict[str, object]:
    return {
        "weightedLength": parsed.weighted_length,
        "valid": parsed.valid,
        "permillage": parsed.permillage,
        "displayRangeStart": parsed.display_range_start,
        "displayRangeEnd": parsed.display_range_end,
        "validRangeStart": parsed.valid_range_start,
        "validRangeEnd": parsed.valid_range_end,
    }


@pytest.mark.parametrize("case", _cases("validate.yml", "WeightedTweetsCounterTest"))
def test_weighted_length_config_v2(case: dict[str, Any]) -> None:
    assert _as_twitter_text(parse_tweet(case["text"], CONFIG_V2)) == case["expected"]


@pytest.mark.parametrize(
    "case",
    _cases(
        "validate.yml",
        "WeightedTweetsWithDiscountedEmojiCounterTest",
        "UnicodeDirectionalMarkerCounterTest",
    ),
)
def test_weighted_length_config_v3(case: dict[str, Any]) -> None:
    assert _as_twitter_text(parse_tweet(case["text"], CONFIG_V3)) == case["expected"]


@pytest.mark.parametrize("case", _cases("validate.yml", "tweets"))
def test_valid_tweet_config_v1(case: dict[str, Any]) -> None:
    assert parse_tweet(case["text"], CONFIG_V1).valid is case["expected"]


def _urls(text: str) -> list[str]:
    return [text[start:end] for start, end in extract_urls(text)]


@pytest.mark.parametrize("case", _cases("extract.yml", "urls", "tco_urls_with_params"))
def test_extract_urls(case: dict[str, Any]) -> None:
    assert _urls(case["text"]) == case["expected"]


@pytest.mark.parametrize("section", ["country", "generic"])
def test_every_top_level_domain(section: str) -> None:
    """tlds.yml: one link per known TLD (1,574 cases, checked in one test each to stay fast)."""
    cases = _suite("tlds.yml")["tests"][section]
    assert len(cases) > 300
    wrong = [case["description"] for case in cases if _urls(case["text"]) != case["expected"]]
    assert wrong == []


@pytest.mark.parametrize(
    "case", _cases("extract.yml", "urls_with_indices", "urls_with_directional_markers")
)
def test_extract_urls_with_indices(case: dict[str, Any]) -> None:
    text = case["text"]
    found = [{"url": text[start:end], "indices": [start, end]} for start, end in extract_urls(text)]
    assert found == case["expected"]


def test_every_section_that_decides_the_count_runs() -> None:
    """A renamed or new section in the data must not be skipped silently."""
    validate = set(_suite("validate.yml")["tests"])
    counted = {
        "tweets",
        "WeightedTweetsCounterTest",
        "WeightedTweetsWithDiscountedEmojiCounterTest",
        "UnicodeDirectionalMarkerCounterTest",
    }
    # Not about counting: usernames, lists, hashtags, and isValidUrl's RFC 3986 check.
    assert validate - counted == {"usernames", "lists", "hashtags", "urls", "urls_without_protocol"}
    extract = {s for s in _suite("extract.yml")["tests"] if s.startswith(("urls", "tco"))}
    assert extract == {
        "urls",
        "urls_with_indices",
        "urls_with_directional_markers",
        "tco_urls_with_params",
    }


def test_tld_module_matches_the_data() -> None:
    tlds = _suite("tld_lib.yml")
    assert set(tlds["country"]) == COUNTRY
    assert set(tlds["generic"]) == GENERIC


def test_protocol_only_extraction_skips_bare_domains() -> None:
    text = "example.com and https://a.org/x, file.py"
    assert extract_urls(text, without_protocol=False) == [(16, 31)]
    assert extract_urls(text) == [(0, 11), (16, 31), (33, 40)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u00a9 2026", 6),  # © alone is a text symbol: weight 1
        ("\u00a9\ufe0f", 2),  # with the emoji selector it is an emoji
        ("\u2764\ufe0f", 2),  # ❤️
        ("\u2764", 2),  # ❤ as text: outside the weight-1 ranges
        ("\u231a\ufe0e", 4),  # ⌚ asked to be text: two plain code points
        ("\U0001f442\ufe0f", 4),  # 👂 has no text form, so the selector counts on its own
        ("\u270c\ufe0f\U0001f3fd", 2),  # ✌️🏽
        ("#\ufe0f\u20e3", 2),  # #️⃣
        # Emoji newer than twitter-text's list count 2 as well, as X counts them today
        ("\U0001f426\u200d\U0001f525", 2),  # 🐦‍🔥 (Unicode 15.1)
        ("\U0001faf1\U0001f3fb\u200d\U0001faf2\U0001f3ff", 2),  # 🫱🏻‍🫲🏿 (14.0)
        ("\U0001f3f3\ufe0f\u200d\u26a7\ufe0f", 2),  # 🏳️‍⚧️ (13.0)
    ],
)
def test_emoji_weights(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


def test_newer_emoji_count_one_per_sequence_only_under_v3() -> None:
    phoenix = "\U0001f426\u200d\U0001f525"
    assert weighted_length(phoenix, CONFIG_V2) == 5  # 2 + ZWJ 1 + 2, code point by code point
