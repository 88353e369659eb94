"""The offline template generator: shaped per network (a hook, the point, a call to action),
the brand voice applied, X threads when the text is long; deterministic, labelled, and always
within each limit."""

from __future__ import annotations

import pytest
import regex

from core.generation.offline import OfflineGenerator
from core.networks import NETWORKS, UnknownNetworkError, get_network
from core.ports import GenerationRequest, Generator, Variant
from core.textlint import emoji_count, lint
from core.voice import BrandVoice

ALL = ("outbox", "x", "linkedin", "facebook", "mastodon", "bluesky")
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
BRIEF = "our new analytics dashboard is live"
STORY = (
    "We rebuilt the importer from scratch. Large spreadsheets now load without timeouts. "
    "Errors point to the exact row, so fixing a file takes one pass. "
    "Read the guide at https://example.com/docs/importer"
)
# Seven sentences and a link: too long for one post on X (the first-hour example of issue 14).
LONG = (
    "We rebuilt the importer from scratch. "
    "Large spreadsheets now load without timeouts, even with a million rows and dozens of sheets. "
    "Errors point to the exact row and column, so fixing a file takes one pass instead of five. "
    "Imports run in the background, and you get a message when they are done. "
    "Duplicate rows are found and merged before anything is saved. "
    "Every import can be undone for thirty days. "
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
VOICE = BrandVoice(disclosure="#ad", hashtags=("#Acme", "#Importer"), utm={"utm_source": "herald"})


def generate(
    brief: str,
    networks: tuple[str, ...] = ALL,
    feedback: str | None = None,
    voice: BrandVoice | None = None,
) -> list[Variant]:
    request = GenerationRequest(
        brief=brief, networks=networks, workspace_name="acme", post_number=7, feedback=feedback
    )
    return OfflineGenerator().generate(request, voice)


def one(brief: str, network: str, feedback: str | None = None, voice: BrandVoice | None = None):
    (variant,) = generate(brief, (network,), feedback, voice)
    return variant


def by_network(variants: list[Variant]) -> dict[str, str]:
    return {variant.network: variant.text for variant in variants}


def posts(variant: Variant) -> list[str]:
    return [variant.text, *variant.parts]


def test_is_a_generator_labelled_offline() -> None:
    generator: Generator = OfflineGenerator()
    assert generator.label == "offline"


# --- the shape of each network's post ------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            "outbox",
            "🚀 Launch news\n\nOur new analytics dashboard is live.\n\n#Analytics #Dashboard",
        ),
        ("x", "🚀 Launch news\n\nOur new analytics dashboard is live.\n\n#Analytics #Dashboard"),
        (
            "linkedin",
            "🚀 Launch news\n\nOur new analytics dashboard is live.\n\nWhat do you think?\n\n"
            "#Analytics #Dashboard #Live",
        ),
        (
            "facebook",
            "🚀 Launch news\n\nOur new analytics dashboard is live.\n\n"
            "Let us know what you think in the comments.",
        ),
        (
            "mastodon",
            "🚀 Launch news\n\nOur new analytics dashboard is live.\n\n#Analytics #Dashboard #Live",
        ),
        ("bluesky", "🚀 Launch news\n\nOur new analytics dashboard is live."),
    ],
)
def test_a_one_sentence_brief_gets_a_lead_in_hook(network: str, expected: str) -> None:
    assert by_network(generate(BRIEF, (network,))) == {network: expected}


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            "x",
            "We rebuilt the importer from scratch.\n\n"
            "Large spreadsheets now load without timeouts. Errors point to the exact row, so "
            "fixing a file takes one pass.\n\n"
            "Read the guide at https://example.com/docs/importer\n\n#Spreadsheets #Importer",
        ),
        (
            "linkedin",
            "We rebuilt the importer from scratch.\n\n"
            "Large spreadsheets now load without timeouts. Errors point to the exact row, so "
            "fixing a file takes one pass.\n\n"
            "Read the guide at https://example.com/docs/importer\n\n"
            "What do you think?\n\n#Spreadsheets #Importer #Timeouts",
        ),
        (
            "bluesky",
            "We rebuilt the importer from scratch.\n\n"
            "Large spreadsheets now load without timeouts. Errors point to the exact row, so "
            "fixing a file takes one pass.\n\n"
            "Read the guide at https://example.com/docs/importer",
        ),
    ],
)
def test_hook_point_and_call_to_action(network: str, expected: str) -> None:
    assert one(STORY, network).text == expected


