"""Untrusted text on the way in: strip invisible characters used to smuggle instructions."""

from __future__ import annotations

import re
import unicodedata

# Tag characters, zero-width and bidi controls, variation selectors (incl. the supplement),
# the BOM and other format characters that render as nothing.
_INVISIBLE = re.compile(
    "[\U000e0000-\U000e007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufe00-\ufe0f\U000e0100-\U000e01ef\ufeff\u00ad\u180e]"
)


def clean_input(text: str) -> str:
    """NFC-normalise and drop invisible characters; keep ZWJ inside emoji sequences."""
    text = unicodedata.normalize("NFC", text)
    return _INVISIBLE.sub(_keep_emoji_joiner, text)


def _keep_emoji_joiner(match: re.Match[str]) -> str:
    # U+200D joins emoji into one (👩‍💻) and U+FE0F asks for emoji presentation: keep them
    # only between visible characters, where they cannot hide a message.
    char = match.group(0)
    if char in {"\u200d", "\ufe0f"}:
        start, end = match.span()
        text = match.string
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        if (
            before
            and after
            and not before.isspace()
            and not after.isspace()
            and ord(before) > 0x2000
        ):
            return char
    return ""
