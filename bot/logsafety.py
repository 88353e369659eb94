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
from collections.abc import Callable, Iterable
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