@pytest.mark.parametrize(
    ("brief", "network", "expected"),
    [
        # The words before a colon are the hook.
        (
            "Our public API is live: 10x faster search",
            "bluesky",
            "Our public API is live.\n\n10x faster search.",
        ),
        # A first line is a headline.
        (
            "iPhone app update\nnow with dark mode",
            "x",
            "iPhone app update.\n\nNow with dark mode.\n\n#iPhone #Update",
        ),
        # A link that ends a long sentence moves to the call to action.
        (
            "We shipped the new importer and wrote it all up at https://acme.com/blog.",
            "bluesky",
            "🚀 Launch news\n\nWe shipped the new importer and wrote it all up.\n\n"
            "Read more: https://acme.com/blog",
        ),
        # A short sentence ending with a link is the call to action as written.
        (
            "Docs: https://example.com/docs",
            "bluesky",
            "📣 Quick update\n\nDocs: https://example.com/docs",
        ),
        (
            "Our API is live at https://api.acme.com",
            "bluesky",
            "🚀 Launch news\n\nOur API is live at https://api.acme.com",
        ),
        # A link inside a sentence stays where it is.
        (
            "See https://acme.com/a and tell us",
            "bluesky",
            "📣 Quick update\n\nSee https://acme.com/a and tell us.",
        ),
        # The lead-in names the kind of news, read from the words and not from links.
        (
            "We are hiring two engineers in Lisbon",
            "bluesky",
            "💼 Join the team\n\nWe are hiring two engineers in Lisbon.",
        ),
        ("Our webinar on imports", "bluesky", "📅 Event news\n\nOur webinar on imports."),
        (
            "Thanks to everyone who tested the beta",
            "bluesky",
            "🙏 Shout-out\n\nThanks to everyone who tested the beta.",
        ),
        (
            "word word https://example.com/launch-party",
            "bluesky",
            "📣 Quick update\n\nWord word https://example.com/launch-party",
        ),
        # A question gets no closing question on LinkedIn.
        ("Is it ready?", "linkedin", "🤔 Quick question\n\nIs it ready?\n\n#Ready"),
        # Sentence shaping of the point.
        ("  our   new\tthing  ", "bluesky", "📣 Quick update\n\nOur new thing."),
        ("Ship it 🚀", "bluesky", "🚀 Launch news\n\nShip it 🚀"),
        ("日本語のお知らせ", "bluesky", "📣 Quick update\n\n日本語のお知らせ。"),
        (
            "Launch of #Herald today",
            "x",
            "🚀 Launch news\n\nLaunch of #Herald today.",
        ),  # its own tag
        ("Join us:", "bluesky", "📅 Event news\n\nJoin us."),
    ],
)
def test_shaping(brief: str, network: str, expected: str) -> None:
    assert one(brief, network).text == expected


BRIEFS = [
    BRIEF,
    STORY,
    LONG,
    "Our new API is live",
    "Our new API is live.",
    "Hello",
    "Docs: https://example.com/docs",
    "https://example.com/launch",
    "Is it ready?",
    "We did it!!! 🎉",
    *NASTY.values(),
]


@pytest.mark.parametrize("brief", BRIEFS, ids=range(len(BRIEFS)))
def test_no_variant_is_the_brief_word_for_word(brief: str) -> None:
    for voice in (None, VOICE):
        for variant in generate(brief, ALL, voice=voice):
            for post in posts(variant):
                assert post.strip() != brief.strip(), (variant.network, post)


# --- the brand voice, applied --------------------------------------------------------------------


@pytest.mark.parametrize("network", ALL)
def test_voice_hashtags_and_disclosure_are_added_once(network: str) -> None:
    variant = one(STORY, network, voice=VOICE)
    whole = "\n".join(posts(variant))
    assert variant.text.count("#ad") == 1
    for tag in ("#Acme", "#Importer"):
        assert len(regex.findall(rf"(?i){regex.escape(tag)}\b", whole)) == 1, (tag, whole)
    assert "https://example.com/docs/importer?utm_source=herald" in whole
    assert lint(variant.text, VOICE, variant.parts) == []
    assert variant.hashtags[:3] == ("#ad", "#Acme", "#Importer")


def test_disclosure_comes_first_among_the_tags() -> None:
    assert one(BRIEF, "x", voice=VOICE).text == (
        "🚀 Launch news\n\nOur new analytics dashboard is live.\n\n"
        "#ad #Acme #Importer #Analytics #Dashboard"
    )


def test_a_hashtag_the_brief_has_is_not_added_again() -> None:
    brief = "Our #acme importer is live"
    text = one(brief, "mastodon", voice=VOICE).text
    assert text == "🚀 Launch news\n\nOur #acme importer is live.\n\n#ad #Importer"


