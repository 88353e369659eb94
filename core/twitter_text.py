"""X's own text rules, ported from twitter-text 3.1 (Apache-2.0): links and the weighted length.

X refuses a post its server counts as too long, and its server counts the way twitter-text
does, so this module follows twitter-text's JavaScript closely, regex by regex, and is held to
its conformance suite (tests/data/twitter-text/, run by tests/unit/test_twitter_text.py):

* `extract_urls` finds links as `extractUrlsWithIndices` does: with or without http(s)://,
  always on a known top-level domain (core/twitter_tlds.py: "file.py" is a link, "acme.test"
  is not), t.co slugs cut short, host labels within 63 characters once punycode-encoded.
* `parse_tweet` is `parseTweet`: links weigh 23, an emoji sequence 2 (config v3), code points
  in the Latin and punctuation ranges 1, every other code point 2.

One deliberate difference: twitter-text finds emoji with twemoji-parser's list, frozen at an
older Unicode version; here an emoji follows the same rules (keycaps, flags, skin tones, ZWJ
sequences, text-style symbols only with U+FE0F) read from the `regex` module's current
Unicode data, so newer emoji count 2 as X counts them. Against twitter-text 3.1.0's own build
on thousands of random texts, the counts differ only there, for made-up ZWJ joins and flag
pairs (one emoji here, its parts there) and where JavaScript splits a surrogate pair.

Offsets are code points of the text as given (NFC-normalise first where you compare with a
length); the ranges in `ParsedTweet` are UTF-16 code units, as twitter-text reports them.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import regex

from core.twitter_tlds import COUNTRY, GENERIC


@dataclass(frozen=True)
class TextConfig:
    """One twitter-text configuration (config/v2.json, config/v3.json)."""

    version: int
    max_weighted_tweet_length: int = 280
    scale: int = 100
    default_weight: int = 200
    transformed_url_length: int = 23
    # (start, end, weight): code points in [start, end] weigh `weight`, the rest `default_weight`.
    ranges: tuple[tuple[int, int, int], ...] = (
        (0, 4351, 100),
        (8192, 8205, 100),
        (8208, 8223, 100),
        (8242, 8247, 100),
    )
    emoji_parsing_enabled: bool = False


CONFIG_V2 = TextConfig(version=2)
CONFIG_V3 = TextConfig(version=3, emoji_parsing_enabled=True)  # what X uses today

INVALID_CHARACTERS = "\ufffe\ufeff\uffff"  # X refuses a post containing any of these
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40
MAX_DOMAIN_LABEL_LENGTH = 63

# --- character classes, as in twitter-text's js/src/regexp/ ---------------------------------

_INVALID = INVALID_CHARACTERS
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]\^_{|}~$"
_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
    "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"

_PRECEDING = rf"(?:[^A-Za-z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
_DOMAIN_CHAR = rf"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
_SUBDOMAIN = rf"(?:(?:{_DOMAIN_CHAR}(?:[_\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_TLD_END = r"(?=[^0-9a-zA-Z@+\-]|$)"
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"
_PATH_CHAR = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
_BALANCED_PARENS = (
    rf"\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*))\)"  # two levels
)
_PATH_END = rf"(?:[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|(?:{_BALANCED_PARENS}))"
_PATH = (
    rf"(?:(?:{_PATH_CHAR}*(?:{_BALANCED_PARENS}{_PATH_CHAR}*)*{_PATH_END})"
    rf"|(?:@{_PATH_CHAR}+/))"
)
_QUERY_CHAR = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"


def _tlds(names: frozenset[str]) -> str:
    # Longest first among names sharing a prefix ("嘉里大酒店" before "嘉里"), as twitter-text
    # orders them: the look-ahead alone cannot tell them apart when CJK text follows.
    return "(?:(?:" + "|".join(sorted(names, reverse=True)) + f"){_TLD_END})"


@cache
def _extract_url() -> regex.Pattern[str]:
    domain = rf"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_tlds(GENERIC)}|{_tlds(COUNTRY)}|{_PUNYCODE}))"
    return regex.compile(
        rf"(?P<before>{_PRECEDING})"
        rf"(?P<url>(?P<protocol>https?://)?(?P<domain>{domain})(?::[0-9]+)?"
        rf"(?P<path>/{_PATH}*)?(?:\?{_QUERY_CHAR}*{_QUERY_END})?)",
        regex.IGNORECASE,
    )


@cache
def _ascii_domain() -> regex.Pattern[str]:
    return regex.compile(
        rf"(?:[\-a-z0-9{_LATIN_ACCENTS}]+\.)+(?:{_tlds(GENERIC)}|{_tlds(COUNTRY)}|{_PUNYCODE})",
        regex.IGNORECASE,
    )


_TCO_URL = regex.compile(
    rf"^https?://t\.co/(?P<slug>[a-z0-9]+)(?:\?{_QUERY_CHAR}*{_QUERY_END})?", regex.IGNORECASE
)
_INVALID_BEFORE_BARE_URL = regex.compile(r"[\-_./]\Z")
_LABEL_SEPARATORS = regex.compile("[.\u3002\uff0e\uff61]")
_NON_ASCII = regex.compile(r"[^\x20-\x7e]")
_RUN = regex.compile(rf"[^{_SPACES}]+")


def _punycode_label(label: str) -> str:
    """punycode.js `toASCII` of one label: "xn--" + punycode when it is not plain ASCII."""
    parts = _LABEL_SEPARATORS.split(label)
    return ".".join(
        "xn--" + part.encode("punycode").decode("ascii") if _NON_ASCII.search(part) else part
        for part in parts
    )


def _is_valid_domain(domain: str) -> bool:
    """twitter-text's `idna.toAscii` check: every label 1 to 63 characters once encoded."""
    if domain.startswith("xn--") and _ascii_domain().search(domain) is None:
        return False
    return all(
        1 <= len(_punycode_label(label)) <= MAX_DOMAIN_LABEL_LENGTH for label in domain.split(".")
    )


