"""The offline template generator, used when no LLM is configured.

It turns the brief into one variant per network with small, fixed templates: no model, no
network calls, no randomness and no clock, so the same request always gives the same text.
It never adds facts or numbers that are not in the brief: templates only add a greeting, a
closing question or hashtags made from the brief's own words. Every variant it returns is
labelled ``generator="offline"`` so people can see the text came from templates.

Each variant fits its network, measured with the network's own count (`core.networks`); a
brief that is too long is cut at a word boundary with "…" and the variant says so in its
warnings. Feedback that asks for "shorter" drops the extras and keeps the first sentence;
"formal" drops emoji and exclamation marks.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import regex

from core.networks import Network, find_urls, get_network, is_emoji_cluster
from core.ports import GenerationRequest, Variant

ELLIPSIS = "…"

_GRAPHEME = regex.compile(r"\X")
_HORIZONTAL_SPACE = regex.compile(r"[^\S\n]+")
_BLANK_LINES = regex.compile(r"\n{3,}")
_UNWANTED = regex.compile(r"[\ufeff\ufffe\uffff]|[^\P{Cc}\n\t]")  # BOM, non-chars, controls
_TERMINAL = ".!?…。！？"
_CLOSERS = "\"')]}”’»」』"
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")
_SENTENCE_END = regex.compile(
    r"(?<=[。！？])\s*|(?<=[.!?…][\"')\]”’]?)\s+(?=[\p{Lu}\p{Lt}\p{Lo}\p{N}\"“'‘(\[])"
)
_WORD = regex.compile(r"(?<![\p{L}\p{M}\p{N}_#@.'’\-])\p{L}[\p{L}\p{M}]*(?![\p{L}\p{M}\p{N}_@])")
_NO_SPACE_SCRIPTS = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}]")
_HAS_HASHTAG = regex.compile(r"(?<![\p{L}\p{N}_&])#\p{L}")
_EXCLAIM = regex.compile(r"[!！]+")
_MIXED_MARKS = regex.compile(r"\?[.?]+|\.\?")
_SPACE_BEFORE_PUNCT = regex.compile(r"[^\S\n]+(?=[.,;:?])")
_TRAILING_JUNK = regex.compile(r"[\s,;:.!?\-–—(/&。，、；：！？]+$")
_CJK_BREAKS = "。！？，、；"
_TEXT_SYMBOLS = frozenset("©®™")  # pictographic, but not emoji when written plainly
_DANGLING_PUNCT = regex.compile(r"[,;:\-–—]+$")
_SHORTER = regex.compile(r"short|too long|concise|brief|trim|less text", regex.IGNORECASE)
_FORMAL = regex.compile(
    r"\b(?<!less |not |too )(?:formal|professional|serious)\b", regex.IGNORECASE
)

_STOPWORD_TEXT = """
    about above after again against also although among another anyone anything around because
    been before being below between both could does doing down during each either enough every
    everyone everything from further have having here hers herself himself into itself just
    like made make many more most much myself need never next once only other ours ourselves
    over please really same several should since some something soon still such than thank
    thanks that their theirs them themselves then there these they thing things this those
    though through today together tomorrow under until upon very want were what whatever when
    where whether which while whom whose will with within without would year years your yours
    yourself yourselves
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_MIN_TAG_WORD = 4
_MAX_TAG_WORD = 20


@dataclass(frozen=True)
class _Style:
    shorter: bool
    formal: bool


class OfflineGenerator:
    """Template drafts, one per requested network, in the order asked."""

    label = "offline"

    def generate(self, request: GenerationRequest) -> list[Variant]:
        brief = _clean(request.brief)
        style = _Style(
            shorter=bool(_SHORTER.search(request.feedback or "")),
            formal=bool(_FORMAL.search(request.feedback or "")),
        )
        if style.formal:
            brief = _formalise(brief) or brief
        if not brief:
            raise ValueError("The brief is empty, so there is nothing to write about.")
        return [self._variant(get_network(name), brief, style) for name in request.networks]

    def _variant(self, network: Network, brief: str, style: _Style) -> Variant:
        if network.name == "outbox":
            body = brief
        else:
            body = _sentence(_flatten(brief) if network.name == "x" else brief)
        tags = _hashtags(brief, {"x": 2, "mastodon": 3}.get(network.name, 0))

        def full(text: str) -> str:
            return _render(network.name, text, tags, formal=style.formal)

        text, cut = _fit(body, [full, _as_is], network)
        if style.shorter:
            text, cut = _shorter(body, text, cut, network)
        warnings = (f"Shortened to fit {network.display}'s limit of {network.limit_text}.",)
        return Variant(network.name, text, OfflineGenerator.label, warnings if cut else ())


