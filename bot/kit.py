"""What every chat surface does the same way, whatever its widgets: a card's button as a line
of the grammar, and the shape of a file a message carries."""

from __future__ import annotations

from typing import Protocol

# Card buttons that are one grammar line, `<action> <n> [network]`: pressing one runs it.
# Edit and Reject ask for a text first, each surface in its own way.
QUICK_ACTIONS = frozenset(
    {"approve", "regenerate", "cancel", "retry", "slot", "skip", "posted", "reschedule", "release"}
)
ASKING_ACTIONS = frozenset({"edit", "reject"})


def button_line(action: str, number: int | str, value: str | None = None) -> str:
    """The grammar line a card's button stands for: `retry 12 linkedin`, `approve 12`."""
    return f"{action} {number}" + (f" {value}" if value else "")


class FileLike(Protocol):
    """A file to send: a message's `Attachment`, or a stored one (`core.ports.OutboundFile`)."""

    @property
    def name(self) -> str: ...
    @property
    def mime(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def title(self) -> str: ...
