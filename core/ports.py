"""The ports core talks through: small typed interfaces that bot/ and workers/ implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


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


@dataclass(frozen=True)
class Variant:
    network: str
    text: str
    generator: str
    warnings: tuple[str, ...] = ()


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


class JobQueue(Protocol):
    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        """Send a task by name with id arguments. Called only after commit."""
        ...


class ChatDelivery(Protocol):
    def deliver(self, message_ids: Sequence[int]) -> None:
        """Push stored outbound messages to their chat surface."""
        ...