def _as_is(text: str) -> str:
    return text


def _fit(body: str, renders: Sequence[Callable[[str], str]], network: Network) -> tuple[str, bool]:
    """The first rendering that fits, else the last one with the body cut; and whether cut."""
    for render in renders:
        text = render(body)
        if network.fits(text):
            return text, False
    return _shorten_to_fit(body, renders[-1], network), True


def _shorter(body: str, usual: str, usual_cut: bool, network: Network) -> tuple[str, bool]:
    """For "shorter" feedback: no extras, the first sentence, and in any case shorter than
    the usual variant when the brief has enough words to lose some."""
    text, cut = _fit(_condense(body), [_as_is], network)
    usual_length = network.length(usual)
    if network.length(text) < usual_length:
        return text, cut
    if len(body.split()) < 6 and len(_GRAPHEME.findall(body)) < 30:
        return text, cut  # a few words already: nothing sensible to drop
    target = replace(network, limit=max(1, usual_length * 2 // 3))
    return _shorten_to_fit(body, _as_is, target), usual_cut


# --- templates --------------------------------------------------------------------------------


def _render(network: str, body: str, tags: Sequence[str], *, formal: bool) -> str:
    hashtags = " ".join(tags)
    if network == "x":
        return f"{body} {hashtags}" if hashtags else body
    if network == "mastodon":
        return f"{body}\n\n{hashtags}" if hashtags else body
    if network == "linkedin":
        opening = "A brief update." if formal else "A quick update from us:"
        closing = "We would welcome your perspective." if formal else "What do you think?"
        return f"{opening}\n\n{body}\n\n{closing}"
    if network == "facebook":
        if formal:
            return f"Hello everyone,\n\n{body}\n\nWe welcome your comments."
        return f"Hi everyone!\n\n{body}\n\nLet us know what you think in the comments."
    return body  # bluesky and outbox: the brief itself


# --- text shaping -----------------------------------------------------------------------------


def _clean(text: str) -> str:
    """NFC, no control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _UNWANTED.sub("", text)
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    joined: str = _BLANK_LINES.sub("\n\n", "\n".join(lines))
    return joined.strip()


def _ends_with_link(text: str) -> bool:
    spans = find_urls(text)
    return bool(spans) and spans[-1][1] == len(text)


def _last_token(text: str) -> str:
    return text.rsplit(None, 1)[-1] if text.strip() else ""


def _needs_stop(line: str) -> bool:
    """Does this line need a full stop to end cleanly?"""
    token = _last_token(line)
    if not token or _ends_with_link(line) or token[0] in "#@":
        return False
    last = line[-1]
    if last in _TERMINAL or (last in _CLOSERS and len(line) > 1 and line[-2] in _TERMINAL):
        return False
    clusters = _GRAPHEME.findall(line[-8:])
    return not (clusters and is_emoji_cluster(clusters[-1]))


def _with_stop(line: str) -> str:
    if not _needs_stop(line):
        return line
    trimmed: str = _DANGLING_PUNCT.sub("", line)
    trimmed = trimmed.rstrip()
    if not trimmed:
        return line
    return trimmed + ("。" if _CJK.match(trimmed[-1]) else ".")


def _flatten(text: str) -> str:
    """One paragraph: line breaks become sentence breaks."""
    lines = [_capitalise(line) for line in text.split("\n") if line]
    return " ".join(
        _with_stop(line) if i < len(lines) - 1 else line for i, line in enumerate(lines)
    )


def _capitalise(text: str) -> str:
    token = text.split(None, 1)[0] if text.strip() else ""
    if not token or not text[0].islower() or token[0] in "#@":
        return text
    if find_urls(token) or any(char.isupper() for char in token[1:]):
        return text  # a link, or a name like iPhone or eBay
    return text[0].upper() + text[1:]


def _sentence(text: str) -> str:
    """Capital first letter, punctuation at the end."""
    return _with_stop(_capitalise(text))


def _formalise(text: str) -> str:
    """No emoji, no exclamation marks (links are left alone)."""
    pieces: list[str] = []
    position = 0
    for start, end in find_urls(text):
        pieces.append(_formalise_plain(text[position:start]))
        pieces.append(text[start:end])
        position = end
    pieces.append(_formalise_plain(text[position:]))
    return _clean("".join(pieces))


def _formalise_plain(text: str) -> str:
    clusters: list[str] = _GRAPHEME.findall(text)
    text = "".join(c for c in clusters if c in _TEXT_SYMBOLS or not is_emoji_cluster(c))
    text = _EXCLAIM.sub(lambda m: "。" if m.group(0)[0] == "！" else ".", text)
    text = _MIXED_MARKS.sub("?", text)
    tidy: str = _SPACE_BEFORE_PUNCT.sub("", text)
    return tidy


def _condense(body: str) -> str:
    """For "shorter": the first sentence, or about two thirds of a long single sentence
    (at a clause boundary when there is one).

    If that drops the brief's first link, the link is kept at the end.
    """
    first: str = _SENTENCE_END.split(body, maxsplit=1)[0]
    first = first.strip()
    if first == body.strip():
        words = body.split()
        if len(words) < 6:
            return body
        keep = max(3, (len(words) * 2) // 3)
        lowest = max(1, len(words) // 3) - 1
        for i in range(keep - 1, lowest - 1, -1):
            if words[i][-1] in _TERMINAL + ",;:" and not find_urls(words[i]):
                keep = i + 1
                break
        head: str = " ".join(words[:keep])
        if head[-1] not in _TERMINAL:
            head = _TRAILING_JUNK.sub("", head) + ELLIPSIS
        first = head
    urls = find_urls(body)
    if urls and not find_urls(first):
        start, end = urls[0]
        first = f"{first} {body[start:end]}"
    return first


def _hashtags(brief: str, count: int) -> list[str]:
    """Up to `count` hashtags from the brief's longest words (none if it has its own)."""
    if count <= 0 or _HAS_HASHTAG.search(brief):
        return []
    text = brief
    for start, end in reversed(find_urls(brief)):
        text = text[:start] + " " * (end - start) + text[end:]
    seen: set[str] = set()
    words: list[tuple[int, int, str]] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        key = word.casefold()
        if (
            key in seen
            or key in _STOPWORDS
            or not _MIN_TAG_WORD <= len(word) <= _MAX_TAG_WORD
            or _NO_SPACE_SCRIPTS.search(word)
        ):
            continue
        seen.add(key)
        words.append((-len(word), match.start(), word))
    chosen = sorted(words)[:count]
    return ["#" + _capitalise(word) for _, _, word in chosen]


# --- fitting ----------------------------------------------------------------------------------


def _largest(fits: Callable[[int], bool], high: int) -> int:
    """The largest n in [0, high] with fits(n), assuming fits is (mostly) monotone; 0 if none."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _shorten_to_fit(body: str, render: Callable[[str], str], network: Network) -> str:
    """Cut `body` at a word boundary (a grapheme boundary in scripts without spaces) + "…".

    When the cut loses a link, the first lost link is kept at the end if there is room.
    """
    clusters = _GRAPHEME.findall(body)
    offsets = [0]
    for cluster in clusters:
        offsets.append(offsets[-1] + len(cluster))
    urls = find_urls(body)

    def cut(count: int, tail: str) -> str:
        head = _TRAILING_JUNK.sub("", body[: offsets[count]])
        return f"{head}{ELLIPSIS}{tail}" if head else ELLIPSIS + tail

    def best(tail: str, most: int) -> tuple[int, str] | None:
        def fits(count: int) -> bool:
            return network.fits(render(cut(count, tail)))

        count = _largest(fits, most)
        if not fits(count):
            return None
        snapped = _snap(body, offsets, count, urls)
        if snapped > 0 and fits(snapped):
            count = snapped
        return count, render(cut(count, tail))

    plain = best("", len(clusters))
    if plain is None:
        return _hard_cut(render(ELLIPSIS), network)
    if urls and urls[0][1] > offsets[plain[0]]:  # the cut lost every link: keep the first
        start, end = urls[0]
        with_link = best(" " + body[start:end], bisect_right(offsets, start) - 1)
        if with_link is not None and with_link[0] > 0:
            return with_link[1]
    return plain[1]


def _snap(body: str, offsets: list[int], count: int, urls: list[tuple[int, int]]) -> int:
    """Move a cut after `count` graphemes back to a word boundary, and out of any link."""
    position = offsets[count]
    for start, end in urls:
        if start < position < end:
            position = start
    inside_word = 0 < position < len(body) and not (
        body[position].isspace() or body[position - 1].isspace()
    )
    if inside_word:
        space = max(body.rfind(" ", 0, position), body.rfind("\n", 0, position))
        if space >= offsets[count] // 2:
            position = space
        else:  # no spaces nearby (CJK, Thai): after a full-width mark, or keep the cut
            marks = [body.rfind(mark, 0, position) for mark in _CJK_BREAKS]
            if max(marks) >= offsets[count] * 3 // 4:
                position = max(marks) + 1
    return bisect_right(offsets, position) - 1


def _hard_cut(text: str, network: Network) -> str:
    """Last resort: drop graphemes from the end until it fits."""
    clusters = _GRAPHEME.findall(text)
    while clusters and not network.fits("".join(clusters)):
        clusters.pop()
    return "".join(clusters)
