"""Surface-neutral views of posts (the approval card) and messages; bot/ renders them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import object_session

from core.errors import BadInput
from core.networks import get_network
from core.timeparse import format_when
from storage.models import Post, PostState, Target, TargetState
from storage.models_analytics import LatestFigures

BRIEF_PREVIEW = 120
# One file a message carries (a chart, an export): Telegram's limit for a photo, and far more
# than a chart or a year of figures as CSV needs. Files are kept in the database until sent.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 10  # files with one message
# In a failed target's `warnings`: Herald could not check whether it went out; ask a person.
ASKING = "ask_if_posted"


@dataclass(frozen=True)
class Button:
    action: str
    label: str
    style: str | None = None
    value: str | None = None  # e.g. the network of "Skip LinkedIn"


@dataclass(frozen=True)
class VariantView:
    network: str
    name: str
    text: str
    length: int
    limit: int
    unit: str
    state: str
    warnings: list[str] = field(default_factory=list)
    url: str | None = None
    reason: str | None = None
    media: list[str] = field(default_factory=list)  # one line per attached item
    # Once published and read back: "📈 after 24 h: 1,204 impressions · 38 likes".
    figures: str | None = None
    # An X thread: the posts after the first (`text`, counted in `length`), so the card shows
    # everything an approval publishes. Empty for a single post; absent from payloads stored
    # before cards showed threads.
    parts: list[str] = field(default_factory=list)

    def posts(self) -> list[tuple[str, int]]:
        """Every post this variant publishes, in order, each with its own length."""
        if not self.parts:
            return [(self.text, self.length)]
        network = get_network(self.network)
        return [(self.text, self.length), *((part, network.length(part)) for part in self.parts)]

    @property
    def over(self) -> bool:
        """Whether any of its posts is over the network's limit."""
        return any(length > self.limit for _, length in self.posts())

    @property
    def count(self) -> str:
        """The length beside the network's name: "214/280"; for a thread "thread of 3 posts",
        each post's own count then going with it (`counts`)."""
        if not self.parts:
            return f"{self.length:,}/{self.limit:,}"
        return f"thread of {len(self.parts) + 1} posts"

    def counts(self) -> list[str]:
        """Each post's own length against the limit, in order: ["273/280", "225/280"]."""
        return [f"{length:,}/{self.limit:,}" for _, length in self.posts()]


