"""The offline template generator, used when no LLM is configured.

It shapes the brief into one post per network with no model and no network calls, so the same
request always gives the same text, and it never adds a fact or a number the brief does not
have. A post is a hook line, the point and, when the brief has a link, a call to action:

* the hook is the brief's own headline (the words before a colon, or its first sentence or
  line); a one-sentence brief gets a lead-in naming only the kind of news ("🚀 Launch news",
  "💼 Join the team", "📅 Event news", "🙏 Shout-out", "🤔 Quick question", "📣 Quick update");
* the point is the rest of the brief, tidied (capitals, full stops; one paragraph on X);
* the call to action is the short sentence the brief's last link ends ("Read the guide at
  https://…"), or "Read more: <link>" when that link ended a longer sentence. A link inside a
  sentence stays where it is.

LinkedIn and Facebook end with a question for comments; X and the outbox add two hashtags
made from the brief's longest words, LinkedIn and Mastodon three (none when the brief has its
own). The workspace's voice is applied the way model drafts get it (`compose`): the
disclosure and the required hashtags, each once; the emoji policy (none: no emoji; few: at
most two, the lead-in's emoji only when the brief has fewer); the network's template,
rendered in the sandbox (`core.templating`); UTM parameters on links. The voice's other rules
(banned words, claims) stay card warnings: the generator does not rewrite the brief.

Each variant fits its network, measured with the network's own count (`core.networks`). X
text that does not fit one post becomes a thread (`Variant.parts`): posts numbered "1/3",
each within the limit, the hook, disclosure and hashtags (or the template) in the first, the
call to action in the last. On the other networks the point is cut at a word boundary with
"…", the hook and call to action kept, and the variant says so in its warnings. Feedback that
asks for "shorter" drops the extras but the voice's and keeps the first sentence; "formal"
drops emoji and exclamation marks. Every variant is labelled ``generator="offline"``.
"""

from __future__ import annotations

import time
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import regex

from core.generation.compose import MAX_THREAD, compose
from core.networks import Network, find_urls, get_network, is_emoji_cluster
from core.ports import GenerationRequest, Variant
from core.textlint import add_utm, emoji_count, missing_tags
from core.voice import FEW_EMOJI, BrandVoice

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
    lead_emoji: bool  # may the hook line start with an emoji (the voice's emoji policy)


@dataclass(frozen=True)
class _Layout:
    """One network's shape: how many hashtags from the brief, and whether a question for
    comments closes the post."""

    tags: int = 0
    closer: bool = False


LAYOUTS = {
    "outbox": _Layout(tags=2),
    "x": _Layout(tags=2),
    "linkedin": _Layout(tags=3, closer=True),
    "facebook": _Layout(closer=True),
    "mastodon": _Layout(tags=3),
    "bluesky": _Layout(),
}
CLOSERS = {
    "linkedin": ("What do you think?", "We would welcome your perspective."),
    "facebook": ("Let us know what you think in the comments.", "We welcome your comments."),
}
# The hook line of a one-sentence brief, by what the brief is about: (emoji, casual, formal).
# They name the kind of news and nothing more, so they never add a fact.
LEAD_INS: tuple[tuple[regex.Pattern[str], str, str, str], ...] = (
    (
        regex.compile(r"\b(?:hiring|open (?:roles?|positions?)|join (?:our|the) team)\b", regex.I),
        "💼",
        "Join the team",
        "Career opportunity",
    ),
    (
        regex.compile(
            r"\b(?:webinar|meetup|conference|workshop|livestream|summit|join us|event)s?\b",
            regex.I,
        ),
        "📅",
        "Event news",
        "Event announcement",
    ),
    (
        regex.compile(
            r"\b(?:(?:is|are|now|went|goes|go|going) live|launch\w*|releas\w*|available"
            r"|introduc\w*|ship(?:s|ped|ping)?|(?:is|now) out)\b",
            regex.I,
        ),
        "🚀",
        "Launch news",
        "An announcement",
    ),
    (
        regex.compile(r"\b(?:thanks?|thank you|grateful)\b", regex.I),
        "🙏",
        "Shout-out",
        "With thanks",
    ),
    (regex.compile(r"[?？]\s*$"), "🤔", "Quick question", "A question for you"),
)
DEFAULT_LEAD_IN = ("📣", "Quick update", "An update")
READ_MORE = "Read more:"
CTA_WORDS = 6  # a link's sentence with at most this many other words is the call to action
_HEAD = regex.compile(r"^(?P<head>[^:]{2,80}?):\s+(?P<tail>\S.*)$", regex.DOTALL)
_CONNECTORS = regex.compile(r"(?:[\s:,;–—-]+(?:at|on|here|via|in|from|see|to))*[\s:,;–—-]*$")
# What may follow a link that ends its sentence: closing marks, then the line's end or the
# next sentence.
_AFTER_LINK = regex.compile(r"^[.!?…。！？]*(?:$|\s+(?=[\p{Lu}\p{Lt}\p{Lo}\p{N}\"“'‘(\[]))")
NUMBERING_ROOM = len(" 25/25")  # the most a thread's "i/n" adds to a post


