"""Check a post against the workspace's brand voice; each problem is one card warning.

Warnings read like `⚠ missing #ad`, `⚠ link without UTM`, `⚠ banned word "guarantee"`. The
linter never changes text; `add_utm` and `ensure_tags` are the deterministic fixes the model
generator applies before linting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode

import regex

from core.networks import find_urls, is_emoji_cluster
from core.voice import FEW_EMOJI, BrandVoice

_GRAPHEME = regex.compile(r"\X")
_TEXT_SYMBOLS = frozenset("©®™")


def _phrase(word: str) -> regex.Pattern[str]:
    """A word or phrase, case-insensitive, at word boundaries; a word also matches its
    inflections ("guarantee" catches "guaranteed")."""
    body = r"\s+".join(regex.escape(part) for part in word.split())
    tail = r"\w*" if word[-1:].isalnum() else ""
    return regex.compile(rf"(?<![\w#@]){body}{tail}", regex.IGNORECASE)


def _has_tag(text: str, tag: str) -> bool:
    pattern = regex.compile(rf"(?<![\w&]){regex.escape(tag)}(?![\w-])", regex.IGNORECASE)
    return pattern.search(text) is not None


def emoji_count(text: str) -> int:
    return sum(1 for g in _GRAPHEME.findall(text) if g not in _TEXT_SYMBOLS and is_emoji_cluster(g))


def lint(text: str, voice: BrandVoice, parts: Sequence[str] = ()) -> list[str]:
    """Voice violations in a post (`text`, plus the rest of an X thread in `parts`)."""
    whole = "\n".join([text, *parts])
    warnings: list[str] = []
    for word in voice.banned:
        if word and _phrase(word).search(whole):
            warnings.append(f'⚠ banned word "{word}"')
    for claim in voice.claims:
        if claim and _phrase(claim).search(whole):
            warnings.append(f'⚠ claim "{claim}" is not allowed')
    if voice.disclosure and not _has_tag(text, voice.disclosure):
        warnings.append(f"⚠ missing {voice.disclosure}")
    for tag in voice.hashtags:
        if not _has_tag(whole, tag):
            warnings.append(f"⚠ missing {tag}")
    count = emoji_count(whole)
    if voice.emoji == "none" and count:
        warnings.append("⚠ emoji used; the voice says none")
    elif voice.emoji == "few" and count > FEW_EMOJI:
        warnings.append(f"⚠ {count} emoji; the voice says at most {FEW_EMOJI}")
    if voice.utm and any(
        not _has_utm(whole[start:end], voice.utm) for start, end in find_urls(whole)
    ):
        warnings.append("⚠ link without UTM")
    return warnings


def _has_utm(url: str, utm: Mapping[str, str]) -> bool:
    query = url.split("#", 1)[0].partition("?")[2]
    present = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    return all(key in present for key in utm)


def add_utm(text: str, utm: Mapping[str, str]) -> str:
    """Append the voice's UTM parameters to every link that lacks them (fragments kept)."""
    if not utm:
        return text
    pieces: list[str] = []
    position = 0
    for start, end in find_urls(text):
        url = text[start:end]
        pieces.append(text[position:start])
        pieces.append(_with_utm(url, utm))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _with_utm(url: str, utm: Mapping[str, str]) -> str:
    base, hash_mark, fragment = url.partition("#")
    query = base.partition("?")[2]
    present = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    missing = {k: v for k, v in utm.items() if k not in present}
    if not missing:
        return url
    joiner = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return f"{base}{joiner}{urlencode(missing)}{hash_mark}{fragment}"


def missing_tags(text: str, tags: Sequence[str]) -> list[str]:
    """The tags (hashtags or a disclosure like #ad) that `text` does not contain yet."""
    return [t for t in tags if t and not _has_tag(text, t)]
