"""The one command grammar every chat surface speaks, parsed into typed commands."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import BadInput
from core.networks import UnknownNetworkError, get_network, parse_networks
from storage.models import Role

MAX_BRIEF = 4000
MAX_REASON = 500


@dataclass(frozen=True)
class Draft:
    brief: str
    networks: tuple[str, ...] | None = None
    when: str | None = None


@dataclass(frozen=True)
class Queue:
    pass


@dataclass(frozen=True)
class Show:
    number: int


@dataclass(frozen=True)
class Edit:
    number: int
    network: str
    text: str


@dataclass(frozen=True)
class Approve:
    number: int


@dataclass(frozen=True)
class Reject:
    number: int
    reason: str | None = None


@dataclass(frozen=True)
class Regenerate:
    number: int
    feedback: str | None = None


@dataclass(frozen=True)
class Schedule:
    number: int
    when: str


@dataclass(frozen=True)
class Cancel:
    number: int


@dataclass(frozen=True)
class Retry:
    number: int
    network: str | None = None


@dataclass(frozen=True)
class Posted:
    """A person's answer to "Did this go out?": yes, it is up (at `url`, if they have it)."""

    number: int
    network: str
    url: str | None = None


@dataclass(frozen=True)
class Skip:
    number: int
    network: str


@dataclass(frozen=True)
class NextSlot:
    number: int
    network: str | None = None


@dataclass(frozen=True)
class Attach:
    number: int
    source: str
    alt: str | None = None


@dataclass(frozen=True)
class SetTimezone:
    zone: str | None


@dataclass(frozen=True)
class SetRole:
    """`user` is a platform id when `verified` (a surface's mention token), else typed words."""

    user: str
    role: Role
    verified: bool = False


@dataclass(frozen=True)
class SetPolicy:
    self_approval: bool | None = None
    approvals_required: int | None = None


@dataclass(frozen=True)
class Connect:
    network: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Accounts:
    pass


@dataclass(frozen=True)
class Disconnect:
    account: str


@dataclass(frozen=True)
class Voice:
    setting: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Config:
    key: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class Wait:
    pass


Command = (
    Draft
    | Queue
    | Show
    | Edit
    | Approve
    | Reject
    | Regenerate
    | Schedule
    | Cancel
    | Retry
    | Posted
    | Skip
    | NextSlot
    | Attach
    | SetTimezone
    | SetRole
    | SetPolicy
    | Connect
    | Accounts
    | Disconnect
    | Voice
    | Config
    | Help
    | Wait
)

# One line of usage per command, shown by `help` and in every syntax error.
USAGE: dict[str, str] = {
    "draft": "draft <brief> [--to x,linkedin,...] [--at <when>]",
    "queue": "queue",
    "show": "show <n>",
    "edit": "edit <n> <network> <text>",
    "approve": "approve <n>",
    "reject": "reject <n> [reason]",
    "regenerate": "regenerate <n> [feedback, e.g. shorter]",
    "schedule": "schedule <n> <when>",
    "cancel": "cancel <n>",
    "retry": "retry <n> [network]",
    "posted": "posted <n> <network> [link]",
    "skip": "skip <n> <network>",
    "slot": "slot <n> [network]",
    "attach": "attach <n> <image or video URL> [alt text]",
    "tz": "tz [zone, e.g. Europe/Berlin]",
    "role": "role @user owner|admin|editor|approver|viewer",
    "policy": "policy [self-approval on|off] [approvals <n>]",
    "connect": "connect <network> [instance URL | handle app-password]",
    "accounts": "accounts",
    "disconnect": "disconnect <account>",
    "voice": "voice [tone|audience|banned|claims|hashtags|disclosure|emoji|utm <value>] · "
    "voice template <network> <jinja> · voice usage · voice budget <USD> · voice clear",
    "config": "config [approvals-channel #channel]",
    "wait": "wait",
    "help": "help [command]",
}

