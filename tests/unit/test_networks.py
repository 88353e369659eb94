"""Network registry and per-network length rules (twitter-text v3, Mastodon, Bluesky)."""

from __future__ import annotations

import pytest

from core.networks import (
    NETWORKS,
    UnknownNetworkError,
    character_length,
    find_urls,
    get_network,
    grapheme_length,
    length_problem,
    mastodon_length,
    parse_networks,
)
from core.twitter_text import weighted_length

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 7 code points
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽
FLAG_DE = "\U0001f1e9\U0001f1ea"  # 🇩🇪
FLAG_ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
KEYCAP_ONE = "1\ufe0f\u20e3"  # 1️⃣
LONG_URL = "https://example.com/a/very/long/path/that/goes/on/and/on?query=string&page=12#top"
MAX_KNOWN = "outbox, x, linkedin, facebook, mastodon, bluesky"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plain ASCII
        ("", 0),
        ("Hello, world!", 13),
        ("This is a test.", 15),
        ("line one\nline two", 17),
        # URLs count 23 however long, with or without a scheme
        (LONG_URL, 23),
        ("http://test.co", 23),
        ("Hi http://test.co", 26),
        (f"Read {LONG_URL} now", 32),
        ("Test https://test.com test https://test.com test.com test", 86),
        ("example.com", 23),
        ("example.com/path/to/resource?search=foo&lang=en", 23),
        ("www.example.com", 23),
        ("foo.co.jp", 23),
        ("t.co", 23),
        ("see https://example.com/a.", 28),  # the full stop is not part of the link
        ("see file.py", 27),  # X links any name on a known TLD (.py is Paraguay), as twitter-text
        ("see file.txt", 12),  # .txt is no top-level domain
        ("mail me@example.com", 19),  # an e-mail address is not a link
        ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),
        ("\u2066\u202ahttp://foobar.\u067e\u0627\u06a9\u0633\u062a\u0627\u0646/\u202c\u2069", 31),
        # emoji sequences count 2 each, whatever their length in code points
        ("\U0001f600", 2),
        (FAMILY, 2),
        (THUMBS_MEDIUM, 2),
        (FLAG_DE, 2),
        (FLAG_ENGLAND, 2),
        (KEYCAP_ONE, 2),
        ("1\u20e3", 2),
        ("\U0001f637\U0001f47e\U0001f621\U0001f525\U0001f4a9", 10),
        (f"H\U0001f431\u263a{FAMILY}", 7),
        ("\U0001f64b\U0001f3fd\U0001f468\u200d\U0001f3a4", 4),
        ("Unicode 9.0 emoji: \U0001f920; \U0001f483; \U0001f483\U0001f3fe", 29),
        # CJK and other code points outside the weight-1 ranges count 2
        ("日本語", 6),
        ("故人西辞黄鹤楼", 14),
        ("저찀쯿쿿", 8),
        ("\u20ac", 2),  # €
        ("\u2026", 2),  # … (not in the General Punctuation sub-ranges)
        ("\u2014", 1),  # — (8212, in 8208–8223)
        ("\u2009", 1),  # thin space (8201, in 8192–8205)
        # NFC first: e + combining acute is one é
        ("e\u0301", 1),
        ("A\u0301B", 2),
        ("A\u05e9\u05bc\u05c1", 4),  # Hebrew marks do not compose: 3 code points of weight 1
        # Latin-1 and Latin Extended letters count 1
        ("café", 4),
        ("naïve façade", 12),
        ("Łódź", 4),
    ],
)
def test_weighted_length(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "length", "fits"),
    [
        ("a" * 280, 280, True),
        ("a" * 281, 281, False),
        ("日" * 140, 280, True),
        ("日" * 140 + "a", 281, False),
        ("\U0001f600" * 140, 280, True),
        ("\U0001f600" * 140 + "a", 281, False),
        (FAMILY * 140, 280, True),
        ("https://example.com/x " + "a" * 256, 280, True),
        ("https://example.com/x " + "a" * 257, 281, False),
        ("a" * 279 + "e\u0301", 280, True),
        ("Hi \ufeff", 5, False),  # X refuses U+FEFF whatever the length
    ],
)
def test_x_boundaries(text: str, length: int, fits: bool) -> None:
    x = get_network("x")
    assert x.length(text) == length
    assert x.fits(text) is fits


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("see https://x.com/a.", [(4, 19)]),
        ("(https://x.com/a)", [(1, 16)]),
        ("https://en.wikipedia.org/wiki/Primer_(film)", [(0, 43)]),
        ("a.com and b.org/x", [(0, 5), (10, 17)]),
        ("README.md", [(0, 9)]),  # .md is Moldova: X turns it into a link
        ("notes.txt", []),
        ("https://example.com日本", [(0, 19)]),
    ],
)
def test_find_urls(text: str, spans: list[tuple[int, int]]) -> None:
    assert find_urls(text) == spans