def _matches(text: str) -> Iterator[regex.Match[str]]:
    """`_extract_url().finditer(text)`, run only over the space-free runs that hold a dot.

    A link never holds a space and always a dot, so this finds the same links; it keeps the
    pattern off long runs without one (4,000 characters of CJK or emoji took seconds, the
    pattern trying every start). Each run is searched with the character before it, which the
    pattern reads as what precedes a link."""
    for run in _RUN.finditer(text):
        if "." in run.group():
            yield from _extract_url().finditer(text, max(run.start() - 1, 0), run.end())


def extract_urls(text: str, *, without_protocol: bool = True) -> list[tuple[int, int]]:
    """The (start, end) spans of the links in `text`, as twitter-text's `extractUrlsWithIndices`.

    With `without_protocol` false only links written with http(s):// count (Mastodon's rule).
    """
    if not text or ("." not in text if without_protocol else ":" not in text):
        return []
    spans: list[tuple[int, int]] = []
    for match in _matches(text):
        url, domain = match.group("url"), match.group("domain")
        start, end = match.start("url"), match.end("url")
        protocol = match.group("protocol") or "https://"
        if not _is_valid_domain(domain) or len(protocol) + len(url) > MAX_URL_LENGTH:
            continue
        if match.group("protocol") is None:
            if not without_protocol or _INVALID_BEFORE_BARE_URL.search(match.group("before")):
                continue
            found = [(start + m.start(), start + m.end()) for m in _ascii_domain().finditer(domain)]
            if found and match.group("path"):
                found[-1] = (found[-1][0], end)  # the path belongs to the last domain
            spans.extend(found)
            continue
        tco = _TCO_URL.match(url)
        if tco is not None:
            if len(tco.group("slug")) > MAX_TCO_SLUG_LENGTH:
                continue
            end = start + tco.end()
        spans.append((start, end))
    return spans


# --- emoji -------------------------------------------------------------------------------

