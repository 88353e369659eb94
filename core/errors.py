"""Typed errors. Each carries the one- or two-line message a chat user sees."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime


class HeraldError(Exception):
    """A refusal the user can act on; `str(error)` is the message shown in chat."""


class BadInput(HeraldError):
    """Wrong command syntax or values."""


class NotFound(HeraldError):
    """The post (or account, or member) does not exist in this workspace."""


class Forbidden(HeraldError):
    """The actor's role or the workspace policy does not allow this."""


class Conflict(HeraldError):
    """The post is not in a state where this action makes sense (or someone was faster)."""


class Unavailable(HeraldError):
    """A service Herald needs (the job queue) cannot be reached: the command changed nothing."""


class RetryLater(Exception):
    """A surface or network asked to wait: retry the job after `seconds`, never sleep."""

    def __init__(self, seconds: float, reason: str = "rate limited") -> None:
        super().__init__(f"{reason}; retry in {seconds:.0f} s")
        self.seconds = seconds


class PublishError(Exception):
    """A network refused or failed a publish. `reason` is plain words for the card."""

    retryable = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(PublishError):
    """The account's token expired or was revoked: reconnecting is the way forward."""


class ContentRejected(PublishError):
    """The network refused the content itself (duplicate, too long, policy)."""


class Duplicate(ContentRejected):
    """The network refused the text as a repeat of a post already on the account.

    That post may be our own earlier attempt: the pipeline looks it up before failing.
    """


class RateLimited(PublishError):
    """The network asked us to come back later."""

    retryable = True

    def __init__(self, reason: str, until: datetime) -> None:
        super().__init__(reason)
        self.until = until


class NotSent(PublishError):
    """Herald could not get as far as calling the network (its own database failed first).

    Certainly not posted, and no answer from the network: it costs no attempt.
    """

    retryable = True


class CannotCheck(PublishError):
    """The network cannot be asked whether a post exists (no read access, or too many posts
    since the attempt): a person has to say whether it went out."""


class Transient(PublishError):
    """A timeout, a 5xx or a dropped connection: the post may or may not exist now."""

    retryable = True


def went_wrong(ref: str) -> str:
    """What a person is told when Herald failed for no reason they can act on: the same
    words on every surface, with the ref that is in the log beside the traceback."""
    return f"Something went wrong on my side (ref {ref}). Try again in a moment."


def log_failure(log: logging.Logger, what: str, error: BaseException | None = None) -> str:
    """Log an unexpected failure with its traceback under a new short ref, and return the ref.

    `error` defaults to the exception being handled; `what` says what failed, e.g.
    "button press failed".
    """
    ref = secrets.token_hex(3)
    # `ref=` in the text and as its own field: `grep ref=3fa9c1` finds the line (its traceback
    # is on it in the JSON log), and a log search can filter on the field.
    log.error(
        "%s ref=%s", what, ref, exc_info=error if error is not None else True, extra={"ref": ref}
    )
    return ref