SUMMARY: dict[str, str] = {
    "draft": "write a post from a brief, for one or more networks",
    "queue": "what is pending, approved and scheduled, soonest first",
    "show": "one post, every network, its history",
    "edit": "replace one network's text (back to pending if it was approved)",
    "approve": "approve a pending post",
    "reject": "reject a pending post, with a reason",
    "regenerate": "draft the text again, optionally with feedback",
    "schedule": 'set when a post goes out ("tomorrow 9am", "in 2h")',
    "cancel": "stop a post that has not been published",
    "retry": "try a failed network again",
    "posted": "say a post Herald could not check did go out",
    "skip": "leave one network out of a post",
    "slot": "move a failed network to the next free slot",
    "attach": "attach an image or video to a draft",
    "tz": "show or set your time zone",
    "role": "give a member a role (admins)",
    "policy": "self-approval and approvals required (admins)",
    "connect": "connect a network account (the link comes privately)",
    "accounts": "connected accounts and their health",
    "disconnect": "remove a connected account",
    "voice": "the workspace's brand voice for drafts",
    "config": "workspace settings, e.g. where approval cards go",
    "wait": "wait until the work you started has finished",
    "help": "this list, or one command in detail",
}

ALIASES = {"approve": "approve", "ok": "approve", "list": "queue", "timezone": "tz"}

_OPTION = re.compile(r"(?:^|\s)--(to|at)(?:\s+|=|$)")
_NUMBER = re.compile(r"#?(\d{1,9})")
# A person the platform itself named (a Slack mention, a Telegram text mention or reply): the
# surface writes this token, and `defuse_mentions` keeps typed text from looking like one.
_MENTION = re.compile(r"<@([A-Za-z0-9_.:-]{1,64})>")


def mention(user_id: str) -> str:
    """The token for a person the platform verified, as surfaces hand it to the grammar."""
    return f"<@{user_id}>"


def defuse_mentions(typed: str) -> str:
    """Typed text can't pass for a verified mention: its `<@` becomes a look-alike angle."""
    return typed.replace("<@", "\u2039@")


class UnknownCommand(BadInput):
    """The first word is no command: free text, for the interpreter to try."""


def usage_error(name: str, problem: str) -> BadInput:
    return BadInput(f"{problem} Usage: {USAGE[name]}")


def _number(name: str, token: str | None) -> int:
    match = _NUMBER.fullmatch(token or "")
    if not match:
        what = f'"{token}"' if token else "nothing"
        raise usage_error(name, f"I need a post number like 12 or #12, got {what}.")
    return int(match.group(1))


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
        return text[1:-1].strip()
    return text


def _split_options(rest: str) -> tuple[str, dict[str, str]]:
    """Split `brief --to x --at tomorrow 9am` into the brief and its options."""
    matches = list(_OPTION.finditer(rest))
    if not matches:
        return rest, {}
    options: dict[str, str] = {}
    head = rest[: matches[0].start()]
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(rest)
        key = match.group(1)
        if key in options:
            raise usage_error("draft", f"--{key} is given twice.")
        options[key] = _unquote(rest[match.end() : end])
        if not options[key]:
            raise usage_error("draft", f"--{key} needs a value.")
    return head, options


def _networks(spec: str) -> tuple[str, ...]:
    try:
        return parse_networks(spec)
    except UnknownNetworkError as exc:
        raise BadInput(str(exc)) from None


def _draft(rest: str) -> Draft:
    brief, options = _split_options(rest)
    brief = _unquote(brief)
    if not brief:
        raise usage_error(
            "draft", "What should the post be about? Give a brief, e.g. draft Our API is live."
        )
    if len(brief) > MAX_BRIEF:
        raise BadInput(
            f"The brief is {len(brief):,} characters; the limit is {MAX_BRIEF:,}. "
            "Shorten it or link to the details."
        )
    networks = _networks(options["to"]) if "to" in options else None
    return Draft(brief=brief, networks=networks, when=options.get("at"))


