"""Herald's front door: chat surfaces call `handle` and `accept`."""

from __future__ import annotations

import dataclasses
import logging

from core import accounts, guesses, media, metrics, ratelimit, registry
from core.analytics import jobs as analytics
from core.context import Context
from core.errors import BadInput, Forbidden, HeraldError, Unavailable, log_failure, went_wrong
from core.grammar import UnknownCommand, redact_secrets
from core.logcontext import bound
from core.maintenance import jobs as maintenance
from core.messaging import delivery, inbox
from core.operations.counts import Counted, note
from core.ports import CommandInbox, Done
from core.posts import jobs as posts
from core.posts.card import Message
from core.posts.commands import Draft
from core.publishing import jobs as publishing
from core.publishing.reconcile import reconcile
from core.registry import Command
from core.sanitize import clean_input
from core.scheduling import jobs as scheduling
from core.workspace import second_factor
from core.workspace.people import Actor, resolve
from storage.models import SurfaceKind
from storage.ratelimit import Ask

log = logging.getLogger(__name__)


def _guessable(text: str) -> bool:
    """Whether a refused line that starts with a command word may go to the interpreter: the
    post commands people phrase loosely ("approve post 1", "show me the queue"). A `draft`
    line never does (it takes any brief already; its refusals are about its options), nor do
    the workspace and account commands (`connect` carries secrets no model should see)."""
    spec = registry.commands().find(text.strip().partition(" ")[0])
    return spec is not None and spec.name in guesses.GUESSABLE