class OfflineGenerator:
    """Template drafts, one per requested network, in the order asked."""

    label = "offline"

    def generate(
        self, request: GenerationRequest, voice: BrandVoice | None = None, workspace: str = ""
    ) -> list[Variant]:
        """`voice` is the workspace's brand voice, applied to every variant; `workspace` its
        name for templates (the request's when not given)."""
        voice = voice or BrandVoice()
        brief = _clean(request.brief)
        formal = bool(_FORMAL.search(request.feedback or ""))
        if formal:
            brief = _formalise(brief) or brief
        if not brief:
            raise ValueError("The brief is empty, so there is nothing to write about.")
        if voice.emoji == "none":
            brief = _without_emoji(brief, 0) or brief
        elif voice.emoji == "few":
            brief = _without_emoji(brief, FEW_EMOJI) or brief
        style = _Style(
            shorter=bool(_SHORTER.search(request.feedback or "")),
            formal=formal,
            lead_emoji=not formal
            and (voice.emoji == "any" or (voice.emoji == "few" and emoji_count(brief) < FEW_EMOJI)),
        )
        values = {
            "workspace": workspace or request.workspace_name,
            "post_number": request.post_number,
            "brief": request.brief,
        }
        return [
            _variant(get_network(name), brief, style, voice, values) for name in request.networks
        ]


def _variant(
    network: Network, brief: str, style: _Style, voice: BrandVoice, values: dict[str, Any]
) -> Variant:
    layout = LAYOUTS.get(network.name, _Layout())
    derived = tuple(_hashtags(brief, layout.tags))
    write = _Writer(network, voice, values)
    shape = _shape(brief, style, flat=network.name == "x")
    closer = CLOSERS[network.name][style.formal] if layout.closer and not shape.asks else ""
    parts: tuple[str, ...] = ()
    notes: list[str] = []
    text = write(_join(shape.hook, shape.point, shape.cta, closer), derived)
    cut = not network.fits(text)
    if cut and network.name == "x":
        posts, lost = _thread(shape, derived, write, network)
        text, parts, cut = posts[0], posts[1:], False
        if parts:
            notes.append(f"Split into a thread of {len(posts)} posts to fit {network.display}.")
        if lost:
            notes.append(f"Shortened to fit a thread of {MAX_THREAD} posts on {network.display}.")
    elif cut:
        text = _cut_to_fit(shape, closer, derived, write, network)
    if style.shorter:
        body = _sentence(_flatten(brief) if network.name == "x" else brief)
        text, cut = _shorter(body, text, cut, network, write)
        parts, notes = (), []
    if cut:
        notes.append(f"Shortened to fit {network.display}'s limit of {network.limit_text}.")
    return Variant(
        network.name,
        text,
        OfflineGenerator.label,
        tuple(write.notes + notes),
        parts=parts,
        hashtags=write.hashtags,
    )


# --- the shape: a hook line, the point, a call to action ----------------------------------------


