"""Media attached to drafts: fetched safely, stored, fitted to each network's limits.

`attach_bytes` is what the `attach <n> <url> [alt]` command (core.posts) and the Slack and
Telegram adapters (an uploaded file's bytes) call. The original goes into the media store once; for
each network of the post Herald checks type, size, dimensions and count, and an image over a
network's limits is resized or recompressed to fit (Pillow) rather than refused — the card's
warnings say so. What cannot be fitted (a video where Herald can't post one, a fifth image on
X) is left out for that network, with the reason on the card.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.context import Context, Tx
from core.errors import BadInput, Conflict
from core.networks import get_network
from core.permissions import Action, require
from core.ports import MediaStore
from core.posts.card import Message, build_card
from core.workspace.people import find_post, zone_of
from storage.models import Member, Post, PostState, Workspace

if TYPE_CHECKING:  # Pillow loads when an image arrives, not when the chat starts
    from PIL import Image

MB = 1024 * 1024
MAX_ALT = 1000


@dataclass(frozen=True)
class Limits:
    images: int  # how many media items one post takes
    image_bytes: int
    max_side: int  # longest image side, pixels
    video_bytes: int | None  # None: Herald does not post video there


LIMITS: dict[str, Limits] = {
    "x": Limits(4, 5 * MB, 8192, 512 * MB),
    "mastodon": Limits(4, 16 * MB, 8192, 99 * MB),
    "bluesky": Limits(4, 2_000_000, 4096, None),
    "linkedin": Limits(1, 8 * MB, 7000, None),
    "facebook": Limits(10, 4 * MB, 8192, None),
    "outbox": Limits(10, 50 * MB, 16384, 512 * MB),
}
_VIDEO_TYPES = {b"ftyp": "video/mp4"}
# Decoding costs memory by pixels, not by file size: a 400 KB PNG can declare 30,000×30,000.
# 50 megapixels takes a 48 MP phone photo; decoded as RGBA it is 200 MB at most.
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


def sniff(data: bytes) -> Sniffed:
    """What the bytes really are (never trust a name or a header)."""
    from PIL import UnidentifiedImageError

    if data[4:8] == b"ftyp":
        return Sniffed("video/quicktime" if data[8:10] == b"qt" else "video/mp4", "mp4")
    try:
        with open_image(data) as image:
            kind = (image.format or "").upper()
            size = image.size
        with open_image(data) as image:
            image.verify()
    except (UnidentifiedImageError, OSError) as exc:
        raise BadInput(
            "That file is not an image or video I can post (JPEG, PNG, GIF, WebP or MP4)."
        ) from exc
    types = {
        "JPEG": ("image/jpeg", "jpg"),
        "PNG": ("image/png", "png"),
        "GIF": ("image/gif", "gif"),
        "WEBP": ("image/webp", "webp"),
    }
    if kind not in types:
        raise BadInput(f"{kind or 'This'} images can't be posted; use JPEG, PNG, GIF or WebP.")
    ctype, ext = types[kind]
    return Sniffed(ctype, ext, size[0], size[1])


@contextmanager
def open_image(data: bytes) -> Iterator[Image.Image]:
    """The image with only its header read, refused when its pixels are over the budget.

    `Image.open` is lazy: nothing is decoded until `load`, `convert`, `resize` or `verify`, so
    the check on the declared size comes before any of them. Pillow's own bomb check (a warning
    over `Image.MAX_IMAGE_PIXELS`, an error over twice that) is left as it is: changing its
    process-wide setting or warning filter from a worker thread would race with other threads,
    and the explicit budget here is lower than both."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # far over: Pillow refused it from the header
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        shown = f"{int(pixels[1]) / 1e6:,.0f} megapixels" if pixels else "far too many pixels"
        raise BadInput(_too_many_pixels(shown)) from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise BadInput(_too_many_pixels(f"{width:,}×{height:,} pixels"))
        yield image


def _too_many_pixels(shown: str) -> str:
    return (
        f"That image is {shown}; I take images of up to {MAX_PIXELS // 1_000_000} megapixels. "
        "Send a smaller one (e.g. 8,000×6,000)."
    )


