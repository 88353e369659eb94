"""The tokenising helpers every command's parser shares: quotes, options, numbers, networks,
mentions and usage errors. What each command means lives with its handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from core.errors import BadInput
from core.networks import UnknownNetworkError, get_network, parse_networks

C = TypeVar("C")
_NUMBER = re.compile(r"#?(\d{1,9})")
_OPTION = re.compile(r"(?:^|\s)--(to|at)(?:\s+|=|$)")
# A person the platform itself named (a Slack mention, a Telegram text mention or reply): the
# surface writes this token, and `defuse_mentions` keeps typed text from looking like one.
MENTION = re.compile(r"<@([A-Za-z0-9_.:-]{1,64})>")
# Bluesky app passwords look like xxxx-xxxx-xxxx-xxxx: one pasted anywhere is a secret too.
_APP_PASSWORD = re.compile(r"(?<![\w-])[A-Za-z0-9]{4}(?:-[A-Za-z0-9]{4}){3}(?![\w-])")
REDACTED = "•••"
# A second-factor code: `--code 123456` in a command, or a message that is only one (the
# answer Herald asked for, `123456` or `code 123456`). Unused, it is a credential.
CODE_OPTION = re.compile(r"(?:^|\s)--code(?:\s+|=)(\S*)")
CODE_ANSWER = re.compile(r"/?(?:code\s+)?(\d{6})")


class UnknownCommand(BadInput):
    """The first word is no command: free text, for the interpreter to try."""


@dataclass(frozen=True)
class Words:
    """What follows a command word, with that command's usage line for its errors."""

    rest: str
    usage: str

    @property
    def args(self) -> list[str]:
        return self.rest.split()

    def first(self) -> str | None:
        args = self.args
        return args[0] if args else None

    def after_first(self) -> str:
        """Everything after the first word (a reason, feedback, a time)."""
        return self.rest.partition(" ")[2].strip()

    def fail(self, problem: str) -> BadInput:
        return BadInput(f"{problem} Usage: {self.usage}")

    def number(self) -> int:
        """The post number the first word gives, like 12 or #12."""
        token = self.first()
        match = _NUMBER.fullmatch(token or "")
        if not match:
            what = f'"{token}"' if token else "nothing"
            raise self.fail(f"I need a post number like 12 or #12, got {what}.")
        return int(match.group(1))

    def toggle(self, value: str) -> bool:
        if value in {"on", "yes", "true", "allowed", "allow"}:
            return True
        if value in {"off", "no", "false", "forbidden", "deny"}:
            return False
        raise self.fail(f'Say on or off, not "{value}".')

    def options(self) -> tuple[str, dict[str, str]]:
        """Split `brief --to x --at tomorrow 9am` into the brief and its options."""
        rest = self.rest
        matches = list(_OPTION.finditer(rest))
        if not matches:
            return rest, {}
        options: dict[str, str] = {}
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(rest)
            key = match.group(1)
            if key in options:
                raise self.fail(f"--{key} is given twice.")
            options[key] = unquote(rest[match.end() : end])
            if not options[key]:
                raise self.fail(f"--{key} needs a value.")
        return rest[: matches[0].start()], options


def numbered(kind: Callable[[int], C]) -> Callable[[Words], C]:
    """The parser of a command that takes just a post number: `show 12`."""
    return lambda words: kind(words.number())


def unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
        return text[1:-1].strip()
    return text


def network_name(token: str) -> str:
    """One network's canonical name (`twitter` is `x`), or a refusal naming the known ones."""
    try:
        return get_network(token).name
    except UnknownNetworkError as exc:
        raise BadInput(str(exc)) from None


def optional_network(args: list[str], at: int) -> str | None:
    return network_name(args[at]) if len(args) > at else None


def network_names(spec: str) -> tuple[str, ...]:
    try:
        return parse_networks(spec)
    except UnknownNetworkError as exc:
        raise BadInput(str(exc)) from None


def mention(user_id: str) -> str:
    """The token for a person the platform verified, as surfaces hand it to the grammar."""
    return f"<@{user_id}>"


def person(word: str) -> tuple[str, bool]:
    """A person as a command names them: (platform id, True) for a surface's verified
    mention, else (the typed name without its @, False), which never picks anyone alone."""
    verified = MENTION.fullmatch(word)
    return (verified.group(1), True) if verified else (word.lstrip("@"), False)


def defuse_mentions(typed: str) -> str:
    """Typed text can't pass for a verified mention: its `<@` becomes a look-alike angle."""
    return typed.replace("<@", "\u2039@")


def redact_secrets(text: str) -> str:
    """The command with any credential replaced by •••: all of it that may be kept or shown.

    `connect bluesky <handle> <app-password>` carries one, and so does any text holding an
    app-password-shaped word, and a second-factor code. Unchanged text carries none.
    """
    if CODE_ANSWER.fullmatch(text.strip()):
        return REDACTED
    text = CODE_OPTION.sub(lambda m: m.group(0).replace(m.group(1), REDACTED), text)
    head, _, rest = text.strip().partition(" ")
    args = rest.split()
    if head.lstrip("/").lower() == "connect" and args:
        try:
            name = get_network(args[0]).name
        except UnknownNetworkError:
            name = ""
        if name == "bluesky" and len(args) >= 3:  # connect bluesky <handle> <password>
            text = " ".join([head, args[0], args[1], REDACTED, *args[3:]])
    return _APP_PASSWORD.sub(REDACTED, text)
