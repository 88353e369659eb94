"""Keeping tokens out of the logs: chatty HTTP clients quieted, every record redacted.

Libraries log what they send: httpx logs each request URL at INFO (a Telegram Bot API URL
holds the bot token), slack_sdk logs request and response bodies at DEBUG (an OAuth `code`,
an installed bot token), a broker URL may carry its password. Levels alone are not enough (an
operator may turn a library up to chase a bug), so every record is redacted where it is made
(a log record factory: whatever handler writes it, the file, the console, a test's), and
Herald's own handlers redact the final line once more, traceback included.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from core.settings import Settings

MASK = "<redacted>"
# At most INFO even when HERALD_LOG_LEVEL is DEBUG: their DEBUG output is request and response
# bodies. The raw HTTP layers stay at WARNING: their INFO lines are URLs.
QUIET: dict[str, int] = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "hpack": logging.WARNING,
    "urllib3": logging.WARNING,
    "websockets": logging.INFO,
    "telegram": logging.INFO,
    "slack_sdk": logging.INFO,
    "slack_bolt": logging.INFO,
    "openai": logging.INFO,
    "celery": logging.INFO,
    "kombu": logging.INFO,
    "amqp": logging.INFO,
    "botocore": logging.INFO,
    "boto3": logging.INFO,
}
_SENSITIVE_FIELDS = (
    r"client_secret|app_secret|secret|password|passwd|app_password|code_verifier|"
    r"token|access_token|refresh_token|id_token|bot_token|fb_exchange_token|page_token|"
    r"accessJwt|refreshJwt|access_jwt|refresh_jwt|api_key|apikey"
)
# Words that are also ordinary in Herald's own lines ("state: approved"): masked only as a
# query parameter (?code=…&state=…) or a quoted key ('code': '…', "state": "…").
_SENSITIVE_IN_QUERIES = r"code|state|signature|sig"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram: the token is a path segment (/bot<id>:<secret>/, /file/bot<id>:<secret>/).
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"), MASK),
    # Slack bot, user, refresh, config and app-level tokens.
    (re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+"), MASK),
    # Authorization headers.
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 " + MASK),
    (re.compile(r"\b(Basic)\s+[A-Za-z0-9+/=]{8,}"), r"\1 " + MASK),
    # name=value, name: value, 'name': 'value', "name": "value" (query strings, dict reprs, JSON).
    (
        re.compile(
            rf"""(?<![A-Za-z0-9_])({_SENSITIVE_FIELDS})(['"]?\s*[:=]\s*['"]?)[^'"&\s,;}}]+""",
            re.IGNORECASE,
        ),
        r"\1\2" + MASK,
    ),
    (
        re.compile(
            rf"""([?&;]({_SENSITIVE_IN_QUERIES})=|['"]({_SENSITIVE_IN_QUERIES})['"]\s*:\s*['"])"""
            r"""[^'"&\s,;}]+"""
        ),
        r"\1" + MASK,
    ),
    # A password in a URL: scheme://user:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE), r"\1" + MASK + "@"),
    # JWTs and OpenAI-style keys wherever they appear.
    (re.compile(r"\beyJ[\w-]+\.[\w-]+(?:\.[\w-]*)?"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
)


def known_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings, and passwords in the database and broker URLs."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        values = value if isinstance(value, list) else [value]
        found += [v.get_secret_value() for v in values if isinstance(v, SecretStr)]
    for url in (settings.database_url, settings.broker_url):
        password = urlsplit(url).password if url else None
        if password:
            found.append(password)
    # Longest first, so a secret that contains another is masked whole.
    return sorted({s for s in found if len(s) >= 6}, key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = list(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def scrub(self, record: logging.LogRecord) -> None:
        """Redact the record in place: its message (args folded in), traceback and stack."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: logging reports it on emit
            return
        clean = self(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self(record.exc_text)
        if record.stack_info:
            record.stack_info = self(record.stack_info)


class RedactingFormatter(logging.Formatter):
    """The final line once more (for records made before the factory was installed)."""

    def __init__(self, redactor: Redactor, fmt: str) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))


_INSTALLED = "_herald_redacting"


def install(settings: Settings) -> Redactor:
    """Redact every record the process makes from now on, and quiet the chatty clients."""
    redactor = Redactor(known_secrets(settings))
    base: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    base = getattr(base, _INSTALLED, base)  # configured again: wrap the original, not ourselves

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redactor.scrub(record)
        return record

    setattr(make, _INSTALLED, base)
    logging.setLogRecordFactory(make)
    level = logging.getLogger().getEffectiveLevel()
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(max(level, floor))
    return redactor


# --- structured lines (structlog) -----------------------------------------------------------
# Every record, Herald's and the libraries', becomes one event: time (UTC), level, logger, the
# message, the ids bound where it was made (core/logcontext.py: request or task id, workspace,
# post, target) and the `ref` a person was shown. `redact` is the one processor that masks
# secrets and personal data, and it runs last before rendering, traceback included.

_PERSONAL: tuple[tuple[re.Pattern[str], str], ...] = (
    # E-mail addresses (a member's, an OAuth profile's).
    (re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), MASK),
    # Phone numbers written internationally (+49 30 1234567).
    (re.compile(r"(?<![\w+])\+\d[\d ()-]{7,}\d\b"), MASK),
)


def redact_tree(value: Any, redactor: Redactor) -> Any:
    """`value` with every string in it redacted (dicts and lists walked, keys kept)."""
    if isinstance(value, str):
        text = redactor(value)
        for pattern, replacement in _PERSONAL:
            text = pattern.sub(replacement, text)
        return text
    if isinstance(value, dict):
        return {key: redact_tree(item, redactor) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item, redactor) for item in value]
    return value


def _redact(redactor: Redactor) -> Callable[[Any, str, MutableMapping[str, Any]], dict[str, Any]]:
    def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
        return {key: redact_tree(value, redactor) for key, value in event.items()}

    return redact


def _bound_ids(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    from core.logcontext import current

    for key, value in current().items():
        event.setdefault(key, value)
    return event


def structured_formatter(redactor: Redactor, *, json_lines: bool) -> logging.Formatter:
    """A formatter for Herald's handler: one JSON object per line, or a readable line."""
    import structlog

    renderer: Any = (
        structlog.processors.JSONRenderer(default=str)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0, sort_keys=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _bound_ids,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact(redactor),
            renderer,
        ],
    )


def start_sentry(settings: Settings, redactor: Redactor) -> bool:
    """Send unexpected errors to Sentry when HERALD_SENTRY_DSN is set; each event goes through
    the same redaction as the log lines first. True when started."""
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value().strip():
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    def before_send(event: Any, _hint: Any) -> Any:
        extra = event.get("extra") or {}
        if "ref" in extra:  # the ref a person was shown, searchable as a tag
            event.setdefault("tags", {})["ref"] = extra["ref"]
        return redact_tree(event, redactor)

    def before_breadcrumb(crumb: Any, _hint: Any) -> Any:
        return redact_tree(crumb, redactor)

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        # No user identity, request bodies or a frame's local variables (which may hold a
        # token): the traceback's lines are enough to find the bug.
        data_collection={"user_info": False, "http_bodies": [], "stack_frame_variables": False},
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        # An ERROR line (log_failure's, with its ref and traceback) is an event; SDK 3 sends
        # none by default.
        integrations=[LoggingIntegration(event_level=logging.ERROR)],
    )
    return True
