"""Commands guessed from free text, and the `yes` / `no` that settle them.

When the grammar can't read a line, the interpreter guesses a command. A guess that only
reads (the queue, one post) is answered at once. A guess that changes something (approve,
schedule, cancel, regenerate, reject, edit) is shown back as the command line it stands for
and waits for `yes` from the same person in the same conversation; `no` drops it. The stored
thing is that grammar line, so `yes` runs exactly what was shown, parsed like a typed line,
with the permissions of whoever says yes (who must be whoever asked).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from core.approvals.commands import Approve, Reject
from core.context import Context, Tx
from core.errors import BadInput
from core.permissions import require
from core.posts.card import Message
from core.posts.commands import Cancel, Edit, Queue, Regenerate, Show
from core.registry import Command, Request, Spec, commands
from core.scheduling.commands import Schedule
from core.workspace.people import Actor, resolve
from storage.models import Member, PendingGuess, Post, PostState, Workspace

KEEP = timedelta(minutes=10)  # how long a guess waits for its yes
READ_ONLY: tuple[type, ...] = (Queue, Show)
# The actions a guess may name a post by its subject for ("cancel the post about the webinar").
ACTIONS = ("approve", "reject", "cancel", "schedule", "regenerate", "show")
# The command words whose misfit lines go to the interpreter ("approve post 1").
GUESSABLE = frozenset({*ACTIONS, "queue"})
_ARTICLE = re.compile(r"^(?:(?:the|our|my|a|an|that|this)(?:\s+|$))+", re.IGNORECASE)
SHOWN = 60  # characters of a brief shown beside the guess


@dataclass(frozen=True)
class PostAbout:
    """A guess that names its post by what it is about, not by its number: `cancel the post
    about the webinar` is `PostAbout("cancel", "the webinar")`. `detail` is what follows the
    number in the command (a time, feedback, a reason)."""

    action: str
    subject: str
    detail: str = ""


def line_of(command: Command) -> str | None:
    """The grammar line a command stands for, or None for one no guess may be."""
    match command:
        case Approve(number=n):
            return f"approve {n}"
        case Reject(number=n, reason=reason):
            return f"reject {n} {reason or ''}".strip()
        case Cancel(number=n):
            return f"cancel {n}"
        case Schedule(number=n, when=when):
            return f"schedule {n} {when}"
        case Regenerate(number=n, feedback=feedback):
            return f"regenerate {n} {feedback or ''}".strip()
        case Edit(number=n, network=network, text=text):
            return f"edit {n} {network} {text}"
        case Show(number=n):
            return f"show {n}"
        case Queue():
            return "queue"
    return None


def propose(
    ctx: Context, actor: Actor, guess: Command, run: Callable[[Actor, Command], Message]
) -> Message:
    """Answer a guessed command: run it when it only reads, else ask for a yes.

    `run` runs a command as `actor` (the service's `execute`); it answers the read-only ones.
    """
    with ctx.tx() as tx:
        ws, me = resolve(tx, actor, ctx.settings.timezone)
        line, seen = _line(tx, ws, guess)
        command = commands().parse(line)  # what `yes` will parse: the same line
        if not isinstance(command, READ_ONLY):
            spec = _spec(command)
            permission = spec.permission_for(command)
            if permission is not None:  # refused now, not after the yes
                require(me, permission)
            _remember(tx, me, actor.conversation, line)
            return _asking(line, seen)
    return run(actor, command)


def _line(tx: Tx, ws: Workspace, guess: Command) -> tuple[str, Post | None]:
    if isinstance(guess, PostAbout):
        post = find_about(tx, ws, guess.subject)
        return f"{guess.action} {post.number} {guess.detail}".strip(), post
    line = line_of(guess)
    if line is None:
        raise TypeError(f"no guess may be {guess!r}")
    return line, None


def find_about(tx: Tx, ws: Workspace, subject: str) -> Post:
    """The one live post whose brief mentions `subject`, or a refusal that says how to pick."""
    words = _ARTICLE.sub("", subject.strip(" \"'“”.,!?")).strip()
    if not words:
        raise BadInput("Which post? Give its number, e.g. cancel 12. Type queue to see them.")
    live = (PostState.REJECTED, PostState.CANCELLED)
    found = tx.session.scalars(
        select(Post)
        .where(
            Post.workspace_id == ws.id,
            Post.state.not_in(live),
            func.lower(Post.brief).contains(words.lower(), autoescape=True),
        )
        .order_by(Post.number)
        .limit(6)
    ).all()
    if not found:
        raise BadInput(f'No post here is about "{_cut(words)}". Type queue to see them.')
    if len(found) > 1:
        numbers = ", ".join(f"#{p.number}" for p in found[:5])
        raise BadInput(
            f'More than one post is about "{_cut(words)}": {numbers}. Say which by its '
            f"number, e.g. {found[0].number}."
        )
    return found[0]


def _asking(line: str, post: Post | None) -> Message:
    seen = f' (#{post.number}: "{_cut(" ".join(post.brief.split()))}")' if post else ""
    return Message(
        text=f"Did you mean: {line}{seen}\n"
        "Reply yes to do it, or no. (Typed like that, it runs at once.)"
    )


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 1].rstrip() + "…"


def _spec(command: Command) -> Spec[Any]:
    spec = commands().spec_of(command)
    if spec is None:
        raise TypeError(f"no command is declared for {command!r}")
    return spec


def _remember(tx: Tx, me: Member, conversation: str, line: str) -> None:
    """One guess per person and conversation: a new one replaces the last."""
    tx.session.execute(
        delete(PendingGuess).where(
            PendingGuess.member_id == me.id, PendingGuess.conversation == conversation
        )
    )
    tx.session.add(
        PendingGuess(
            member_id=me.id,
            conversation=conversation,
            line=line,
            expires_at=tx.now + KEEP,
            created_at=tx.now,
        )
    )


def _pending(r: Request) -> PendingGuess | None:
    return r.tx.session.scalars(
        select(PendingGuess).where(
            PendingGuess.member_id == r.me.id,
            PendingGuess.conversation == r.actor.conversation,
            PendingGuess.expires_at > r.tx.now,
        )
    ).one_or_none()


# --- yes and no ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Yes:
    pass


@dataclass(frozen=True)
class No:
    pass


def confirm(r: Request, _: Yes) -> Message:
    """Run the guess waiting for this person's yes, in this transaction: refused, it stays."""
    guess = _pending(r)
    if guess is None:
        raise BadInput(
            "Nothing is waiting for a yes from you here (a guess waits 10 minutes). "
            "Say what you want again, or type help."
        )
    line = guess.line
    r.tx.session.delete(guess)
    command = commands().parse(line)
    return commands().within(r, command)


def decline(r: Request, _: No) -> Message:
    guess = _pending(r)
    if guess is None:
        return Message(text="Nothing is waiting for a yes from you here.")
    r.tx.session.delete(guess)
    return Message(text=f"OK, I won't {guess.line}. Nothing changed.")


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="yes",
        kind=Yes,
        usage="yes",
        summary="do what I guessed from your words",
        detail="When I read plain language as a command that changes something, I ask first; "
        "yes runs it (for 10 minutes, for the person who asked, in the same chat).",
        parse=lambda _: Yes(),
        handle=confirm,
        aliases=("y",),
    ),
    Spec(
        name="no",
        kind=No,
        usage="no",
        summary="drop what I guessed from your words",
        parse=lambda _: No(),
        handle=decline,
        aliases=("n",),
    ),
)