@pytest.mark.parametrize("network", ALL)
def test_emoji_none_leaves_no_emoji(network: str) -> None:
    brief = "We did it 🎉🎉 thanks team 👏🏽! Details: https://example.com/recap"
    variant = one(brief, network, voice=BrandVoice(emoji="none"))
    assert [emoji_count(post) for post in posts(variant)] == [0] * len(posts(variant))
    assert "Details: https://example.com/recap" in variant.text
    assert lint(variant.text, BrandVoice(emoji="none"), variant.parts) == []


@pytest.mark.parametrize(
    ("brief", "expected"),
    [
        ("Ship it 🚀🚀🚀 today", "Launch news\n\nShip it 🚀🚀 today."),
        ("Ship it 🚀 today", "🚀 Launch news\n\nShip it 🚀 today."),
        ("Ship it today", "🚀 Launch news\n\nShip it today."),
    ],
)
def test_emoji_few_keeps_at_most_two(brief: str, expected: str) -> None:
    variant = one(brief, "bluesky", voice=BrandVoice(emoji="few"))
    assert variant.text == expected
    assert emoji_count(variant.text) <= 2
    assert lint(variant.text, BrandVoice(emoji="few")) == []


def test_the_template_lays_out_the_post() -> None:
    voice = BrandVoice(
        disclosure="#ad",
        templates={
            "linkedin": "{{ text }}\n\n— {{ workspace }}, post {{ post_number }}\n{{ tags }}"
        },
    )
    variant = one(BRIEF, "linkedin", voice=voice)
    assert variant.text == (
        "🚀 Launch news\n\nOur new analytics dashboard is live.\n\nWhat do you think?\n\n"
        "— acme, post 7\n#ad #Analytics #Dashboard #Live"
    )
    assert variant.warnings == ()


def test_a_template_that_fails_falls_back_to_the_plain_text_and_says_so() -> None:
    voice = BrandVoice(templates={"x": "{{ text.__class__.__mro__ }}"})
    variant = one(BRIEF, "x", voice=voice)
    assert variant.text == (
        "🚀 Launch news\n\nOur new analytics dashboard is live.\n\n#Analytics #Dashboard"
    )
    assert len(variant.warnings) == 1
    assert "template failed" in variant.warnings[0]


@pytest.mark.timeout(30)
def test_a_costly_template_stays_bounded_and_falls_back() -> None:
    voice = BrandVoice(templates={"x": "{% for i in range(99999) %}{{ text }}{% endfor %}"})
    variant = one(LONG, "x", voice=voice)
    assert all(get_network("x").fits(post) for post in posts(variant))
    assert any("template failed" in w for w in variant.warnings)


def test_a_template_longer_than_x_allows_still_gives_a_thread_that_fits() -> None:
    voice = BrandVoice(
        templates={"x": "{{ text }}\n\n{{ tags }}\n\n— {{ workspace }} " + "~" * 200}
    )
    variant = one(STORY, "x", voice=voice)
    assert variant.parts
    assert all(get_network("x").fits(post) for post in posts(variant))
    assert variant.text.endswith("— acme " + "~" * 200)


# --- X threads ------------------------------------------------------------------------------------


def test_a_long_brief_becomes_an_x_thread_whose_every_post_fits() -> None:
    variant = one(LONG, "x", voice=VOICE)
    x = get_network("x")
    assert variant.warnings == ("Split into a thread of 2 posts to fit X.",)
    assert variant.text == (
        "We rebuilt the importer from scratch.\n\n"
        "Large spreadsheets now load without timeouts, even with a million rows and dozens of "
        "sheets. Errors point to the exact row and column, so fixing a file takes one pass "
        "instead of five. 1/2\n\n#ad #Acme #Importer #Spreadsheets #Background"
    )
    assert variant.parts == (
        "Imports run in the background, and you get a message when they are done. Duplicate "
        "rows are found and merged before anything is saved. Every import can be undone for "
        "thirty days.\n\nRead the guide at https://example.com/docs/importer?utm_source=herald 2/2",
    )
    assert [x.length(post) for post in posts(variant)] == [273, 225]
    assert lint(variant.text, VOICE, variant.parts) == []


@pytest.mark.parametrize("kind", sorted(NASTY))
def test_every_post_of_a_thread_fits_and_is_numbered(kind: str) -> None:
    variant = one(NASTY[kind], "x", voice=VOICE)
    x = get_network("x")
    thread = posts(variant)
    assert len(thread) > 1
    assert len(thread) <= 25
    for number, post in enumerate(thread, start=1):
        assert x.fits(post), (number, x.length(post))
        assert f" {number}/{len(thread)}" in post
    # Cut between grapheme clusters: no half family, no orphaned combining mark.
    for post in thread:
        clusters = regex.findall(r"\X", post)
        assert all(FAMILY in c or "\u200d" not in c for c in clusters)
    assert "#ad" in variant.text


