"""The one command registry: every command is declared once, as a `Spec` next to its handler,
and every surface reads this (the grammar, `help`, Telegram's commands and menu, Slack's help).

Adding a command: write its dataclass, parser and handler in the feature's `commands.py` and
add one `Spec` to that module's `COMMANDS`. Nothing else changes.
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.context import Context, Tx
from core.errors import BadInput
from core.grammar import UnknownCommand, Words
from core.permissions import Action, require
from core.posts.card import Message
from core.workspace import second_factor
from core.workspace.people import Actor, resolve
from storage.models import Member, Workspace

C = TypeVar("C")
# Any command dataclass some `Spec` declares: the registry finds its handler by its type.
Command = object

WORD = re.compile(r"[a-z0-9_]{1,32}")
NARROW = 48  # columns: every line of `help` fits a phone screen, and so an 80-column terminal
TIMES = (
    'When: "now", "in 30s", "in 2h", "tonight", "end of day", "tomorrow 9am", "next week", '
    '"next monday 14:30", "3 dec 09:00 Europe/Berlin".'
)


@dataclass(frozen=True)
class Request:
    """Who asks, in which workspace, inside which transaction: what every handler is given."""

    ctx: Context
    tx: Tx
    ws: Workspace
    me: Member
    actor: Actor


@dataclass(frozen=True)
class Spec(Generic[C]):
    """One command, declared once.

    `usage` lists the command's forms, separated by " · "; errors quote it whole and `help`
    shows one form a line. `permission` is checked before `handle` runs (None: nothing to
    check); a function of the command when some forms need more than others (your own
    tokens, or everyone's); a handler checks more itself only where the answer depends on
    what it finds.
    `answer` replaces `handle` for a command that needs no workspace (help). `menu` puts it
    in Telegram's / menu.

    `sensitive`: the command needs a current second-factor code when the workspace's policy
    asks for one (`policy 2fa on`); a function of the command when only some forms are (a
    policy change, not reading it). The registry checks it, after the permission and before
    `handle`, in a transaction of its own (core/workspace/second_factor.py).
    """

    name: str
    kind: type[C]
    usage: str
    summary: str
    parse: Callable[[Words], C]
    handle: Callable[[Request, C], Message] | None = None
    permission: Action | Callable[[C], Action | None] | None = Action.VIEW
    aliases: tuple[str, ...] = ()
    detail: str = ""
    menu: bool = False
    answer: Callable[[C], Message] | None = None
    sensitive: bool | Callable[[C], bool | second_factor.Need] = False

    def permission_for(self, command: C) -> Action | None:
        """What a member must be allowed to run this command (None: nothing to check)."""
        if callable(self.permission):
            return self.permission(command)
        return self.permission

    def needs_code(self, command: C) -> second_factor.Need | None:
        """When this command asks for a second factor (None: never)."""
        need = self.sensitive(command) if callable(self.sensitive) else self.sensitive
        if isinstance(need, second_factor.Need):
            return need
        return second_factor.Need.POLICY if need else None


class Registry:
    def __init__(self, specs: Iterable[Spec[Any]]) -> None:
        self.specs = tuple(specs)
        self._by_word: dict[str, Spec[Any]] = {}
        self._by_kind: dict[type, Spec[Any]] = {}
        for spec in self.specs:
            if (spec.handle is None) == (spec.answer is None):
                raise ValueError(f"{spec.name}: give it a handle or an answer, not both")
            for word in (spec.name, *spec.aliases):
                if not WORD.fullmatch(word):  # Telegram sends only these as /commands
                    raise ValueError(f"{word!r} is not a command word: [a-z0-9_], 1 to 32")
                if word in self._by_word:
                    raise ValueError(f"the command word {word!r} is declared twice")
                self._by_word[word] = spec
            if spec.kind in self._by_kind:
                raise ValueError(f"{spec.kind.__name__} is the command of two specs")
            self._by_kind[spec.kind] = spec

    def words(self) -> frozenset[str]:
        """Every word that starts a command: names and aliases."""
        return frozenset(self._by_word)

    def find(self, word: str) -> Spec[Any] | None:
        """The command a word names (a name or an alias, any case, `/` or not)."""
        return self._by_word.get(word.lstrip("/").lower())

    def parse(self, text: str) -> Command:
        """Parse one line of the grammar. Raises `BadInput` with usage on anything else."""
        line = text.strip()
        if not line:
            raise BadInput("Type a command, e.g. draft Our API is live --to x. Type help for all.")
        head, _, rest = line.partition(" ")
        spec = self.find(head)
        if spec is None:
            raise UnknownCommand(
                f'I don\'t know the command "{head}". Type help to see what I can do.'
            )
        return spec.parse(Words(rest.strip(), spec.usage))

    def name_of(self, command: Command) -> str:
        """The declared name of a parsed command (a bounded metric label)."""
        spec = self._by_kind.get(type(command))
        return spec.name if spec is not None else "unknown"

    def spec_of(self, command: Command) -> Spec[Any] | None:
        """The spec that declares a command's type."""
        return self._by_kind.get(type(command))

    def within(self, r: Request, command: Command) -> Message:
        """Run a command inside a request already under way (a confirmed guess): its
        permission, then its handler, in that request's transaction."""
        spec = self._by_kind.get(type(command))
        if spec is None or spec.handle is None:
            raise TypeError(f"no handler is declared for {command!r}")
        permission = spec.permission_for(command)
        if permission is not None:
            require(r.me, permission)
        return spec.handle(r, command)

    def run(
        self,
        ctx: Context,
        actor: Actor,
        command: Command,
        *,
        code: str | None = None,
        text: str | None = None,
        then: Callable[[Request, Message], None] | None = None,
    ) -> Message:
        """Run a command for `actor`: its permission first, then its handler, in one transaction.

        A sensitive command is checked for its second factor first: `code` came with it
        (`--code`), `text` is the command as typed, kept to run when Herald must ask the code.
        `then` runs after the handler in the same transaction (the REST API records an
        idempotent create's answer with the post it made).
        """
        spec = self._by_kind.get(type(command))
        if spec is None:
            raise TypeError(f"no command is declared for {command!r}")
        if spec.answer is not None:
            return spec.answer(command)
        assert spec.handle is not None  # the constructor checked: one of the two
        permission = spec.permission_for(command)
        need = spec.needs_code(command)
        if need is not None:
            stop = second_factor.guard(
                ctx,
                actor,
                permission,
                code=code,
                text=text,
                what=f"run {spec.name}",
                need=need,
            )
            if stop is not None:
                return stop
        with ctx.tx() as tx:
            ws, me = resolve(tx, actor, ctx.settings.timezone)
            if permission is not None:
                require(me, permission)
            request = Request(ctx, tx, ws, me, actor)
            message = spec.handle(request, command)
            if then is not None:
                then(request, message)
            if tx.after.pending:  # refused here, the transaction rolls back: nothing changed
                ctx.check_queue()
            return message

    def help(self, topic: str | None = None) -> str:
        """Every command with its summary, or one command in detail; lines fit `NARROW`."""
        if topic:
            spec = self.find(topic)
            if spec is None:
                raise BadInput(f'There is no command "{topic}". Type help to see them all.')
            lines = [_wrap(form, "  ") for form in spec.usage.split(" · ")]
            lines += [_wrap(spec.summary[:1].upper() + spec.summary[1:] + ".")]
            if spec.detail:
                lines.append(_wrap(spec.detail))
            if spec.aliases:
                lines.append(_wrap("Also: " + ", ".join(spec.aliases) + "."))
            return "\n".join(lines)
        width = max(len(s.name) for s in self.specs) + 2
        lines = [_wrap(f"{s.name.ljust(width)}{s.summary}", " " * width) for s in self.specs]
        lines.append(_wrap("Type help <command> for more, e.g. help draft."))
        lines.append(_wrap(TIMES, "  "))
        return "\n".join(lines)

    def menu(self) -> list[tuple[str, str]]:
        """(name, summary) of the commands for a platform's command menu."""
        return [(s.name, s.summary) for s in self.specs if s.menu]


def _wrap(text: str, indent: str = "") -> str:
    return "\n".join(
        textwrap.wrap(
            text, NARROW, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
        )
    )


@functools.cache
def commands() -> Registry:
    """Every command, feature by feature, in the order `help` lists them."""
    # Imported here, not at the top: each feature's module imports `Spec` from this one.
    from core import guesses
    from core.analytics import commands as analytics
    from core.api import tokens
    from core.approvals import commands as approvals
    from core.approvals import deadlines
    from core.auditlog import commands as auditlog
    from core.operations import commands as operations
    from core.posts import commands as posts
    from core.publishing import commands as publishing
    from core.scheduling import commands as scheduling
    from core.workspace import commands as workspace
    from core.workspace import connect, twofa

    return Registry(
        (
            *posts.COMMANDS,
            *approvals.COMMANDS,
            *scheduling.COMMANDS,
            *deadlines.COMMANDS,
            *publishing.COMMANDS,
            *analytics.COMMANDS,
            *workspace.COMMANDS,
            *connect.COMMANDS,
            *guesses.COMMANDS,
            *twofa.COMMANDS,
            *tokens.COMMANDS,
            *auditlog.COMMANDS,
            *operations.COMMANDS,
            *OWN,
        )
    )


# --- the commands about commands, answered without a workspace ------------------------------


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class Wait:
    pass


def _help_topic(words: Words) -> Help:
    topic = words.first()
    if topic is None:
        return Help()
    spec = commands().find(topic)
    return Help(spec.name if spec else topic.lstrip("/").lower())


OWN: tuple[Spec[Any], ...] = (
    Spec(
        name="wait",
        kind=Wait,
        usage="wait",
        summary="wait for the work you started",
        detail="The terminal chat waits until the drafts and posts you started are done.",
        parse=lambda _: Wait(),
        answer=lambda _: Message(text="Nothing to wait for here."),
        permission=None,
    ),
    Spec(
        name="help",
        kind=Help,
        usage="help [command]",
        summary="this list, or one command in detail",
        parse=_help_topic,
        answer=lambda cmd: Message(text=commands().help(cmd.topic)),
        permission=None,
        menu=True,
    ),
)


def parse(text: str) -> Command:
    return commands().parse(text)


def help_text(topic: str | None = None) -> str:
    return commands().help(topic)