@dataclass(frozen=True)
class _Shape:
    hook: str
    point: str  # paragraphs, "\n\n" between them
    cta: str  # "" when the brief has no link to end on
    asks: bool  # the brief ends with a question: no closing question after it


def _shape(brief: str, style: _Style, *, flat: bool) -> _Shape:
    """The brief as a hook line, the point and a call to action, each only from its words."""
    rest, cta = _split_cta(brief)
    lines = [line.strip() for line in rest.split("\n") if line.strip()]
    first = _sentences(lines[0])[0][0] if lines else ""
    head = _HEAD.match(first)
    if head and not find_urls(head["head"]) and len(head["head"].split()) <= 8:
        hook = _sentence(head["head"].strip())
        lines[0] = head["tail"].strip() + lines[0][len(first) :]
    elif lines and (len(lines) > 1 or len(_sentences(lines[0])) > 1):
        hook = _sentence(first)
        lines[0] = lines[0][len(first) :].strip()
    else:
        hook = _lead_in(brief, style)
    paragraphs = [_sentence(line) for line in lines if line]
    point = _flatten("\n".join(paragraphs)) if flat else "\n\n".join(paragraphs)
    return _Shape(hook, point, cta, asks=brief.rstrip().endswith(("?", "？")))


def _sentences(text: str) -> list[tuple[str, str]]:
    """The sentences of one paragraph, each with the space that came before it ("" for the
    first, and between sentences of scripts without spaces)."""
    out: list[tuple[str, str]] = []
    position = 0
    space = ""
    for match in _SENTENCE_END.finditer(text):
        if match.start() > position:
            out.append((text[position : match.start()], space))
            space = match.group(0)
        position = match.end()
    if position < len(text):
        out.append((text[position:], space))
    return out or [(text, "")]


def _lead_in(brief: str, style: _Style) -> str:
    """The hook of a one-sentence brief: what kind of news it is, read from its words (not
    its links)."""
    words_only = brief
    for start, end in reversed(find_urls(brief)):
        words_only = words_only[:start] + words_only[end:]
    emoji, casual, formal = DEFAULT_LEAD_IN
    for pattern, *words in LEAD_INS:
        if pattern.search(words_only):
            emoji, casual, formal = words
            break
    words_ = formal if style.formal else casual
    return f"{emoji} {words_}" if style.lead_emoji else words_


def _split_cta(brief: str) -> tuple[str, str]:
    """The brief without its call to action, and the call to action: the sentence the last
    link ends, when it is short ("Read the guide at <link>"), or "Read more: <link>" with the
    link taken out of a longer sentence. A link inside a sentence stays where it is."""
    urls = find_urls(brief)
    if not urls:
        return brief, ""
    start, end = urls[-1]
    line_start = brief.rfind("\n", 0, start) + 1
    line_end = brief.find("\n", end)
    line_end = len(brief) if line_end < 0 else line_end
    after = _AFTER_LINK.match(brief[end:line_end])
    if after is None:
        return brief, ""
    stops = [m.end() for m in _SENTENCE_END.finditer(brief, line_start, start)]
    sentence_start = stops[-1] if stops else line_start
    lead = brief[sentence_start:start].strip()
    link = brief[start:end]
    rest_after = brief[end + after.end() :]
    if len(lead.split()) <= CTA_WORDS:
        cta = f"{_capitalise(lead)} {link}" if lead else f"{READ_MORE} {link}"
        rest = brief[:sentence_start] + rest_after
    else:
        kept = _with_stop(_CONNECTORS.sub("", lead))
        cta = f"{READ_MORE} {link}"
        rest = brief[:sentence_start] + kept + rest_after
    return _clean(rest), cta


def _join(*blocks: str) -> str:
    return "\n\n".join(block for block in blocks if block)