@dataclass(frozen=True)
class Card:
    number: int
    title: str
    brief: str
    variants: list[VariantView]
    when: str
    status: str | None
    buttons: list[Button]
    note: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: a chart (PNG) or an export (CSV). Slack gets it as an
    uploaded file, Telegram as a photo (PNG) or document, the terminal as a file in the data
    folder with its path printed."""

    name: str  # the file's name, e.g. "herald-stats-30d.png"
    mime: str  # "image/png", "text/csv"
    data: bytes
    title: str = ""  # one line shown with it (Slack's title, Telegram's caption)

    def __post_init__(self) -> None:
        # Refused where it is made, so a command's answer says so and nothing is stored.
        if len(self.data) > MAX_FILE_BYTES:
            raise BadInput(
                f"I can't send {cut(self.name, 80)}: it is {megabytes(len(self.data))}, and a "
                f"file in chat may be at most {megabytes(MAX_FILE_BYTES)}. "
                "Ask for less, e.g. a shorter period."
            )


@dataclass(frozen=True)
class Message:
    """What Herald says: a line of text, a card, or both. `error` marks a refusal. `files`
    go with the text (see `Attachment`); they are stored apart from the payload. `secret`:
    it carries a secret for one person (a 2FA link, an API token): its stored copy is wiped
    once sent. `whole`: the answer to `show`: a surface that had to cut the card's texts to fit
    one message sends them whole after it."""

    text: str | None = None
    card: Card | None = None
    error: bool = False
    post_number: int | None = None
    files: tuple[Attachment, ...] = ()
    secret: bool = False
    whole: bool = False

    def __post_init__(self) -> None:
        if len(self.files) > MAX_FILES:
            raise BadInput(
                f"I can send at most {MAX_FILES} files with one message, not "
                f"{len(self.files)}. Ask for fewer at a time."
            )

    def to_payload(self) -> dict[str, Any]:
        payload = asdict(self)
        del payload["files"]  # bytes: kept in rows of their own by whoever stores the message
        return payload

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Message:
        card = data.get("card")
        if card is not None:
            card = Card(
                **{
                    **card,
                    "variants": [VariantView(**v) for v in card["variants"]],
                    "buttons": [Button(**b) for b in card["buttons"]],
                }
            )
        return cls(
            text=data.get("text"),
            card=card,
            error=bool(data.get("error")),
            post_number=data.get("post_number"),
            secret=bool(data.get("secret")),
            whole=bool(data.get("whole")),
        )


def megabytes(size: int) -> str:
    """A file size as people read it, rounded up: "12.4 MB", "10 MB" (a byte over is 10.1)."""
    tenths = -(-size * 10 // (1024 * 1024))
    return f"{tenths // 10} MB" if tenths % 10 == 0 else f"{tenths / 10:.1f} MB"


def cut(text: str, limit: int = BRIEF_PREVIEW) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def networks_phrase(networks: list[str]) -> str:
    names = [get_network(n).display for n in networks]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _variant(target: Target, figures: str | None = None) -> VariantView:
    network = get_network(target.network)
    warnings = [str(w) for w in target.warnings.get("items", [])] if target.warnings else []
    return VariantView(
        network=network.name,
        name=network.display,
        text=target.text,
        length=network.length(target.text),
        limit=network.limit,
        unit=network.unit,
        state=target.state.value,
        warnings=warnings,
        url=target.external_url,
        reason=target.failure_reason,
        media=[media_line(item) for item in target.media or []],
        figures=figures,
        parts=list(target.parts or []),
    )


_COUNTED = (
    ("impressions", "impression", "impressions"),
    ("likes", "like", "likes"),
    ("reposts", "repost", "reposts"),
    ("replies", "reply", "replies"),
    ("quotes", "quote", "quotes"),
    ("clicks", "click", "clicks"),
)


def counts_text(**counts: int | None) -> str:
    """ "1,204 impressions · 38 likes · 3 reposts": impressions when the network tells, likes
    always, the others when there are any."""
    parts = []
    for key, one, many in _COUNTED:
        value = counts.get(key)
        if value is None or (value == 0 and key not in ("impressions", "likes")):
            continue
        parts.append(f"{value:,} {one if value == 1 else many}")
    return " · ".join(parts)


def _age(published_at: datetime, taken_at: datetime) -> str:
    seconds = max(0.0, (taken_at - published_at).total_seconds())
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def _figures(post: Post) -> dict[int, str]:
    """Target id → its figures line, for the post's published targets read at least once.
    Read through the post's own session, so every card drawn shows them (the delivery redraws
    cards from the rows)."""
    published = [t.id for t in post.targets if t.state == TargetState.PUBLISHED]
    session = object_session(post)
    if not published or session is None:
        return {}
    f = LatestFigures
    rows = session.execute(
        select(
            f.target_id,
            f.network,
            f.published_at,
            f.taken_at,
            f.impressions,
            f.likes,
            f.reposts,
            f.replies,
            f.quotes,
            f.clicks,
            f.gone,
        ).where(f.target_id.in_(published), f.taken_at.is_not(None))
    )
    lines = {}
    for row in rows:
        counts = counts_text(
            impressions=row.impressions,
            likes=row.likes,
            reposts=row.reposts,
            replies=row.replies,
            quotes=row.quotes,
            clicks=row.clicks,
        )
        if row.gone:
            seen = row.likes + row.reposts + row.replies + row.quotes + (row.impressions or 0)
            name = get_network(row.network).display
            lines[row.target_id] = f"🗑 deleted on {name}" + (
                f"; last figures: {counts}" if seen else ""
            )
        else:
            lines[row.target_id] = f"📈 after {_age(row.published_at, row.taken_at)}: {counts}"
    return lines


def media_line(item: dict[str, Any]) -> str:
    """What a card shows of one attached item, e.g. "🖼 image 640x480 · alt: A sunset"."""
    video = str(item.get("content_type", "")).startswith("video/")
    line = "🎬 video" if video else "🖼 image"
    if item.get("width") and item.get("height"):
        line += f" {item['width']}×{item['height']}"
    alt = item.get("alt")
    return line + (f" · alt: {cut(str(alt), 80)}" if alt else " · no alt text")


def asking(target: Target) -> bool:
    """Whether this failed target's card asks "Did this go out?" instead of offering Retry."""
    return target.state == TargetState.FAILED and bool((target.warnings or {}).get(ASKING))


def asking_cleared(target: Target) -> dict[str, Any]:
    return {k: v for k, v in (target.warnings or {}).items() if k != ASKING}


