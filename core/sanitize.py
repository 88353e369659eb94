"""Untrusted text on the way in (and model output on the way back): strip invisible characters
that can smuggle instructions past a human reader.

Stripped: Unicode tag characters (U+E0000 to U+E007F, "ASCII smuggling"), zero-width spaces and
joiners, bidi controls, variation selectors (incl. the supplement, used to hide bytes in a
single visible character), word joiners and invisible operators, the BOM, soft hyphens,
Hangul and Mongolian fillers, the combining grapheme joiner and interlinear annotation marks.
Kept: U+200D (zero-width joiner) between two emoji, and U+FE0F (emoji presentation) right after
a character that has an emoji form, so 👩‍💻 and ❤️ survive; everywhere else they go too.

Control characters go as well: C0 (but newline and tab), DEL and C1. A terminal escape sequence
(CSI such as `ESC [31m`, OSC such as a title or hyperlink, the two-character escapes) goes
whole: dropping only the ESC would leave its `[31m` behind as noise in a post. A carriage return
becomes a newline (on a terminal a lone one rewrites the line, hiding what came before). A lone
surrogate (which JSON can carry and no database can store) goes too.
"""

from __future__ import annotations

import re
import unicodedata

import regex

_INVISIBLE = regex.compile(
    "[\U000e0000-\U000e007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufe00-\ufe0f\U000e0100-\U000e01ef\ufeff\u00ad\u180b-\u180f\u034f\u061c"
    "\u115f\u1160\u3164\uffa0\ufff9-\ufffb\U0001d173-\U0001d17a]"
)
_EMOJI_BEFORE_JOINER = regex.compile(
    r"[\p{Extended_Pictographic}\p{Emoji_Modifier}\ufe0f\u20e3]", regex.V1
)
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Emoji}")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_LINE_SEPARATORS = str.maketrans({"\u2028": "\n", "\u2029": "\n"})
# OSC runs to BEL or ST (unterminated, only its opener goes: the rest may be the person's
# words); CSI to its final byte; else ESC and the one character after it.
_ESCAPE_SEQUENCE = regex.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\x20-\x7e]?"
)
# Lone surrogates too: a JSON body can carry "\\ud800", and no database can store one.
_CONTROL = regex.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# Printable ASCII, tabs and newlines: what nearly every id, name and command is, and already
# clean (NFC leaves ASCII alone; every invisible and C1 character is beyond it).
_PLAIN_ASCII = re.compile(r"[\t\n\x20-\x7e]*")


def clean_input(text: str) -> str:
    """NFC-normalise, drop escape sequences, control and invisible characters; keep ZWJ and
    FE0F inside emoji, newlines and tabs."""
    if text.isascii() and _PLAIN_ASCII.fullmatch(text):
        return text  # the ack path cleans every field of every command: skip the regexes
    text = _normal_lines(text)
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
    return str(_INVISIBLE.sub(_keep_emoji_parts, text))


def _normal_lines(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_LINE_SEPARATORS)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def has_invisible(text: str) -> bool:
    """Whether `text` holds a character `clean_input` would remove."""
    return clean_input(text) != _normal_lines(text)


def _keep_emoji_parts(match: regex.Match[str]) -> str:
    char = match.group(0)
    start, end = match.span()
    text = match.string
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if char == "\ufe0f" and before and _EMOJI.match(before):
        return str(char)
    joins_emoji = bool(
        before and after and _EMOJI_BEFORE_JOINER.match(before) and _PICTOGRAPHIC.match(after)
    )
    return str(char) if char == "\u200d" and joins_emoji else ""
