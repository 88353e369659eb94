"""From the model's fields to the text as it will be posted: template or hashtags, disclosure,
UTM links; and, when X text is still too long, a thread that fits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import regex
from jinja2 import TemplateError

from core.networks import get_network
from core.sanitize import clean_input
from core.templating import render
from core.textlint import add_utm, missing_tags
from core.voice import BrandVoice

log = logging.getLogger(__name__)
_SENTENCE = regex.compile(r"(?<=[.!?…。！？])\s+")
_GRAPHEME = regex.compile(r"\X")
MAX_THREAD = 25


@dataclass(frozen=True)
class Composed:
    text: str
    parts: tuple[str, ...]
    hashtags: tuple[str, ...]
    notes: tuple[str, ...] = ()


def compose(
    network: str,
    body: str,
    hashtags: tuple[str, ...],
    parts: tuple[str, ...],
    voice: BrandVoice,
    values: dict[str, Any],
) -> Composed:
    """The post for one network: the workspace's Jinja template if it has one, else the body
    with the hashtags it does not already contain; required tags and the disclosure first."""
    required = [voice.disclosure, *voice.hashtags] if voice.disclosure else list(voice.hashtags)
    tags = _unique([*required, *hashtags])
    notes: list[str] = []
    template = voice.templates.get(network)
    rendered = None
    if template:
        shown = missing_tags(body, tags)
        variables = {
            **values,
            "text": body,
            "hashtags": shown,
            "tags": " ".join(shown),
            "disclosure": voice.disclosure,
            "network": network,
        }
        try:
            rendered = render(template, variables)
        except TemplateError as exc:
            log.warning("template for %s failed: %s", network, exc)
            notes.append(
                f"⚠ the {get_network(network).display} template failed ({exc}); used the plain text"
            )
    if rendered is not None and rendered.strip():
        text = clean_input(rendered).strip()
    else:
        line = " ".join(missing_tags(body, tags))
        text = f"{body}\n\n{line}" if line else body
    text = add_utm(text, voice.utm)
    return Composed(
        text=text,
        parts=tuple(add_utm(p, voice.utm) for p in parts),
        hashtags=tuple(tags),
        notes=tuple(notes),
    )


def _unique(tags: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        key = tag.casefold()
        if tag and key not in seen:
            seen.add(key)
            out.append(tag)
    return out


def as_thread(text: str, parts: tuple[str, ...], network: str = "x") -> tuple[str, ...]:
    """Posts of a thread that each fit, numbered "1/3" when split here: sentences are packed
    greedily, and a sentence too long for one post is cut between words."""
    target = get_network(network)
    pieces = [p for chunk in (text, *parts) for p in _pieces(chunk, target.limit - 6, network)]
    posts: list[str] = []
    for piece in pieces:
        if (
            posts
            and target.fits(f"{posts[-1]} {piece}")
            and target.length(f"{posts[-1]} {piece}") <= target.limit - 6
        ):
            posts[-1] = f"{posts[-1]} {piece}"
        else:
            posts.append(piece)
    posts = posts[:MAX_THREAD]
    if len(posts) == 1:
        return tuple(posts)
    return tuple(f"{post} {i}/{len(posts)}" for i, post in enumerate(posts, start=1))


def _pieces(text: str, room: int, network: str) -> list[str]:
    """Sentences, each cut further (at spaces, else at graphemes) until it fits `room`."""
    target = get_network(network)
    out: list[str] = []
    for sentence in _SENTENCE.split(text.strip()):
        sentence = sentence.strip()
        while sentence and target.length(sentence) > room:
            head = _longest_head(sentence, room, network)
            out.append(head.strip())
            sentence = sentence[len(head) :].strip()
        if sentence:
            out.append(sentence)
    return out


def _longest_head(text: str, room: int, network: str) -> str:
    target = get_network(network)
    words = regex.split(r"(?<=\s)", text)
    head = ""
    for word in words:
        if target.length(head + word) > room:
            break
        head += word
    if head.strip():
        return head
    clusters = _GRAPHEME.findall(text)  # one word longer than a post (CJK, a huge link)
    low, high = 1, len(clusters)  # the most clusters that fit, found by halving
    while low < high:
        middle = (low + high + 1) // 2
        if target.length("".join(clusters[:middle])) <= room:
            low = middle
        else:
            high = middle - 1
    return "".join(clusters[:low])