def _without_emoji(text: str, keep: int) -> str:
    """At most `keep` emoji (the first ones); links are left alone."""
    kept = 0
    pieces: list[str] = []
    position = 0
    for start, end in [*find_urls(text), (len(text), len(text))]:
        for cluster in _GRAPHEME.findall(text[position:start]):
            if cluster in _TEXT_SYMBOLS or not is_emoji_cluster(cluster):
                pieces.append(cluster)
            elif kept < keep:
                kept += 1
                pieces.append(cluster)
        pieces.append(text[start:end])
        position = end
    return _clean("".join(pieces))


# --- the voice ------------------------------------------------------------------------------------


class _Writer:
    """A body with the voice on it, as model drafts get it (`compose`): the template, or the
    hashtags it lacks after it; the disclosure and required hashtags first; UTM on links.

    A template that fails is not tried again (the variant says so), nor one that has used
    TEMPLATE_SECONDS over the renders one variant needs to fit (each is bounded by the sandbox).
    """

    def __init__(self, network: Network, voice: BrandVoice, values: dict[str, Any]) -> None:
        self.network = network
        self.voice = voice
        self.values = values
        self.notes: list[str] = []
        self.hashtags: tuple[str, ...] = ()
        self.spent = 0.0

    @property
    def templated(self) -> bool:
        return bool(self.voice.templates.get(self.network.name))

    def __call__(self, body: str, tags: Sequence[str], *, voice: BrandVoice | None = None) -> str:
        voice = voice or self.voice
        if self.templated and (self.notes or self.spent > TEMPLATE_SECONDS):
            voice = replace(voice, templates={})
        started = time.monotonic()
        composed = compose(self.network.name, body, tuple(tags), (), voice, self.values)
        if voice.templates:
            self.spent += time.monotonic() - started
            if self.spent > TEMPLATE_SECONDS and not self.notes:
                self.notes.append(
                    f"⚠ the {self.network.display} template took too long; used the plain text"
                )
        if composed.notes and not self.notes:
            self.notes.extend(composed.notes)
        self.hashtags = composed.hashtags
        return composed.text

    def plain(self, text: str) -> str:
        """A further post of a thread: only UTM on its links (the first post has the rest)."""
        return add_utm(text, self.voice.utm)


TEMPLATE_SECONDS = 3.0


# --- cuts and threads ------------------------------------------------------------------------


def _cut_to_fit(
    shape: _Shape, closer: str, derived: Sequence[str], write: _Writer, network: Network
) -> str:
    """The point cut with "…" (hook, call to action, closer and hashtags kept while they fit);
    else hook and point cut together; else the plain text cut."""
    for ending, tags in ((closer, derived), ("", ())):

        def render(point: str, ending: str = ending, tags: Sequence[str] = tags) -> str:
            return write(_join(shape.hook, point, shape.cta, ending), tags)

        if shape.point and network.fits(render(ELLIPSIS)):
            return _shorten_to_fit(shape.point, render, network)
    merged = _join(shape.hook, shape.point)

    def bare(body: str) -> str:
        return write(_join(body, shape.cta), ())

    if network.fits(bare(ELLIPSIS)):
        return _shorten_to_fit(merged, bare, network)
    return _shorten_to_fit(_join(merged, shape.cta), _as_is, network)


