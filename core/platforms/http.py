"""Shared HTTP plumbing for the network publishers: one client factory, one error vocabulary.

Every network answers failures differently; the publishers turn them into the four errors the
pipeline knows (`core.errors`): token expired, rate limited (until when), content rejected
(why, in plain words) and transient (the post may or may not exist). Reading a reset time from
headers lives here so each network only says which header it uses.
"""

from __future__ import annotations

import contextvars
import email.utils
import html
import logging
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from core import metrics
from core.errors import (
    CannotCheck,
    ContentRejected,
    PublishError,
    RateLimited,
    TokenExpired,
    Transient,
)
from core.platforms.timing import CONNECT_SECONDS, PUBLISH_BUDGET_SECONDS, READ_SECONDS
from core.ssrf import Refused, SafeFetcher

log = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT = httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS)
# The monotonic instant after which this publish starts no new request (see `timing`).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
USER_AGENT = "Herald/0.1 (+https://github.com/herald)"
# When a network says "slow down" without saying until when.
DEFAULT_BACKOFF = timedelta(minutes=15)


@contextmanager
def client(
    base_url: str, *, headers: dict[str, str] | None = None, guard: SafeFetcher | None = None
) -> Iterator[httpx.Client]:
    """A short-lived client for one publish: no pooled connection outlives the attempt.

    `guard` is required in spirit for any server a person named (a Mastodon instance, a
    Bluesky PDS): every request then goes through its SSRF-safe transport. Only the networks'
    fixed official hosts (X, LinkedIn, Facebook, from settings) do without.
    """
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    transport = guard.transport() if guard is not None else None
    with httpx.Client(
        base_url=base_url,
        timeout=TIMEOUT,
        headers=merged,
        transport=transport,
        event_hooks={"request": [_within_budget], "response": [_count]},
    ) as http:
        yield http


@contextmanager
def publish_budget(seconds: float = PUBLISH_BUDGET_SECONDS) -> Iterator[None]:
    """Within this block no request starts after `seconds`: an attempt has a known end."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _count(response: httpx.Response) -> None:
    # 429s and 5xx by network feed the "network answering 429/5xx for long" alert.
    metrics.network_answered(response.status_code)


def _within_budget(request: httpx.Request) -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        # Raised before this request is sent; earlier ones (media, a thread's first parts) may
        # have gone out, so the outcome is unclear and reconciliation looks.
        raise Transient("the network was too slow to finish the post in time")


def send(http: httpx.Client, display: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; a dropped connection or a timeout becomes `Transient`, never a raw error.

    An address the SSRF guard refuses was never contacted: that is a plain failure with the
    reason (not `Transient`, which would mean "the post may exist now").
    """
    try:
        return http.request(method, url, **kwargs)
    except Refused as exc:
        raise PublishError(f"Herald won't connect to that {display} server: {exc}") from None
    except httpx.TimeoutException as exc:
        raise Transient(f"{display} did not answer in time") from exc
    except httpx.TransportError as exc:
        raise Transient(f"could not reach {display}") from exc


def body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a response carries, or {} when it has none (empty 201, HTML error page)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"data": data}