def test_find_urls_without_bare_domains() -> None:
    assert find_urls("example.com and https://a.org", bare_domains=False) == [(16, 29)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello", 5),
        (LONG_URL, 23),
        ("Read https://example.com/x now", 32),
        ("example.com", 11),  # no scheme: Mastodon counts it as text
        ("@alice@mastodon.social", 6),
        ("hi @alice", 9),
        ("cc @bob@example.org and @carol", 18),
        ("write to me@example.com", 23),  # an e-mail address is not a mention
        (FAMILY, 1),  # graphemes, as Mastodon counts: what people see as one character
        (f"{FAMILY} {FLAG_DE} {KEYCAP_ONE} {THUMBS_MEDIUM}", 7),
        (f"{LONG_URL}{FAMILY}", 24),
        ("日本語", 3),
        ("e\u0301", 1),
    ],
)
def test_mastodon_length(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("a" * 500, True),
        ("a" * 501, False),
        ("https://example.com/" + "p" * 600 + " " + "a" * 476, True),
        ("@someone@a.very.long.instance.example " + "a" * 491, True),
        ("@someone@a.very.long.instance.example " + "a" * 492, False),
        (FAMILY * 500, True),  # 500 family emoji fit; counting code points said 3,500
        (FAMILY * 501, False),
    ],
)
def test_mastodon_fits(text: str, fits: bool) -> None:
    assert get_network("mastodon").fits(text) is fits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello", 5),
        (FAMILY, 1),
        (FLAG_DE + "\U0001f1eb\U0001f1f7", 2),
        (THUMBS_MEDIUM, 1),
        (KEYCAP_ONE, 1),
        ("e\u0301", 1),
        ("日本語", 3),
        ("", 0),
    ],
)
def test_grapheme_length(text: str, expected: int) -> None:
    assert grapheme_length(text) == expected


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("a" * 300, True),
        ("a" * 301, False),
        (FAMILY * 120, True),  # 120 graphemes, 3000 bytes
        (FAMILY * 121, False),  # 121 graphemes but 3025 bytes: over Bluesky's byte cap
    ],
)
def test_bluesky_fits(text: str, fits: bool) -> None:
    assert get_network("bluesky").fits(text) is fits


@pytest.mark.parametrize(
    ("name", "limit"),
    [("linkedin", 3000), ("facebook", 63206), ("outbox", 5000)],
)
def test_character_networks_boundaries(name: str, limit: int) -> None:
    network = get_network(name)
    assert network.fits("a" * limit) is True
    assert network.fits("a" * (limit + 1)) is False
    assert network.length("e\u0301" + FAMILY) == 8


def test_character_length_is_nfc_code_points() -> None:
    assert character_length("e\u0301") == 1
    assert character_length(FAMILY) == 7