def _thread(
    shape: _Shape, derived: Sequence[str], write: _Writer, network: Network
) -> tuple[tuple[str, ...], bool]:
    """X posts that each fit, numbered "1/3": the hook, disclosure and hashtags in the first,
    sentences packed in order, the call to action last; and whether text was left out (it
    needed more than MAX_THREAD posts)."""
    units: list[tuple[str, str]] = [(shape.hook, "")]
    if shape.point:
        sentences = _sentences(shape.point)
        units += [(text, space if i else "\n\n") for i, (text, space) in enumerate(sentences)]
    if shape.cta:
        units.append((shape.cta, "\n\n"))
    first = _first_post(shape, derived, write, network)
    later = replace(network, limit=network.limit - NUMBERING_ROOM)

    def fits(index: int, body: str) -> bool:
        if index == 0:
            return network.fits(first(f"{body} {MAX_THREAD}/{MAX_THREAD}"))
        return later.fits(body)

    posts: list[str] = []
    current = ""
    for text, joiner in units:
        candidate = f"{current}{joiner}{text}" if current else text
        if fits(len(posts), candidate):
            current = candidate
            continue
        if current and fits(len(posts) + 1, text):  # a sentence that fits a post is not split
            posts.append(current)
            current = text
            continue
        while True:  # longer than a post: fill this one with its start, go on in the next
            prefix = f"{current}{joiner}" if current else ""
            head = _longest_head(text, partial(_fits_after, fits, len(posts), prefix))
            if not head and not current:  # not even one grapheme fits (combining marks)
                head = _GRAPHEME.findall(text)[0]
            if head:
                current = prefix + head
                text = text[len(head) :].strip()
            if not text:
                break
            posts.append(current)
            current, joiner = "", ""
            if fits(len(posts), text):
                current = text
                break
    if current:
        posts.append(current)
    lost = len(posts) > MAX_THREAD
    if lost:
        rest = " ".join(posts[MAX_THREAD - 1 :])
        posts = [*posts[: MAX_THREAD - 1], _shorten_to_fit(rest, _as_is, later)]
    total = len(posts)
    if total == 1:
        return (first(posts[0]),), lost
    numbered = [first(f"{posts[0]} 1/{total}")]
    numbered += [write.plain(f"{post} {i}/{total}") for i, post in enumerate(posts[1:], start=2)]
    return tuple(numbered), lost


def _fits_after(fits: Callable[[int, str], bool], index: int, prefix: str, text: str) -> bool:
    return fits(index, prefix + text)


def _first_post(
    shape: _Shape, derived: Sequence[str], write: _Writer, network: Network
) -> Callable[[str], str]:
    """How the first post of a thread is written: with the voice (a hashtag the brief has
    elsewhere in the thread is not added again), the brief's hashtags while they fit."""
    whole = _join(shape.hook, shape.point, shape.cta)
    voice = replace(write.voice, hashtags=tuple(missing_tags(whole, write.voice.hashtags)))
    for tags in (tuple(derived), ()):

        def render(body: str, tags: tuple[str, ...] = tags) -> str:
            return write(body, tags, voice=voice)

        if network.fits(render(f"{ELLIPSIS} {MAX_THREAD}/{MAX_THREAD}")):
            return render
    return _as_is  # the voice's own extras are too long for one post: the card warns


def _longest_head(text: str, fits: Callable[[str], bool]) -> str:
    """The longest start of `text` that fits: whole words, else whole graphemes ("" if none).

    Whole words while at least one fits; a text whose first word alone is too long (CJK, a
    run of emoji) is cut between graphemes."""
    words = regex.split(r"(?<=\s)", text)
    head = ""
    for word in words:
        if not fits((head + word).strip()):
            break
        head += word
    if head.strip():
        return head.strip()
    clusters = _GRAPHEME.findall(text)
    count = _largest(lambda n: n == 0 or fits("".join(clusters[:n])), len(clusters))
    return "".join(clusters[:count])


def _as_is(text: str) -> str:
    return text


def _shorter(
    body: str, usual: str, usual_cut: bool, network: Network, write: _Writer
) -> tuple[str, bool]:
    """For "shorter" feedback: no extras but the voice's, the first sentence, and in any case
    shorter than the usual variant when the brief has enough words to lose some."""

    def voiced(text: str) -> str:
        return write(text, ())

    condensed = _condense(body)
    text, cut = (voiced(condensed), False)
    if not network.fits(text):
        text, cut = _shorten_to_fit(condensed, voiced, network), True
        if not network.fits(text):
            text = _shorten_to_fit(condensed, _as_is, network)
    usual_length = network.length(usual)
    if network.length(text) < usual_length:
        return text, cut
    if len(body.split()) < 6 and len(_GRAPHEME.findall(body)) < 30:
        return text, cut  # a few words already: nothing sensible to drop
    target = replace(network, limit=max(1, usual_length * 2 // 3))
    render = voiced if target.fits(voiced(ELLIPSIS)) else _as_is
    return _shorten_to_fit(body, render, target), usual_cut


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
