"""The offline template generator: deterministic, labelled, and always within each limit."""

from __future__ import annotations

import pytest
import regex

from core.generation.offline import OfflineGenerator
from core.networks import NETWORKS, UnknownNetworkError, get_network
from core.ports import GenerationRequest, Generator, Variant

ALL = ("outbox", "x", "linkedin", "facebook", "mastodon", "bluesky")
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
BRIEF = "our new analytics dashboard is live"
STORY = (
    "We rebuilt the importer from scratch. Large spreadsheets now load without timeouts. "
    "Errors point to the exact row, so fixing a file takes one pass. "
    "Read the guide at https://example.com/docs/importer"
)
_UNIT = (
    f"Launch 🚀 day for 東京チーム {FAMILY} see https://example.com/a/very/long/path?q=1 "
    "and docs.example.org/x 🇩🇪 1️⃣ café e\u0301 👍🏽 "
)
MIXED_4000 = (_UNIT * 60)[:4000]
NASTY = {
    "mixed": MIXED_4000,
    "cjk": ("故人西辞黄鹤楼，烟花三月下扬州。" * 300)[:4000],
    "families": FAMILY * 570,  # 3,990 characters, one grapheme each 25 bytes
    "links": " ".join(f"https://example.com/{i}" for i in range(180))[:4000],
    "one-word": "a" * 4000,
    "lines": ("line with words\n\n\n" * 250)[:4000],
}


def generate(
    brief: str, networks: tuple[str, ...] = ALL, feedback: str | None = None
) -> list[Variant]:
    request = GenerationRequest(
        brief=brief, networks=networks, workspace_name="acme", post_number=7, feedback=feedback
    )
    return OfflineGenerator().generate(request)


def by_network(variants: list[Variant]) -> dict[str, str]:
    return {variant.network: variant.text for variant in variants}


def test_is_a_generator_labelled_offline() -> None:
    generator: Generator = OfflineGenerator()
    assert generator.label == "offline"


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ("outbox", "our new analytics dashboard is live"),
        ("x", "Our new analytics dashboard is live. #Analytics #Dashboard"),
        (
            "linkedin",
            "A quick update from us:\n\nOur new analytics dashboard is live.\n\nWhat do you think?",
        ),
        (
            "facebook",
            "Hi everyone!\n\nOur new analytics dashboard is live.\n\n"
            "Let us know what you think in the comments.",
        ),
        ("mastodon", "Our new analytics dashboard is live.\n\n#Analytics #Dashboard #Live"),
        ("bluesky", "Our new analytics dashboard is live."),
    ],
)
def test_templates(network: str, expected: str) -> None:
    assert by_network(generate(BRIEF, (network,))) == {network: expected}


@pytest.mark.parametrize(
    ("brief", "network", "expected"),
    [
        ("  our   new\tthing  ", "bluesky", "Our new thing."),
        ("  our   new\tthing  ", "outbox", "our new thing"),
        (
            "iPhone app update\nnow with dark mode",
            "x",
            "iPhone app update. Now with dark mode. #iPhone #Update",
        ),
        ("Is it ready?", "bluesky", "Is it ready?"),
        ("Ship it 🚀", "bluesky", "Ship it 🚀"),
        ("Docs: https://example.com/docs", "bluesky", "Docs: https://example.com/docs"),
        ("日本語のお知らせ", "bluesky", "日本語のお知らせ。"),
        ("Launch of #Herald today", "x", "Launch of #Herald today."),  # has its own hashtag
        ("Join us:", "bluesky", "Join us."),
    ],
)
def test_sentence_shaping(brief: str, network: str, expected: str) -> None:
    assert generate(brief, (network,))[0].text == expected


def test_deterministic() -> None:
    first = generate(STORY, ALL, "shorter")
    assert generate(STORY, ALL, "shorter") == first
    assert OfflineGenerator().generate(GenerationRequest(STORY, ALL, "acme", 7, "shorter")) == first


def test_one_variant_per_network_in_order_labelled_offline() -> None:
    networks = ("bluesky", "x", "linkedin", "outbox")
    variants = generate(BRIEF, networks)
    assert [v.network for v in variants] == ["bluesky", "x", "linkedin", "outbox"]
    assert [v.generator for v in variants] == ["offline"] * 4
    assert [v.warnings for v in variants] == [()] * 4


def test_alias_gives_the_canonical_network() -> None:
    assert [v.network for v in generate(BRIEF, ("Twitter",))] == ["x"]


def test_unknown_network_raises() -> None:
    with pytest.raises(UnknownNetworkError):
        generate(BRIEF, ("myspace",))


@pytest.mark.parametrize("brief", ["", "   \n\t "])
def test_empty_brief_raises(brief: str) -> None:
    with pytest.raises(ValueError, match="brief is empty"):
        generate(brief)


@pytest.mark.parametrize("feedback", [None, "shorter", "formal", "shorter and more formal"])
@pytest.mark.parametrize("kind", sorted(NASTY))
def test_every_variant_fits(kind: str, feedback: str | None) -> None:
    variants = generate(NASTY[kind], ALL, feedback)
    assert [v.network for v in variants] == list(ALL)
    for variant in variants:
        network = get_network(variant.network)
        assert network.fits(variant.text), (variant.network, network.length(variant.text))
        assert variant.text.strip()