def epoch(value: str | None) -> datetime | None:
    """An epoch-seconds header value (x-rate-limit-reset, ratelimit-reset) as an instant."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def iso(value: str | None) -> datetime | None:
    """An ISO-8601 header value (Mastodon's X-RateLimit-Reset) as an instant."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """`Retry-After`: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def later_of(now: datetime, *candidates: datetime | None) -> datetime:
    """The reset the network named (at least a few seconds ahead), or the default backoff."""
    known = [c for c in candidates if c is not None]
    if not known:
        return now + DEFAULT_BACKOFF
    return max(max(known), now + timedelta(seconds=5))


def generic(display: str, response: httpx.Response, now: datetime, message: str | None) -> None:
    """The fallback mapping by status code, for what a network's own mapping did not catch."""
    status = response.status_code
    detail = f": {message}" if message else ""
    if status == 401:
        raise TokenExpired(f"the {display} access token expired or was revoked; reconnect")
    if status == 429:
        until = later_of(now, retry_after(response.headers.get("retry-after"), now))
        raise RateLimited(f"{display} is rate limiting this account", until)
    if status >= 500 or status in (408, 425):
        raise Transient(f"{display} had a problem on its side (HTTP {status})")
    if status >= 400:
        raise ContentRejected(f"{display} refused the post{detail}")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size` (a network's most ids a request), in order."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_refused(display: str, response: httpx.Response, detail: object) -> PublishError:
    """What a figures read that failed for another reason than a 401 or a 429 raises: a 5xx
    is `Transient` (try again later), anything else a plain refusal with the network's reason.
    Never `TokenExpired`: a read refused for a missing permission must not mark the account
    expired and hold back its posts."""
    status = response.status_code
    if status >= 500 or status in (408, 425):
        return Transient(f"{display} had a problem on its side (HTTP {status})")
    reason = plain(detail) or f"HTTP {status}"
    return PublishError(f"{display} refused to tell the posts' figures: {reason}")


# Every link, in `comparable` text: networks rewrite links (t.co, shortened displays).
LINK = "\u27e8link\u27e9"
# A lookup reads at most this many pages back to the attempt's start before it gives up.
MAX_LOOKUP_PAGES = 50


class LookupIncomplete(CannotCheck):
    """The account has more posts since the attempt than a lookup reads: it cannot tell."""

    def __init__(self, display: str) -> None:
        super().__init__(
            f"{display} has too many posts since the attempt for Herald to check them all"
        )


def older_than(value: object, since: datetime | None) -> bool:
    """Whether a network's timestamp (ISO 8601, epoch seconds or ms) is before `since`."""
    if since is None or value is None:
        return False  # no bound, or no date to judge by: keep reading (pages are capped)
    when: datetime | None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        when = datetime.fromtimestamp(seconds, UTC)
    else:
        text = str(value)
        # Graph API writes +0000; fromisoformat wants +00:00.
        if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
            text = text[:-2] + ":" + text[-2:]
        when = iso(text)
    return when is not None and when < since


def comparable(text: str, *, markup: bool = False) -> str:
    """A post's text as lookups compare it, normalised the same way whichever side it is.

    What we sent is plain text; what a network returns may be HTML (Mastodon: tags, entities,
    `<br>` and paragraphs for line breaks), entity-escaped (X: `&amp;`) or carry rewritten links
    (X's t.co, Mastodon's shortened display). `markup=True` turns markup into text first; then
    both sides get entities decoded, NFC, every link as one token and whitespace collapsed.
    A literal `<3` in what we sent is text, never markup.
    """
    if markup:
        text = _BREAK.sub("\n", text)
        text = _ANY_TAG.sub("", text)
    text = unicodedata.normalize("NFC", html.unescape(text))
    text = _LINK.sub(LINK, text)
    return " ".join(text.split())


def plain(message: object, limit: int = 160) -> str:
    """A network's message as a short, safe reason for a card: never the body verbatim.

    The server may be anyone's (a Mastodon instance, a Bluesky PDS someone typed), so its words
    are untrusted: markup, invisible and direction-changing characters, links and anything
    that looks like a credential are taken out, and the rest is cut to one short line.
    """
    text = html.unescape(str(message or "")[:2000])  # nobody reads more; keeps the regexes cheap
    text = _TAG.sub(" ", text)
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = _URL.sub("[link]", text)
    for pattern in _SECRETS:
        text = pattern.sub("[redacted]", text)
    text = " ".join(text.replace("<", " ").replace(">", " ").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_ANY_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)
# A link without the punctuation that ends a sentence (networks do not link that either).
_LINK = re.compile(r"\bhttps?://\S*[^\s.,;:!?)\]'\"]", re.IGNORECASE)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_SECRETS = (
    # A scheme and its credentials: "Bearer <token>", "Basic <base64>".
    re.compile(r"\b(bearer|basic)\s+\S+", re.IGNORECASE),
    # name=value or name: value where the name says it is secret.
    re.compile(
        r"\b[\w-]*(token|secret|password|passwd|api[_-]?key|key|code|session|auth\w*)\b"
        r"\s*[=:]\s*\S+",
        re.IGNORECASE,
    ),
    # JWTs, Slack and OpenAI-style keys, and any long opaque run of letters and digits.
    re.compile(r"\beyJ[\w-]*(\.[\w-]*)*"),
    re.compile(r"\b(xox[a-z]|xapp|sk|pk|rk|ghp|gho)[-_][\w-]+", re.IGNORECASE),
    re.compile(r"(?=[\w+/=.-]*\d)(?=[\w+/=.-]*[A-Za-z])[\w+/=.-]{24,}"),
)