def _human(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{max(1, size // 1024):,} KB"


def fit_image(data: bytes, limits: Limits) -> tuple[bytes, int, int]:
    """Scale down and recompress (JPEG) until the image is within the limits."""
    from PIL import Image

    with open_image(data) as source:
        image = source.convert("RGB")
    side = min(max(image.size), limits.max_side)
    for _ in range(8):
        scale = side / max(image.size)
        candidate = (
            image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.LANCZOS,
            )
            if scale < 1
            else image
        )
        for quality in (88, 80, 70, 60):
            buffer = io.BytesIO()
            candidate.save(buffer, "JPEG", quality=quality, optimize=True)
            if buffer.tell() <= limits.image_bytes:
                return buffer.getvalue(), candidate.width, candidate.height
        side = int(side * 0.75)
    raise BadInput("The image could not be made small enough for this network.")


def _store(media: MediaStore, ws: Workspace, data: bytes, ctype: str, ext: str) -> str:
    key = f"{ws.id}/{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
    media.put(key, data, ctype)
    return key


def editable(post: Post) -> None:
    if post.state not in (PostState.DRAFT, PostState.PENDING_APPROVAL):
        raise Conflict(
            f"#{post.number} is {post.state.value.replace('_', ' ')}; media can only be "
            "attached before approval."
        )


def attach_bytes(
    ctx: Context,
    tx: Tx,
    ws: Workspace,
    me: Member,
    number: int,
    data: bytes,
    *,
    alt: str | None = None,
    source: str = "upload",
) -> Message:
    """Attach uploaded bytes (a Slack file, a Telegram photo) to post `number`."""
    require(me, Action.EDIT)
    media = ctx.need_media()
    post = find_post(tx, ws, number, lock=True)
    editable(post)
    kind = sniff(data)
    alt = (alt or "").strip()[:MAX_ALT]
    original = {
        "key": _store(media, ws, data, kind.content_type, kind.extension),
        "content_type": kind.content_type,
        "alt": alt,
        "size": len(data),
        "width": kind.width,
        "height": kind.height,
        "source": source[:300],
    }
    post.media = [*(post.media or []), original]
    notes: list[str] = []
    for target in post.targets:
        limits = LIMITS.get(target.network, LIMITS["outbox"])
        name = get_network(target.network).display
        item, note = _fit(media, ws, data, kind, original, limits, len(target.media or []), name)
        if item is not None:
            target.media = [*(target.media or []), item]
        if note:
            warnings = list((target.warnings or {}).get("items", []))
            target.warnings = {**(target.warnings or {}), "items": [*warnings, note]}
            notes.append(note)
    what = "video" if kind.content_type.startswith("video/") else "image"
    dims = f" ({kind.width}×{kind.height}, {_human(len(data))})" if kind.width else ""
    if not alt and what == "image":
        notes.append("⚠ no alt text: add one for people using screen readers")
    tx.session.flush()
    card = build_card(post, tz=zone_of(me, ws), now=tx.now, status="Waiting for approval")
    text = f"📎 Attached {what}{dims} to #{post.number}."
    if notes:
        text += " " + " ".join(notes)
    return Message(text=text, card=card, post_number=post.number)


def _fit(
    media: MediaStore,
    ws: Workspace,
    data: bytes,
    kind: Sniffed,
    original: dict[str, Any],
    limits: Limits,
    count: int,
    name: str,
) -> tuple[dict[str, Any] | None, str | None]:
    if count >= limits.images:
        return None, f"⚠ {name} takes {limits.images} media item(s) per post; this one is left out"
    if kind.content_type.startswith("video/"):
        if limits.video_bytes is None:
            return None, f"⚠ {name}: Herald can't post video there yet; left out"
        if len(data) > limits.video_bytes:
            cap = _human(limits.video_bytes)
            return None, f"⚠ {name} takes videos up to {cap}; this one is left out"
        return dict(original), None
    too_big = len(data) > limits.image_bytes
    too_wide = max(kind.width or 0, kind.height or 0) > limits.max_side
    if not too_big and not too_wide:
        return dict(original), None
    fitted, width, height = fit_image(data, limits)
    item = {
        **original,
        "key": _store(media, ws, fitted, "image/jpeg", "jpg"),
        "content_type": "image/jpeg",
        "size": len(fitted),
        "width": width,
        "height": height,
    }
    return item, f"ℹ resized for {name} to {width}×{height}, {_human(len(fitted))}"