def _parse_bool(name: str, value: str) -> bool:
    if value in {"on", "yes", "true", "allowed", "allow"}:
        return True
    if value in {"off", "no", "false", "forbidden", "deny"}:
        return False
    raise usage_error(name, f'Say on or off, not "{value}".')


def _policy(args: list[str]) -> SetPolicy:
    self_approval: bool | None = None
    approvals: int | None = None
    words = [a.lower() for a in args]
    while words:
        key = words.pop(0)
        if not words:
            raise usage_error("policy", f"{key} needs a value.")
        value = words.pop(0)
        if key in {"self-approval", "self_approval", "selfapproval"}:
            self_approval = _parse_bool("policy", value)
        elif key in {"approvals", "approvals-required"}:
            if not value.isdigit() or not 1 <= int(value) <= 5:
                raise usage_error("policy", "approvals takes a number from 1 to 5.")
            approvals = int(value)
        else:
            raise usage_error("policy", f'I don\'t know the policy "{key}".')
    return SetPolicy(self_approval=self_approval, approvals_required=approvals)


# Bluesky app passwords look like xxxx-xxxx-xxxx-xxxx: one pasted anywhere is a secret too.
_APP_PASSWORD = re.compile(r"(?<![\w-])[A-Za-z0-9]{4}(?:-[A-Za-z0-9]{4}){3}(?![\w-])")
REDACTED = "•••"


def redact_secrets(text: str) -> str:
    """The command with any credential replaced by •••: all of it that may be kept or shown.

    `connect bluesky <handle> <app-password>` carries one, and so does any text holding an
    app-password-shaped word. Unchanged text carries none.
    """
    head, _, rest = text.strip().partition(" ")
    args = rest.split()
    if head.lstrip("/").lower() == "connect" and args:
        try:
            network = get_network(args[0]).name
        except UnknownNetworkError:
            network = ""
        if network == "bluesky" and len(args) >= 3:  # connect bluesky <handle> <password>
            text = " ".join([head, args[0], args[1], REDACTED, *args[3:]])
    return _APP_PASSWORD.sub(REDACTED, text)


