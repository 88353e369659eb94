"""The ports core talks through: small typed interfaces that bot/ and workers/ implement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from core.ratelimit import Admission


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


@dataclass(frozen=True)
class GenerationRequest:
    brief: str
    networks: tuple[str, ...]
    workspace_name: str
    post_number: int
    feedback: str | None = None
    workspace_id: int | None = None
    post_id: int | None = None
    author_id: int | None = None


@dataclass(frozen=True)
class Variant:
    network: str
    text: str
    generator: str
    warnings: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()  # further posts of an X thread, after `text`
    hashtags: tuple[str, ...] = ()
    alt_texts: tuple[str, ...] = ()  # one per attached media item, in order


class Generator(Protocol):
    label: str

    def generate(self, request: GenerationRequest) -> list[Variant]:
        """One variant per requested network, in the order asked."""
        ...


@dataclass(frozen=True)
class PublishRequest:
    target_id: int
    network: str
    text: str
    idempotency_key: str
    workspace: str
    post_number: int
    extra: dict[str, Any] = field(default_factory=dict)
    workspace_id: int | None = None
    parts: tuple[str, ...] = ()
    media: tuple[dict[str, Any], ...] = ()
    account_id: int | None = None
    # For a lookup: the post, if it went out, is not older than this (the first attempt's
    # start, less a margin for the network's clock). None: only the newest page is read.
    since: datetime | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    url: str


class Publisher(Protocol):
    network: str

    def publish(self, request: PublishRequest) -> Published:
        """Post once. Raises a `core.errors.PublishError` subclass on failure."""
        ...

    def find(self, request: PublishRequest) -> Published | None:
        """Ask the network whether this request was already posted (reconciliation)."""
        ...

    def is_connected(self, session: Session, workspace_id: int) -> bool:
        """Whether this workspace can post here (an account is connected, or none is needed).

        Reads through the caller's session: a chat command asks inside its own transaction.
        """
        ...


@dataclass(frozen=True)
class FiguresRequest:
    """One published target whose figures Herald wants from its network."""

    target_id: int
    network: str
    external_id: str
    url: str | None
    workspace_id: int
    account_id: int | None = None  # the account it was published with, when known


@dataclass(frozen=True)
class Reading:
    """What a network said about one published post, at one moment.

    `impressions` and `clicks` are None where the network (or the token) does not tell;
    `gone` means the network answered that the post no longer exists (404, deleted): the
    counts are then zeros and nothing more is collected for it. `raw` keeps the few raw
    fields the counts came from (never a whole response, never a token).
    """

    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    impressions: int | None = None
    clicks: int | None = None
    gone: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


class FiguresReader(Protocol):
    """A publisher that can read back its posts' figures (every built-in one can).

    `read` is given targets of one workspace and one network (any accounts); it batches
    where the API allows (X: 100 ids a request) and answers each target it could read.
    A target left out of the answer was not read this time (try again later). A 429
    raises `core.errors.RateLimited` (its `until` is when to come back: the caller moves the
    snapshots, nothing sleeps); an account whose token is refused raises `TokenExpired`.
    """

    network: str

    def read(self, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """target_id -> Reading, for each target read."""
        ...


class MediaStore(Protocol):
    """Where attached media lives (a local folder, or S3): bytes in, a key out."""

    def put(self, key: str, data: bytes, content_type: str) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


# Told once a command is stored: its row id (0 for a replay of a one-time key), or the error.
Done = Callable[[int, Exception | None], None]


class CommandInbox(Protocol):
    """Where a surface's commands wait between its ack and the worker that runs them
    (bot/inbox.py: many acks share one write). `actor` is a `core.workspace.people.Actor`,
    which (like the interpreter's) is not named here: that module needs this one."""

    def accept(self, actor: Any, text: str, admission: Admission | None = None) -> int:
        """Store the command and enqueue its id; its row id, or 0 for a replay."""
        ...

    def accept_later(
        self, actor: Any, text: str, done: Done, admission: Admission | None = None
    ) -> None:
        """Queue the command without blocking; `done` is called once it is stored."""
        ...


class JobQueue(Protocol):
    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        """Send a task by name with id arguments. Called only after commit."""
        ...


@runtime_checkable
class CheckedQueue(Protocol):
    """A `JobQueue` that can tell, before a command commits, whether its jobs could be sent."""

    def check_reachable(self) -> None:
        """Raise `core.errors.Unavailable` (with the words a person sees) when it cannot."""
        ...


@dataclass(frozen=True)
class OutboundFile:
    """A file of a stored message, for a surface to send: its row id, then what it is."""

    id: int
    name: str
    mime: str
    data: bytes
    title: str = ""


class Progress(Protocol):
    def sent(
        self, *, text: bool = False, card_ref: str | None = None, files: Sequence[int] = ()
    ) -> None:
        """Remember at once what just went out (the text or a new card, at `card_ref`, and
        the given files), so that a retry after a later step's failure does not send it again."""
        ...


@dataclass(frozen=True)
class Delivery:
    """One stored outbound message, ready for a chat surface to show.

    `card` is the post's card as it is now, so a surface that updates cards in place (Slack,
    Telegram) can redraw it; `card_ref` is where that card was posted before, if anywhere.
    `files` are the message's files not sent yet; `text_sent` says the text (and a new card)
    went out on an earlier try, so only files are left. A surface reports each step that went
    out through `went_out` before it starts the next.
    """

    message_id: int
    workspace: str
    conversation: str
    recipient: str | None
    text: str | None
    error: bool
    card: Any | None
    card_ref: str | None
    post_number: int | None
    new_card: bool
    files: tuple[OutboundFile, ...] = ()
    text_sent: bool = False
    progress: Progress | None = None

    def went_out(
        self, *, text: bool = False, card_ref: str | None = None, files: Sequence[int] = ()
    ) -> None:
        if self.progress is not None:
            self.progress.sent(text=text, card_ref=card_ref, files=files)


class ChatDelivery(Protocol):
    def deliver(self, delivery: Delivery) -> str | None:
        """Show the message. Returns the card's new reference when it posted a new card.

        Raises `core.errors.RetryLater` when the surface asks to slow down.
        """
        ...


class Interpreter(Protocol):
    def interpret(self, text: str, *, actor: Any) -> Any:
        """Turn free text into a command the registry (`core.registry`) declares.

        Raises `core.errors.BadInput` with one clarifying question when the request is ambiguous.
        """
        ...