def test_a_thread_keeps_every_word_in_order() -> None:
    brief = " ".join(f"w{i}" for i in range(300))
    variant = one(brief, "x")
    words = regex.findall(r"(?i)\bw\d+\b", " ".join(posts(variant)))
    assert [word.lower() for word in words] == [f"w{i}" for i in range(300)]


def test_a_thread_longer_than_25_posts_is_cut_and_says_so() -> None:
    variant = one(NASTY["cjk"], "x")
    assert len(posts(variant)) == 25
    assert variant.parts[-1].endswith("… 25/25")
    assert variant.warnings == (
        "Split into a thread of 25 posts to fit X.",
        "Shortened to fit a thread of 25 posts on X.",
    )


# --- the rest: deterministic, in order, within the limits -----------------------------------------


@pytest.mark.parametrize("feedback", [None, "shorter"])
@pytest.mark.parametrize("brief", [STORY, LONG, MIXED_4000])
def test_deterministic(brief: str, feedback: str | None) -> None:
    first = generate(brief, ALL, feedback, VOICE)
    assert generate(brief, ALL, feedback, VOICE) == first
    again = OfflineGenerator().generate(GenerationRequest(brief, ALL, "acme", 7, feedback), VOICE)
    assert again == first


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
        for post in posts(variant):
            assert network.fits(post), (variant.network, network.length(post))
            assert post.strip()


@pytest.mark.parametrize("network", ["linkedin", "mastodon", "bluesky"])
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


def test_the_cut_uses_the_limit_and_keeps_hook_and_call_to_action() -> None:
    variant = one("word " * 100 + "https://example.com/launch", "bluesky")
    assert variant.text == (
        "📣 Quick update\n\nWord" + " word" * 48 + "…\n\nRead more: https://example.com/launch"
    )
    assert get_network("bluesky").length(variant.text) == 300


def test_cut_keeps_a_link_inside_the_point() -> None:
    variant = one("word " * 100 + "https://example.com/launch and more words", "bluesky")
    assert variant.text.endswith("word… https://example.com/launch")
    assert get_network("bluesky").fits(variant.text)


def test_cjk_cut_prefers_a_full_width_mark() -> None:
    variant = one(NASTY["cjk"], "bluesky")
    assert variant.text.endswith("。故人西辞黄鹤楼…")
    assert get_network("bluesky").length(variant.text) == 298


def test_families_go_into_a_thread_whole() -> None:
    variant = one(FAMILY * 200, "x")
    assert sum(post.count(FAMILY) for post in posts(variant)) == 200
    assert all(get_network("x").fits(post) for post in posts(variant))


def test_bluesky_byte_cap() -> None:
    (variant,) = generate(FAMILY * 200, ("bluesky",))
    assert variant.text == "📣 Quick update\n\n" + FAMILY * 119 + "…"
    assert len(variant.text.encode()) == 2997


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
        ("bluesky", "We did it.\n\nThanks, team."),
        ("x", "We did it.\n\nThanks, team.\n\n#Team"),
        ("facebook", "We did it.\n\nThanks, team.\n\nWe welcome your comments."),
        (
            "linkedin",
            "We did it.\n\nThanks, team.\n\nWe would welcome your perspective.\n\n#Team",
        ),
        ("outbox", "We did it.\n\nThanks, team.\n\n#Team"),
    ],
)
def test_formal_drops_emoji_and_exclamation_marks(network: str, expected: str) -> None:
    brief = "We did it!!! 🎉🎉 Thanks, team 👏🏽!"
    assert generate(brief, (network,), "make it more formal")[0].text == expected


@pytest.mark.parametrize("feedback", ["less formal please", "informal", "not formal"])
def test_not_formal(feedback: str) -> None:
    assert generate("We did it!!! 🎉", ("bluesky",), feedback)[0].text == (
        "📣 Quick update\n\nWe did it!!! 🎉"
    )


def test_formal_lead_ins_have_no_emoji() -> None:
    assert one(BRIEF, "bluesky", "more formal").text == (
        "An announcement\n\nOur new analytics dashboard is live."
    )


def test_formal_leaves_links_and_symbols_alone() -> None:
    brief = "Acme® is out! https://example.com/#!/launch"
    assert generate(brief, ("bluesky",), "formal")[0].text == (
        "An announcement\n\nAcme® is out. https://example.com/#!/launch"
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