def parse(text: str) -> Command:
    """Parse one line of the grammar. Raises `BadInput` with usage on anything else."""
    line = text.strip()
    if not line:
        raise BadInput("Type a command, e.g. draft Our API is live --to x. Type help for all.")
    head, _, rest = line.partition(" ")
    name = head.lstrip("/").lower()
    name = ALIASES.get(name, name)
    rest = rest.strip()
    args = rest.split()

    if name == "draft":
        return _draft(rest)
    if name == "queue":
        return Queue()
    if name == "show":
        return Show(_number(name, args[0] if args else None))
    if name == "edit":
        parts = rest.split(maxsplit=2)
        number = _number(name, parts[0] if parts else None)
        if len(parts) < 3:
            raise usage_error(name, "Say which network and give the new text.")
        try:
            network = get_network(parts[1]).name
        except UnknownNetworkError as exc:
            raise BadInput(str(exc)) from None
        return Edit(number=number, network=network, text=_unquote(parts[2]))
    if name == "approve":
        return Approve(_number(name, args[0] if args else None))
    if name == "reject":
        number = _number(name, args[0] if args else None)
        reason = rest.partition(" ")[2].strip() or None
        if reason and len(reason) > MAX_REASON:
            raise BadInput(f"Keep the reason under {MAX_REASON} characters.")
        return Reject(number=number, reason=reason)
    if name == "regenerate":
        number = _number(name, args[0] if args else None)
        return Regenerate(number=number, feedback=rest.partition(" ")[2].strip() or None)
    if name == "schedule":
        number = _number(name, args[0] if args else None)
        when = _unquote(rest.partition(" ")[2])
        if not when:
            raise usage_error(name, 'When? e.g. schedule 12 "tomorrow 9am".')
        return Schedule(number=number, when=when)
    if name == "cancel":
        return Cancel(_number(name, args[0] if args else None))
    if name == "retry":
        number = _number(name, args[0] if args else None)
        retry_network: str | None = None
        if len(args) > 1:
            try:
                retry_network = get_network(args[1]).name
            except UnknownNetworkError as exc:
                raise BadInput(str(exc)) from None
        return Retry(number=number, network=retry_network)
    if name == "posted":
        parts = rest.split()
        number = _number(name, parts[0] if parts else None)
        if len(parts) < 2:
            raise usage_error(name, "Which network is it up on?")
        try:
            network = get_network(parts[1]).name
        except UnknownNetworkError as exc:
            raise BadInput(str(exc)) from None
        link = parts[2] if len(parts) > 2 else None
        if link is not None and not re.fullmatch(r"https?://\S+", link, re.IGNORECASE):
            raise usage_error(name, "The link should start with https://, or leave it out.")
        return Posted(number=number, network=network, url=link)
    if name == "skip":
        parts = rest.split()
        number = _number(name, parts[0] if parts else None)
        if len(parts) < 2:
            raise usage_error(name, "Which network should be left out?")
        try:
            return Skip(number=number, network=get_network(parts[1]).name)
        except UnknownNetworkError as exc:
            raise BadInput(str(exc)) from None
    if name == "slot":
        number = _number(name, args[0] if args else None)
        slot_network: str | None = None
        if len(args) > 1:
            try:
                slot_network = get_network(args[1]).name
            except UnknownNetworkError as exc:
                raise BadInput(str(exc)) from None
        return NextSlot(number=number, network=slot_network)
    if name == "attach":
        parts = rest.split(maxsplit=2)
        number = _number(name, parts[0] if parts else None)
        if len(parts) < 2:
            raise usage_error(name, "Give the URL of an image or video.")
        return Attach(number=number, source=parts[1], alt=parts[2] if len(parts) > 2 else None)
    if name == "tz":
        return SetTimezone(args[0] if args else None)
    if name == "role":
        if len(args) != 2:
            raise usage_error(name, "Name a member and a role.")
        try:
            role = Role(args[1].lower())
        except ValueError:
            raise usage_error(name, f'"{args[1]}" is not a role.') from None
        verified = _MENTION.fullmatch(args[0])
        if verified:
            return SetRole(user=verified.group(1), role=role, verified=True)
        return SetRole(user=args[0].lstrip("@"), role=role)
    if name == "policy":
        return _policy(args)
    if name == "connect":
        if not args:
            raise usage_error(name, "Which network?")
        try:
            network = get_network(args[0]).name
        except UnknownNetworkError as exc:
            raise BadInput(str(exc)) from None
        return Connect(network=network, args=tuple(args[1:]))
    if name == "accounts":
        return Accounts()
    if name == "disconnect":
        if not args:
            raise usage_error(name, "Which account? Type accounts to see them.")
        return Disconnect(account=rest)
    if name == "voice":
        setting, _, value = rest.partition(" ")
        return Voice(setting=setting.lower() or None, value=value.strip() or None)
    if name == "config":
        key, _, value = rest.partition(" ")
        return Config(key=key.lower() or None, value=value.strip() or None)
    if name == "help":
        topic = args[0].lstrip("/").lower() if args else None
        return Help(ALIASES.get(topic, topic) if topic else None)
    if name == "wait":
        return Wait()
    raise UnknownCommand(f'I don\'t know the command "{head}". Type help to see what I can do.')


def help_text(topic: str | None = None) -> str:
    if topic:
        if topic not in USAGE:
            raise BadInput(f'There is no command "{topic}". Type help to see them all.')
        return f"{USAGE[topic]}\n{SUMMARY[topic]}"
    width = max(len(u) for u in USAGE.values())
    lines = [f"{USAGE[name].ljust(width)}  {SUMMARY[name]}" for name in USAGE]
    lines.append(
        'When: "in 2h", "tomorrow 9am", "next monday 14:30", "2026-12-01 09:00 Europe/Berlin".'
    )
    return "\n".join(lines)
