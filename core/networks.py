"""The networks Herald knows, their text-length limits, and how each one counts a post.

Every network counts differently, and Herald must count the way the network does or a post
that looked fine in chat gets refused at publish time:

* X counts *weighted* characters (twitter-text config v3, core/twitter_text.py): links 23,
  emoji sequences 2, Latin and common punctuation 1, everything else (CJK, …) 2.
* Mastodon counts grapheme clusters, with each http(s) link as 23 and a remote mention
  ``@user@domain`` as just ``@user``.
* Bluesky counts grapheme clusters (and caps the UTF-8 size at 3000 bytes).
* LinkedIn, Facebook and the outbox count characters.

All counts are taken on the NFC-normalised text, which is also what Herald sends.
`length_problem` is the one wording of "too long" every surface shows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import regex

from core.twitter_text import CONFIG_V3, INVALID_CHARACTERS, extract_urls, weighted_length

URL_LENGTH = 23  # what Mastodon counts for any link, however long (X: CONFIG_V3)

_MASTODON_MENTION = regex.compile(
    r"(?<![\p{L}\p{N}_!#$%&*@＠/=])[@＠](?P<user>[A-Za-z0-9_]+)"
    r"(?P<domain>@[\p{L}\p{N}](?:[\p{L}\p{N}.\-]*[\p{L}\p{N}])?)?"
)

_GRAPHEME = regex.compile(r"\X")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_FLAG = regex.compile(r"\p{Regional_Indicator}\p{Regional_Indicator}")
_KEYCAP = "\u20e3"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def find_urls(text: str, *, bare_domains: bool = True) -> list[tuple[int, int]]:
    """Spans of the links in `text` the way X finds them (twitter-text, core/twitter_text.py).

    Links with http(s):// always count; with `bare_domains`, so do `example.com/path`,
    `foo.co.jp` and `file.py` (a known top-level domain is enough). Offsets index `text` as
    given; normalise first if you compare with a length.
    """
    return extract_urls(text, without_protocol=bare_domains)


def is_emoji_cluster(cluster: str) -> bool:
    """True for a grapheme cluster that is an emoji sequence (ZWJ family, flag, keycap, …)."""
    return (
        _PICTOGRAPHIC.search(cluster) is not None
        or _KEYCAP in cluster
        or _FLAG.match(cluster) is not None
    )


def mastodon_length(text: str) -> int:
    """Mastodon's count: grapheme clusters, each http(s) link as 23, `@user@domain` as `@user`.

    As Mastodon's StatusLengthValidator does: rewrite the links and mentions, then count what
    people see as characters, so a family emoji is 1.
    """
    normalized = _nfc(text)
    pieces: list[str] = []
    position = 0
    for start, end in extract_urls(normalized, without_protocol=False):
        pieces.append(_short_mentions(normalized[position:start]))
        pieces.append("x" * URL_LENGTH)
        position = end
    pieces.append(_short_mentions(normalized[position:]))
    return len(_GRAPHEME.findall("".join(pieces)))


def _short_mentions(text: str) -> str:
    shortened: str = _MASTODON_MENTION.sub(lambda m: "@" + m.group("user"), text)
    return shortened


def grapheme_length(text: str) -> int:
    """Bluesky's count: user-perceived characters (a family emoji is 1)."""
    return len(_GRAPHEME.findall(_nfc(text)))


def character_length(text: str) -> int:
    """Plain characters (code points) of the NFC text: LinkedIn, Facebook, the outbox."""
    return len(_nfc(text))


# --- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """One network's length rule. `length` is the network's own count, `fits` its verdict."""

    name: str
    display: str
    limit: int
    unit: str
    counter: Callable[[str], int] = field(repr=False, compare=False)
    max_bytes: int | None = None  # a UTF-8 size cap on top of `limit` (Bluesky)
    forbidden: str = ""  # characters the network refuses outright (X)

    def length(self, text: str) -> int:
        return self.counter(text)

    def fits(self, text: str) -> bool:
        return self.problem(text) is None

    def problem(self, text: str) -> str | None:
        """Why the network would refuse `text` for its size, in one or two sentences; or None."""
        normalized = _nfc(text)
        length = self.length(normalized)
        if length > self.limit:
            return (
                f"The {self.display} text is {length:,}/{self.limit:,} {self.unit}. "
                f"Shorten it by {length - self.limit:,}."
            )
        if self.max_bytes is not None:
            size = len(normalized.encode("utf-8"))
            if size > self.max_bytes:
                return (
                    f"The {self.display} text is {size:,}/{self.max_bytes:,} bytes. "
                    f"Shorten it by {size - self.max_bytes:,} bytes."
                )
        refused = next((char for char in normalized if char in self.forbidden), None)
        if refused is not None:
            return (
                f"The {self.display} text has a character {self.display} refuses "
                f"(U+{ord(refused):04X}). Remove it."
            )
        return None

    @property
    def limit_text(self) -> str:
        """E.g. "280 weighted characters", for messages."""
        return f"{self.limit:,} {self.unit}"


NETWORKS: Mapping[str, Network] = MappingProxyType(
    {
        "outbox": Network("outbox", "Outbox", 5000, "characters", character_length),
        "x": Network(
            "x",
            "X",
            CONFIG_V3.max_weighted_tweet_length,
            "weighted characters",
            weighted_length,
            forbidden=INVALID_CHARACTERS,
        ),
        "linkedin": Network("linkedin", "LinkedIn", 3000, "characters", character_length),
        "facebook": Network("facebook", "Facebook", 63206, "characters", character_length),
        "mastodon": Network("mastodon", "Mastodon", 500, "characters", mastodon_length),
        "bluesky": Network("bluesky", "Bluesky", 300, "graphemes", grapheme_length, max_bytes=3000),
    }
)
NETWORK_NAMES: tuple[str, ...] = tuple(NETWORKS)
ALIASES: Mapping[str, str] = MappingProxyType({"twitter": "x"})


class UnknownNetworkError(ValueError):
    """A network name Herald does not know; `str()` is the one-line message for chat."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        known = ", ".join(NETWORK_NAMES)
        super().__init__(message or f'I don\'t know the network "{name}". Use one of: {known}.')


def length_problem(network: str, text: str) -> str | None:
    """What to tell someone whose `text` is too long for `network` (any name `get_network`
    takes), e.g. "The X text is 312/280 weighted characters. Shorten it by 32."; None when
    the network takes it."""
    return get_network(network).problem(text)


def get_network(name: str) -> Network:
    """The network called `name` (any case; "twitter" means X)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return NETWORKS[key]
    except KeyError:
        raise UnknownNetworkError(name.strip()) from None


_SPEC_SEPARATORS = re.compile(r"[\s,;]+")


def parse_networks(spec: str) -> tuple[str, ...]:
    """`"x, LinkedIn,x"` -> `("x", "linkedin")`: canonical names, de-duplicated, order kept."""
    names: list[str] = []
    for part in _SPEC_SEPARATORS.split(spec.strip()):
        if not part:
            continue
        name = get_network(part).name
        if name not in names:
            names.append(name)
    if not names:
        known = ", ".join(NETWORK_NAMES)
        raise UnknownNetworkError(
            "", f"Name at least one network, e.g. --to x,linkedin. Use one of: {known}."
        )
    return tuple(names)
