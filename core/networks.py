"""The networks Herald knows, their text-length limits, and how each one counts a post.

Every network counts differently, and Herald must count the way the network does or a post
that looked fine in chat gets refused at publish time:

* X counts *weighted* characters (twitter-text config v3): URLs are 23, emoji sequences 2,
  Latin and common punctuation 1, everything else (CJK, …) 2.
* Mastodon counts URLs as 23 and a remote mention ``@user@domain`` as just ``@user``.
* Bluesky counts grapheme clusters (and caps the UTF-8 size at 3000 bytes).
* LinkedIn, Facebook and the outbox count characters.

All counts are taken on the NFC-normalised text, which is also what Herald sends.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import regex

# --- twitter-text config v3 (copied from specs/twitter-text/config-v3.json) -------------------

MAX_WEIGHTED_TWEET_LENGTH = 280
TWITTER_SCALE = 100
TWITTER_DEFAULT_WEIGHT = 200
TWITTER_TRANSFORMED_URL_LENGTH = 23
TWITTER_EMOJI_PARSING_ENABLED = True
# (start, end, weight), both ends inclusive, code points.
TWITTER_RANGES: tuple[tuple[int, int, int], ...] = (
    (0, 4351, 100),
    (8192, 8205, 100),
    (8208, 8223, 100),
    (8242, 8247, 100),
)
# X refuses a post containing any of these.
TWITTER_INVALID_CHARACTERS = "\ufffe\ufeff\uffff"

URL_LENGTH = 23  # what X and Mastodon count for any link, however long

# --- top-level domains for links written without http(s):// ---------------------------------


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Country codes: the full ASCII ccTLD list twitter-text uses.
_CCTLDS = _word_set(
    """
    ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo
    bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm
    do dz ec ee eg eh er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs
    gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp
    kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms
    mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps
    pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz
    tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk um us uy uz va vc ve vg vi vn vu
    wf ws ye yt za zm zw
    """
)
# Generic TLDs: the original ones plus the new gTLDs people actually put in posts. Links with
# http(s):// count as links whatever their TLD; this list only matters for bare domains.
_GTLDS = _word_set(
    """
    aero app art arpa asia biz blog bot build business buzz cafe camp capital care careers cash cat
    center chat city click cloud club codes coffee com community company consulting coop data
    deals design dev digital direct directory docs domains download earth eco edu education email
    energy engineering enterprises estate events exchange expert express fail family fan fans
    farm fashion finance fit fitness foo foundation fun fund futbol fyi gallery game games garden
    gay gift gifts global gmbh gold golf gov graphics green group guide guru health help holdings
    host hosting house how inc info ink int institute international jobs kitchen land law legal
    life link live llc llp lol love ltd management market marketing media meme menu mil mobi moe
    money movie museum music name net network new news ngo ninja nyc one onion online ooo org page
    partners party photo photography photos pics pizza place plus press pro productions promo
    properties pub quest red reise rest review reviews rocks run sale school science services shop
    shopping show site ski social software solar solutions space store stream studio style
    support surf systems tax team tech technology tel today tools top tours town toys trade
    training travel tube university vip vision watch web website wiki win wine work works world
    wtf xxx xyz zip zone
    """
)
_SPECIAL_CCTLDS = frozenset({"co", "tv"})  # bare "name.co" / "name.tv" count as links

# --- patterns --------------------------------------------------------------------------------

_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
    "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
# Characters twitter-text accepts in a URL path or query, and those a URL may end with.
_PATH_CHAR = rf"[A-Za-z0-9\p{{Cyrillic}}{_LATIN_ACCENTS}!*';:=+,.$/%#\[\]\-\u2013_~@|&()?]"
_URL_END = regex.compile(rf"[A-Za-z0-9\p{{Cyrillic}}{_LATIN_ACCENTS}=_#/+\-&]")

# A domain label: anything but spaces, punctuation, controls and ASCII symbols (so "☃.net"
# and "例え.jp" are domains), at most 63 characters, no leading or trailing "-".
_DOMAIN_CHAR = r"[^\s\p{P}\p{Z}\p{C}!-/:-@\[-`{-~]"
_LABEL = rf"{_DOMAIN_CHAR}(?:(?:{_DOMAIN_CHAR}|[\-_]){{0,61}}{_DOMAIN_CHAR})?"
_PROTOCOL_URL = regex.compile(
    rf"""
    (?<![A-Za-z0-9@＠$#＃])
    https?://
    (?:[A-Za-z0-9\-._~%!$&'*+,;=:]+@)?              # userinfo
    (?P<host>
        (?:{_LABEL}\.)+
        (?: xn--[A-Za-z0-9\-]+(?![A-Za-z0-9@+\-])
          | [A-Za-z]{{2,63}}(?![A-Za-z0-9@+\-])
          | [\p{{L}}\p{{M}}]{{2,63}}(?![\p{{L}}\p{{M}}\p{{N}}])
        )
      | (?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){{3}}(?![\d.])
      | \[[0-9A-Fa-f:.]+\]
    )
    (?::[0-9]+)?
    (?:[/?#]{_PATH_CHAR}*)?
    """,
    regex.VERBOSE | regex.IGNORECASE,
)

_TLD_ALTERNATION = "|".join(sorted(_GTLDS | _CCTLDS, key=lambda t: (-len(t), t)))
_ASCII_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_BARE_URL = regex.compile(
    rf"""
    (?<![A-Za-z0-9@＠$#＃_.\-/])
    (?P<host>(?:{_ASCII_LABEL}\.)+(?P<tld>{_TLD_ALTERNATION}|xn--[A-Za-z0-9\-]+))
    (?![A-Za-z0-9@+\-])
    (?P<rest>(?::[0-9]+)?(?:[/?]{_PATH_CHAR}*)?)
    """,
    regex.VERBOSE | regex.IGNORECASE,
)

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


def _trim_url(text: str, start: int, end: int, floor: int) -> int:
    """Move `end` back past characters a link cannot end with (and unbalanced ")")."""
    while end > floor:
        last = text[end - 1]
        if last == ")":
            url = text[start:end]
            if url.count("(") >= url.count(")"):
                break
        elif _URL_END.fullmatch(last):
            break
        end -= 1
    return end


def find_urls(text: str, *, bare_domains: bool = True) -> list[tuple[int, int]]:
    """Spans of the links in `text` the way twitter-text finds them.

    Links with http(s):// always count; with `bare_domains`, so do `example.com/path` and
    `foo.co.jp` (a two-label country-code domain without a path, like `file.py`, does not,
    except `.co` and `.tv`). Offsets index `text` as given; normalise first if you compare
    with a length.
    """
    spans: list[tuple[int, int]] = []
    for match in _PROTOCOL_URL.finditer(text):
        end = _trim_url(text, match.start(), match.end(), match.end("host"))
        spans.append((match.start(), end))
    if not bare_domains:
        return spans

    bare: list[tuple[int, int]] = []
    for match in _BARE_URL.finditer(text):
        start, host_end = match.start(), match.end("host")
        if any(s <= start < e for s, e in spans):
            continue
        end = _trim_url(text, start, match.end(), host_end)
        has_path = end > host_end
        host = match.group("host")
        tld = match.group("tld").lower()
        if not has_path and host.count(".") == 1 and tld in _CCTLDS - _SPECIAL_CCTLDS:
            continue
        bare.append((start, end))
    return sorted(spans + bare)


def is_emoji_cluster(cluster: str) -> bool:
    """True for a grapheme cluster that is an emoji sequence (ZWJ family, flag, keycap, …)."""
    return (
        _PICTOGRAPHIC.search(cluster) is not None
        or _KEYCAP in cluster
        or _FLAG.match(cluster) is not None
    )


def _code_point_weight(char: str) -> int:
    code = ord(char)
    for start, end, weight in TWITTER_RANGES:
        if start <= code <= end:
            return weight
    return TWITTER_DEFAULT_WEIGHT


def _weigh(text: str) -> int:
    total = 0
    for cluster in _GRAPHEME.findall(text):
        if TWITTER_EMOJI_PARSING_ENABLED and is_emoji_cluster(cluster):
            total += TWITTER_DEFAULT_WEIGHT
        else:
            total += sum(_code_point_weight(char) for char in cluster)
    return total


def weighted_length(text: str) -> int:
    """X's count (twitter-text v3): links 23, emoji sequences 2, CJK 2, Latin 1."""
    normalized = _nfc(text)
    total = 0
    position = 0
    for start, end in find_urls(normalized):
        total += _weigh(normalized[position:start])
        total += TWITTER_TRANSFORMED_URL_LENGTH * TWITTER_SCALE
        position = end
    total += _weigh(normalized[position:])
    return total // TWITTER_SCALE


def mastodon_length(text: str) -> int:
    """Mastodon's count: http(s) links 23, `@user@domain` as `@user`, the rest per code point.

    Mastodon itself counts grapheme clusters; counting code points is never lower, so a post
    that fits by this count is always accepted.
    """
    normalized = _nfc(text)
    total = 0
    position = 0
    urls = find_urls(normalized, bare_domains=False)
    for start, end in urls:
        total += _mastodon_plain(normalized[position:start])
        total += URL_LENGTH
        position = end
    total += _mastodon_plain(normalized[position:])
    return total


def _mastodon_plain(text: str) -> int:
    shortened = _MASTODON_MENTION.sub(lambda m: "@" + m.group("user"), text)
    return len(shortened)


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
        normalized = _nfc(text)
        if self.max_bytes is not None and len(normalized.encode("utf-8")) > self.max_bytes:
            return False
        if any(char in normalized for char in self.forbidden):
            return False
        return self.length(normalized) <= self.limit

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
            MAX_WEIGHTED_TWEET_LENGTH,
            "weighted characters",
            weighted_length,
            forbidden=TWITTER_INVALID_CHARACTERS,
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