def _buttons(post: Post) -> list[Button]:
    if post.state == PostState.PENDING_APPROVAL:
        return [
            Button("approve", "Approve", "primary"),
            Button("edit", "Edit"),
            Button("regenerate", "Regenerate"),
            Button("reject", "Reject", "danger"),
        ]
    if post.state in {PostState.DRAFT, PostState.REJECTED}:
        return [Button("edit", "Edit"), Button("regenerate", "Regenerate")]
    if post.state == PostState.EXPIRED:
        return [Button("reschedule", "Reschedule", "primary"), Button("edit", "Edit")]
    states = {t.state for t in post.targets}
    if post.state == PostState.APPROVED:
        if TargetState.DRAFT in states:  # held: its time passed during a pause
            return [
                Button("release", "Publish now", "primary"),
                Button("reschedule", "Reschedule"),
                Button("cancel", "Cancel", "danger"),
            ]
        failed = [t for t in post.targets if t.state == TargetState.FAILED]
        unsure = [t for t in failed if asking(t)]
        if unsure:  # one question at a time; the others' buttons come back once it is answered
            network = unsure[0].network
            return [
                Button("posted", "Yes, it's up", "primary", value=network),
                Button("retry", "No, post it", value=network),
            ]
        if failed:
            skips = [
                Button("skip", f"Skip {get_network(t.network).display}", value=t.network)
                for t in failed
            ]
            return [Button("retry", "Retry", "primary"), Button("slot", "Next free slot"), *skips]
        if states & {TargetState.SCHEDULED}:
            return [Button("cancel", "Cancel", "danger")]
    return []


def when_text(instant: datetime | None, tz: ZoneInfo, now: datetime) -> str:
    return format_when(instant, tz, now=now) if instant else "as soon as approved"


def title_word(post: Post) -> str:
    """What the post is now, the first word of its card's title: a published post's card is
    no longer titled "Draft"."""
    if post.state != PostState.APPROVED:
        return {
            PostState.REJECTED: "Rejected",
            PostState.CANCELLED: "Cancelled",
            PostState.EXPIRED: "Expired",
        }.get(post.state, "Draft")
    states = {t.state for t in post.targets}
    if TargetState.FAILED in states:
        return "Partly published" if TargetState.PUBLISHED in states else "Failed"
    if states & {TargetState.QUEUED, TargetState.PUBLISHING, TargetState.UNKNOWN}:
        return "Publishing"
    if TargetState.SCHEDULED in states:
        return "Scheduled"
    if TargetState.DRAFT in states:
        return "Held"
    return "Published" if TargetState.PUBLISHED in states else "Approved"


def _pause_note(post: Post, tz: ZoneInfo, now: datetime) -> str | None:
    """The pause holding the post's workspace, as every card of it shows while it lasts."""
    session = object_session(post)
    done = {TargetState.PUBLISHED, TargetState.CANCELLED}
    if session is None or all(t.state in done for t in post.targets):
        return None
    # Imported here: the pause module draws cards itself (the posts it held).
    from core.publishing.pause import active, describe

    held = active(session, post.workspace_id, now)
    return describe(held, tz, now) if held else None


def _overdue_note(post: Post, tz: ZoneInfo, now: datetime) -> str | None:
    """Its time passed and nothing runs to publish it: every card of it says so."""
    session = object_session(post)
    if session is None:
        return None
    from core.scheduling.stalled import overdue_note

    return overdue_note(session, post, tz, now)


def build_card(
    post: Post, *, tz: ZoneInfo, now: datetime, status: str | None = None, note: str | None = None
) -> Card:
    targets = list(post.targets)
    scheduled = [t.scheduled_at for t in targets if t.scheduled_at is not None]
    planned = min(scheduled) if scheduled else post.planned_at
    shown = _figures(post)
    paused = _pause_note(post, tz, now)
    if paused:
        note = f"{paused}\n{note}" if note else paused
    elif (late := _overdue_note(post, tz, now)) is not None:
        note = f"{late}\n{note}" if note else late
    return Card(
        number=post.number,
        title=(
            f"#{post.number} · {title_word(post)} by @{post.author.display_name} · "
            f"for {networks_phrase([t.network for t in targets])}"
        ),
        brief=cut(post.brief),
        variants=[_variant(t, shown.get(t.id)) for t in targets],
        when=when_text(planned, tz, now),
        status=status,
        buttons=_buttons(post),
        note=note,
    )