_VS16 = "\ufe0f"  # emoji presentation selector
_VS15 = "\ufe0e"  # text presentation selector
# The emoji-presentation characters that also have a text form, so U+FE0F after one is part of
# the emoji; after any other it counts on its own (twemoji-parser's list).
_WITH_TEXT_FORM = (
    "\u231a\u231b\u25fd\u25fe\u2614\u2615\u2648-\u2653\u267f\u2693\u26a1\u26aa\u26ab\u26bd\u26be"
    "\u26c4\u26c5\u26d4\u26ea\u26f2\u26f3\u26f5\u26fa\u26fd\u2757\u2b1b\u2b1c\u2b50\u2b55"
    "\U0001f004\U0001f21a\U0001f22f"
)
_ZWJ_PART = (
    r"(?:\p{Emoji_Modifier_Base}\p{Emoji_Modifier}"
    rf"|\p{{Extended_Pictographic}}{_VS16}?|\p{{Emoji_Presentation}})"
)


@cache
def _emoji() -> regex.Pattern[str]:
    return regex.compile(
        rf"""
          \U0001f3f4[\U000e0020-\U000e007e]+\U000e007f          # a subdivision flag (England)
        | {_ZWJ_PART}(?:\u200d{_ZWJ_PART})+                     # a ZWJ sequence (a family)
        | [#*0-9]{_VS16}?\u20e3                                 # a keycap
        | \p{{Regional_Indicator}}{{2}}                         # a flag
        | \p{{Emoji_Modifier_Base}}\p{{Emoji_Modifier}}          # a skin tone
        | (?!\p{{Emoji_Presentation}})\p{{Emoji_Modifier_Base}}{_VS16}\p{{Emoji_Modifier}}
        | (?![#*0-9]|\p{{Emoji_Presentation}})\p{{Emoji}}{_VS16}  # a text symbol made emoji
        | [{_WITH_TEXT_FORM}]{_VS16}                           # the same, one with both forms
        | \p{{Emoji_Presentation}}(?!{_VS15})                   # emoji unless made text
        | {_VS16}                                             # a selector on its own
        """,
        regex.VERBOSE,
    )


def extract_emoji(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of the emoji X counts as 2 under config v3."""
    return [match.span() for match in _emoji().finditer(text)]


# --- parseTweet --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedTweet:
    """twitter-text's `parseTweet` result; ranges are inclusive UTF-16 offsets."""

    weighted_length: int
    valid: bool
    permillage: int
    valid_range_start: int
    valid_range_end: int
    display_range_start: int
    display_range_end: int


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _weight(code: int, config: TextConfig) -> int:
    for start, end, weight in config.ranges:
        if start <= code <= end:
            return weight
    return config.default_weight


def parse_tweet(text: str, config: TextConfig = CONFIG_V3) -> ParsedTweet:
    """Weigh `text` as X does: its weighted length, whether X takes it, and how much fits."""
    normalized = unicodedata.normalize("NFC", text)
    entities = {
        start: (end, config.transformed_url_length * config.scale)
        for start, end in extract_urls(normalized)
    }
    if config.emoji_parsing_enabled:
        for start, end in extract_emoji(normalized):
            entities.setdefault(start, (end, config.default_weight))
    total = 0
    valid = True
    last_valid_unit = 0  # UTF-16 offset of the last unit that still fits
    units = 0
    position = 0
    while position < len(normalized):
        entity = entities.get(position)
        if entity is None:
            code = ord(normalized[position])
            end, weight = position + 1, _weight(code, config)
            units += 2 if code > 0xFFFF else 1
        else:
            end, weight = entity
            units += _utf16_length(normalized[position:end])
        total += weight
        if valid:
            valid = normalized[end - 1] not in INVALID_CHARACTERS
        if valid and total <= config.max_weighted_tweet_length * config.scale:
            last_valid_unit = units - 1
        position = end
    weighted = total // config.scale
    limit = config.max_weighted_tweet_length
    return ParsedTweet(
        weighted_length=weighted,
        valid=valid and 0 < weighted <= limit,
        permillage=math.floor(weighted / limit * 1000),
        valid_range_start=0,
        valid_range_end=last_valid_unit + _utf16_length(text) - _utf16_length(normalized),
        display_range_start=0,
        display_range_end=max(_utf16_length(text) - 1, 0),
    )


def weighted_length(text: str, config: TextConfig = CONFIG_V3) -> int:
    """X's count of `text` (links 23, emoji 2, CJK 2, Latin 1)."""
    return parse_tweet(text, config).weighted_length