class Herald:
    def __init__(self, ctx: Context, inbox: CommandInbox) -> None:
        self.ctx = ctx
        self.inbox = inbox

    # --- chat ------------------------------------------------------------------------------

    def handle(self, actor: Actor, text: str, *, counted: bool = False) -> Message:
        """Parse one line of the grammar and run it. Never raises: refusals become messages.

        `counted`: a command a person sent just now (not one a worker runs after `accept`),
        which counts against their rate limit.
        """
        named: list[str] = []  # the command's name, once the line is understood
        with bound(workspace=actor.workspace_id, surface=str(actor.surface)):
            try:
                if counted:
                    self.admit(actor)
                message = self._answer(actor, clean_input(text), named)
            except HeraldError as exc:
                if isinstance(exc, Forbidden):  # counted for the burst alert
                    note(self.ctx.db, Counted.DENIED, self.ctx.clock.now())
                name = named[-1] if named else "unknown"
                metrics.COMMANDS.labels(name, _refusal(exc)).inc()
                return Message(text=str(exc), error=True)
            except Exception:  # noqa: BLE001 - logged with its traceback by log_failure
                metrics.COMMANDS.labels(named[-1] if named else "unknown", "error").inc()
                return Message(text=went_wrong(log_failure(log, "command failed")), error=True)
        name = named[-1] if named else "unknown"
        metrics.COMMANDS.labels(name, "refused" if message.error else "ok").inc()
        return message

    def _answer(self, actor: Actor, text: str, named: list[str]) -> Message:
        """Run one message: the code a sensitive command waits for, or a command (its
        `--code` taken out and handed to the second-factor check). The command's name goes
        into `named` as soon as it is known (a bounded metric label)."""
        ask = second_factor.take_ask(self.ctx, actor)
        code = second_factor.answer_code(text)
        if code is not None:
            if ask is None or ask.expired or not ask.text:
                late = " (the one I asked for has expired)" if ask is not None else ""
                return Message(
                    text=f"Nothing is waiting for a code{late}. Send the command again, or "
                    "with its code, e.g. connect x --code 123456.",
                    error=True,
                )
            line, _ = second_factor.split_code(ask.text)
            waiting = self.understand(actor, line)
            named.append(registry.commands().name_of(waiting))
            return self.execute(actor, waiting, code=code, text=line)
        line, code = second_factor.split_code(text)
        # Only a command in the grammar is kept to run on its code: free text read again
        # by a model could come out as another command.
        grammar = registry.commands().find(line.partition(" ")[0]) is not None
        command, guessed = self.read(actor, line)
        named.append(registry.commands().name_of(command))
        if guessed and not isinstance(command, Draft):
            # A guess that changes something waits for the person's yes (core/guesses.py).
            reply = guesses.propose(self.ctx, actor, command, self.execute)
        else:
            reply = self.execute(actor, command, code=code, text=line if grammar else None)
        if ask is None or ask.expired:
            return reply
        # The next message was not the code: the command that waited for it is dropped.
        head = " ".join(redact_secrets(ask.text).split()[:1]) or "command"
        dropped = f"(I dropped the {head} that waited for your code.)"
        text = f"{reply.text}\n{dropped}" if reply.text else dropped
        return dataclasses.replace(reply, text=text)

    def understand(self, actor: Actor, text: str) -> Command:
        """The command a line stands for: the grammar's, else the interpreter's guess."""
        return self.read(actor, text)[0]

    def read(self, actor: Actor, text: str) -> tuple[Command, bool]:
        """The grammar first; a line it refuses goes to the interpreter (a model or rules).
        Returns the command and whether it is a guess.

        A line that starts with a command word but doesn't fit its usage ("approve post 1")
        is guessed at too; when the interpreter can't make a command of it, the grammar's
        refusal (with the usage) is the answer. Only the post commands are guessed at this
        way (see `_guessable`).
        """
        try:
            return registry.parse(text), False
        except BadInput as refusal:
            interpreter = self.ctx.interpreter
            if interpreter is None:
                raise
            free = isinstance(refusal, UnknownCommand)
            if not free and not _guessable(text):
                raise
            try:
                command: Command = interpreter.interpret(text, actor=actor)
            except BadInput:
                if free:
                    raise
                raise refusal from None
            return command, True

    def execute(
        self, actor: Actor, cmd: Command, *, code: str | None = None, text: str | None = None
    ) -> Message:
        """Run a parsed command: the registry checks its permission (and second factor, with
        `code`, or asking for one to run `text`) and calls its handler."""
        return registry.commands().run(self.ctx, actor, cmd, code=code, text=text)

    def attach_upload(
        self,
        actor: Actor,
        number: int,
        data: bytes,
        *,
        alt: str | None = None,
        source: str = "upload",
    ) -> Message:
        """Attach a file a person sent (a Slack file, a Telegram photo) to post `number`."""
        try:
            with self.ctx.tx() as tx:
                ws, me = resolve(tx, actor, self.ctx.settings.timezone)
                return media.attach_bytes(
                    self.ctx, tx, ws, me, number, data, alt=alt, source=source
                )
        except HeraldError as exc:
            return Message(text=str(exc), error=True)

    def workspace_of(self, actor: Actor) -> int:
        with self.ctx.tx() as tx:
            ws, _ = resolve(tx, actor, self.ctx.settings.timezone)
            return ws.id

    # --- jobs, for tests and benches that drive them one step at a time --------------------
    # (the Celery tasks in workers/ call the job functions themselves)

    def generate(self, post_id: int) -> None:
        posts.generate(self.ctx, post_id)

    def dispatch_due(self) -> int:
        return scheduling.dispatch_due(self.ctx)

    def publish(self, target_id: int) -> None:
        publishing.publish(self.ctx, target_id)

    def reconcile(self, target_id: int) -> None:
        reconcile(self.ctx, target_id)

    def sweep(self) -> dict[str, int]:
        return maintenance.sweep(self.ctx)

    def collect(self) -> int:
        """One collection tick: read and record the figures that are due."""
        return analytics.collect(self.ctx)

    def accept(self, actor: Actor, text: str, *, once: str | None = None) -> int | None:
        """Take a command now (one row, one job) and run it in a worker: for fast acks.

        Raises `TooFast` (nothing stored) when the person is over their rate limit. `once`
        is a key the platform sends once per invocation (Slack's trigger_id): a replay is
        not stored again (None).
        """
        row_id = self.inbox.accept(actor, text, self._admission(actor, once))  # it cleans
        return row_id or None

    def accept_later(self, actor: Actor, text: str, done: Done, *, once: str | None = None) -> None:
        """`accept` for a caller that must not block (an event loop): `done(row_id, error)`
        says when it is stored (row id 0 for a replay; `TooFast` when over the limit). The
        limit is counted with the rest of the batch, never on the caller's thread."""
        self.inbox.accept_later(actor, text, done, self._admission(actor, once))

    def admit(self, actor: Actor, *, once: str | None = None) -> bool:
        """Count one command from this person now; `TooFast` when over the limit, False when
        `once` was seen within REPLAY_SECONDS (a replayed request), else True."""
        admission = self._admission(actor, once)
        if admission is None:
            return True
        return admission.judge(self.ctx.limits.hit_many([admission.ask])[0])

    def _admission(self, actor: Actor, once: str | None) -> ratelimit.Admission | None:
        """What a command from `actor` counts against; None when nothing is counted.

        The terminal chat is the operator's own: scripts pipe hundreds of lines, unlimited.
        """
        settings = self.ctx.settings
        limit = 0 if actor.surface == SurfaceKind.TERMINAL else settings.command_rate_limit
        if limit <= 0 and once is None:
            return None
        ask = Ask(
            f"cmd:{actor.surface.value}:{actor.workspace_id}:{actor.user_id}",
            settings.command_rate_window_seconds,
            once=f"once:{actor.surface.value}:{once}" if once is not None else None,
            ttl=ratelimit.REPLAY_SECONDS,
        )
        return ratelimit.Admission(ask, limit)

    def run_inbound(self, *row_ids: int) -> None:
        inbox.run(self.ctx, self.handle, *row_ids)

    def check_accounts(self) -> int:
        """The daily token health check: refresh, warn owners before expiry or on revocation."""
        return accounts.check_health(self.ctx)

    def deliver(self, message_id: int) -> None:
        delivery.deliver(self.ctx, message_id)

    def first_time(self, surface: str, key: str) -> bool:
        """Whether an inbound event id is new (Slack event_id, Telegram update_id)."""
        return delivery.first_time(self.ctx, surface, key)


def _refusal(exc: HeraldError) -> str:
    """The metric's word for a refused command: denied (a permission) feeds its own alert."""
    if isinstance(exc, Forbidden):
        return "denied"
    if isinstance(exc, Unavailable):
        return "unavailable"
    return "refused"