@pytest.mark.parametrize("network", ["x", "linkedin", "mastodon", "bluesky"])
def test_long_mixed_brief_is_cut_with_an_ellipsis_and_a_warning(network: str) -> None:
    (variant,) = generate(MIXED_4000, (network,))
    display = NETWORKS[network].display
    assert variant.warnings == (
        f"Shortened to fit {display}'s limit of {NETWORKS[network].limit_text}.",
    )
    assert "…" in variant.text
    # Cut between grapheme clusters: no half family, no orphaned combining mark.
    clusters = regex.findall(r"\X", variant.text)
    assert "".join(clusters) == variant.text
    assert all(FAMILY in c or "\u200d" not in c for c in clusters)


def test_x_cut_uses_the_limit() -> None:
    (variant,) = generate("word " * 100, ("x",))
    assert variant.text == "Word" + " word" * 54 + "…"
    assert get_network("x").length(variant.text) == 276


def test_cut_keeps_the_link() -> None:
    (variant,) = generate("word " * 100 + "https://example.com/launch", ("x",))
    assert variant.text.endswith("word… https://example.com/launch")
    assert get_network("x").length(variant.text) == 280


def test_cjk_cut_prefers_a_full_width_mark() -> None:
    (variant,) = generate(NASTY["cjk"], ("x",))
    assert variant.text.endswith("故人西辞黄鹤楼…")
    assert get_network("x").length(variant.text) == 272


def test_families_cut_whole() -> None:
    (variant,) = generate(FAMILY * 200, ("x",))
    assert variant.text == FAMILY * 139 + "…"
    assert get_network("x").length(variant.text) == 280


def test_bluesky_byte_cap() -> None:
    (variant,) = generate(FAMILY * 200, ("bluesky",))
    assert variant.text == FAMILY * 119 + "…"
    assert len(variant.text.encode()) == 2978


@pytest.mark.parametrize("network", ALL)
def test_shorter_is_shorter(network: str) -> None:
    usual = generate(STORY, (network,))[0].text
    shorter = generate(STORY, (network,), "shorter please")[0].text
    measure = get_network(network).length
    assert measure(shorter) < measure(usual)


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ("x", "We rebuilt the importer from scratch. https://example.com/docs/importer"),
        ("linkedin", "We rebuilt the importer from scratch. https://example.com/docs/importer"),
        ("outbox", "We rebuilt the importer from scratch. https://example.com/docs/importer"),
    ],
)
def test_shorter_keeps_the_first_sentence_and_the_link(network: str, expected: str) -> None:
    assert generate(STORY, (network,), "shorter")[0].text == expected


@pytest.mark.parametrize("kind", ["mixed", "links", "one-word", "families"])
@pytest.mark.parametrize("network", ["x", "mastodon", "bluesky", "linkedin"])
def test_shorter_is_shorter_even_at_the_limit(kind: str, network: str) -> None:
    usual = generate(NASTY[kind], (network,))[0].text
    shorter = generate(NASTY[kind], (network,), "shorter")[0].text
    measure = get_network(network).length
    assert measure(shorter) < measure(usual)


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ("bluesky", "We did it. Thanks, team."),
        ("x", "We did it. Thanks, team. #Team"),
        ("facebook", "Hello everyone,\n\nWe did it. Thanks, team.\n\nWe welcome your comments."),
        (
            "linkedin",
            "A brief update.\n\nWe did it. Thanks, team.\n\nWe would welcome your perspective.",
        ),
        ("outbox", "We did it. Thanks, team."),
    ],
)
def test_formal_drops_emoji_and_exclamation_marks(network: str, expected: str) -> None:
    brief = "We did it!!! 🎉🎉 Thanks, team 👏🏽!"
    assert generate(brief, (network,), "make it more formal")[0].text == expected


@pytest.mark.parametrize("feedback", ["less formal please", "informal", "not formal"])
def test_not_formal(feedback: str) -> None:
    assert generate("We did it!!! 🎉", ("bluesky",), feedback)[0].text == "We did it!!! 🎉"


def test_formal_leaves_links_and_symbols_alone() -> None:
    brief = "Acme® is out! https://example.com/#!/launch"
    assert generate(brief, ("bluesky",), "formal")[0].text == (
        "Acme® is out. https://example.com/#!/launch"
    )


@pytest.mark.parametrize("feedback", [None, "shorter", "formal"])
@pytest.mark.parametrize(
    ("brief", "numbers"),
    [
        (BRIEF, set()),
        (STORY, set()),
        ("Version 2.4 cuts load time by 30% for 12 teams", {"2", "4", "30", "12"}),
    ],
)
def test_never_invents_numbers(brief: str, numbers: set[str], feedback: str | None) -> None:
    for variant in generate(brief, ALL, feedback):
        assert set(regex.findall(r"\d+", variant.text)) <= numbers, variant