@pytest.mark.parametrize(
    ("name", "display", "limit", "unit", "limit_text"),
    [
        ("outbox", "Outbox", 5000, "characters", "5,000 characters"),
        ("x", "X", 280, "weighted characters", "280 weighted characters"),
        ("linkedin", "LinkedIn", 3000, "characters", "3,000 characters"),
        ("facebook", "Facebook", 63206, "characters", "63,206 characters"),
        ("mastodon", "Mastodon", 500, "characters", "500 characters"),
        ("bluesky", "Bluesky", 300, "graphemes", "300 graphemes"),
    ],
)
def test_registry(name: str, display: str, limit: int, unit: str, limit_text: str) -> None:
    network = NETWORKS[name]
    assert (network.name, network.display, network.limit, network.unit) == (
        name,
        display,
        limit,
        unit,
    )
    assert network.limit_text == limit_text


def test_registry_order() -> None:
    assert tuple(NETWORKS) == ("outbox", "x", "linkedin", "facebook", "mastodon", "bluesky")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("x", "x"),
        ("X", "x"),
        ("twitter", "x"),
        ("Twitter", "x"),
        (" LinkedIn ", "linkedin"),
        ("BLUESKY", "bluesky"),
        ("outbox", "outbox"),
        ("Facebook", "facebook"),
        ("mastodon", "mastodon"),
    ],
)
def test_get_network(given: str, expected: str) -> None:
    assert get_network(given).name == expected


def test_get_network_unknown_is_a_friendly_value_error() -> None:
    with pytest.raises(UnknownNetworkError) as caught:
        get_network("myspace")
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (f'I don\'t know the network "myspace". Use one of: {MAX_KNOWN}.')


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("x, LinkedIn,x", ("x", "linkedin")),
        ("twitter x", ("x",)),
        ("bluesky,mastodon", ("bluesky", "mastodon")),
        ("outbox", ("outbox",)),
        ("FACEBOOK , x ,", ("facebook", "x")),
    ],
)
def test_parse_networks(spec: str, expected: tuple[str, ...]) -> None:
    assert parse_networks(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", f"Name at least one network, e.g. --to x,linkedin. Use one of: {MAX_KNOWN}."),
        (" , ", f"Name at least one network, e.g. --to x,linkedin. Use one of: {MAX_KNOWN}."),
        ("x,myspace", f'I don\'t know the network "myspace". Use one of: {MAX_KNOWN}.'),
    ],
)
def test_parse_networks_errors(spec: str, message: str) -> None:
    with pytest.raises(UnknownNetworkError) as caught:
        parse_networks(spec)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("network", "text", "problem"),
    [
        ("x", "a" * 280, None),
        ("x", "a" * 300, "The X text is 300/280 weighted characters. Shorten it by 20."),
        ("twitter", "日" * 141, "The X text is 282/280 weighted characters. Shorten it by 2."),
        ("x", "Hi \ufeff", "The X text has a character X refuses (U+FEFF). Remove it."),
        ("mastodon", FAMILY * 500, None),
        ("mastodon", "a" * 501, "The Mastodon text is 501/500 characters. Shorten it by 1."),
        (
            "facebook",
            "a" * 64_500,
            "The Facebook text is 64,500/63,206 characters. Shorten it by 1,294.",
        ),
        ("bluesky", "a" * 301, "The Bluesky text is 301/300 graphemes. Shorten it by 1."),
        # 121 graphemes fit Bluesky's count, but not its byte cap
        ("bluesky", FAMILY * 121, "The Bluesky text is 3,025/3,000 bytes. Shorten it by 25 bytes."),
        ("linkedin", "e\u0301" * 3000, None),  # counted after NFC: 3,000 characters
        ("outbox", "", None),  # empty is not a length problem; callers say so themselves
    ],
)
def test_length_problem(network: str, text: str, problem: str | None) -> None:
    assert length_problem(network, text) == problem
    assert get_network(network).fits(text) is (problem is None)


def test_length_problem_unknown_network() -> None:
    with pytest.raises(UnknownNetworkError):
        length_problem("myspace", "hi")
