"""What a log line is about: ids bound for the length of a request, a task or a command.

Core binds what it knows (workspace, post, target); the surfaces and the worker bind the
request or task id. The logging setup (bot/logsafety.py) adds them to every line made inside,
so one grep for a post, a task or a ref finds every line about it. Plain contextvars: each
thread and each asyncio task sees only its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_FIELDS: ContextVar[dict[str, str | int] | None] = ContextVar("herald_log_fields", default=None)


def current() -> dict[str, str | int]:
    """The fields bound here and now (a copy)."""
    return dict(_FIELDS.get() or {})


@contextmanager
def bound(**fields: str | int | None) -> Iterator[None]:
    """Add `fields` (None values left out) to every log line made inside the block."""
    token = _FIELDS.set({**current(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)
