"""The bolt app, built by a factory: the same handlers serve Socket Mode and HTTP.

Handlers only translate. A slash command or a card button becomes one grammar line that
`Herald.accept` stores and enqueues (one INSERT, one enqueue) before the ack; a worker runs it
as the verified Slack user and answers through chat delivery (a refusal privately, a change on
the card and in its thread). Nothing else happens before the ack: no Slack API call (people
come from the cache, looked up after the ack), no core command. Forms (Edit, Reject) are the
exception Slack imposes: their errors must be in the ack, so they run core before it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import (
    ACTION_PREFIX,
    EDIT_VIEW,
    REJECT_VIEW,
    edit_view,
    help_blocks,
    message_payload,
    reject_view,
)
from bot.slack.client import Pacer, People, Tokens, call
from bot.slack.delivery import SlackDelivery
from bot.slack.files import MAX_FILES, FileRefused, download
from bot.slack.install import HeraldAuthorize, build_oauth_flow
from core import commands as c
from core.errors import HeraldError, RetryLater
from core.networks import get_network
from core.posts.card import Card, Message
from core.sanitize import clean_input
from core.service import Herald
from core.workspace.people import Actor
from storage.models import SurfaceKind
from storage.models_slack import SlackRepository

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SHORTCUT = "turn_into_post"
# Card buttons that are one grammar command; Edit and Reject open a form instead.
QUICK_ACTIONS = frozenset({"approve", "regenerate", "cancel", "retry", "slot", "skip", "posted"})
# At most this many core calls at once per process: each holds a database connection (and
# may briefly take a second), so the default pool of 15 is never exhausted under a burst.
CORE_SLOTS = 5
# Event ids recorded before an ack have slots of their own: they never queue behind slow work.
ACK_SLOTS = 5
AFTER_THREADS = 16
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(?:subteam\^)?[^>]*>")


def slack_text(text: str) -> str:
    """Slack's escaped forms back into plain words the grammar reads.

    `<#C123|marketing>` becomes the channel id `C123` (what cards are posted to); `<@U1|ana>`
    becomes the grammar's verified mention `<@U1>` (members are keyed by id); `&amp;` & co.
    become characters. Slack escapes a typed `<` as `&lt;`, so a raw `<@` is always Slack's
    own mention; a typed one is defused, so it can't pass for a verified person.
    """
    parts: list[str] = []
    last = 0
    for match in _USER.finditer(text):
        parts.append(_plain(text[last : match.start()]))
        parts.append(c.mention(match.group(1)))
        last = match.end()
    parts.append(_plain(text[last:]))
    return "".join(parts).strip()


def _plain(text: str) -> str:
    text = _CHANNEL.sub(lambda m: m.group(1), text)
    text = _SPECIAL.sub("", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return c.defuse_mentions(text)


@dataclass(frozen=True)
class Where:
    team_id: str
    team_name: str
    user_id: str
    user_name: str
    channel: str


class Handlers:
    """Every listener of the app, sharing the token cache, the people cache and the renderer."""

    def __init__(self, runtime: Runtime) -> None:
        self.herald: Herald = runtime.herald
        self.repo = SlackRepository(runtime.db, runtime.vault)
        self.tokens = Tokens(runtime.settings, self.repo)
        self.people = People(self.tokens)
        self.cards = SlackDelivery(self.tokens, Pacer(runtime.settings), self.repo)
        self._slots = threading.BoundedSemaphore(CORE_SLOTS)
        self._ack_slots = threading.BoundedSemaphore(ACK_SLOTS)
        # What follows an ack (Slack calls, slower core work) runs here, so the listener
        # returns at once and bolt answers Slack without waiting for it.
        self._after = ThreadPoolExecutor(max_workers=AFTER_THREADS, thread_name_prefix="slack")

    def later(self, work: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run `work` after the ack; a failure is logged with a ref, like a listener's."""

        def run() -> None:
            try:
                work(*args, **kwargs)
            except Exception as exc:
                ref = secrets.token_hex(3)
                log.error("slack follow-up failed (ref %s): %r", ref, exc, exc_info=exc)

        self._after.submit(run)

    def handle(self, actor: Actor, text: str) -> Message:
        with self._slots:
            return self.herald.handle(actor, text)

    def accept(
        self, actor: Actor, text: str, if_failed: IfFailed, body: dict[str, Any]
    ) -> Message | None:
        """Store the command for a worker (the only work before an ack); None when taken.

        On the event loop (`Deferred`) it only queues the command: the HTTP answer waits for
        the write, and `if_failed` says what to answer instead when it fails. Slack sends a
        `trigger_id` once per invocation: a signed request replayed (its signature holds for
        five minutes) is acked and not stored again.
        """
        trigger = body.get("trigger_id")
        once = f"trigger:{trigger[:200]}" if isinstance(trigger, str) and trigger else None
        deferred = DEFERRED.get()
        if deferred is not None:
            deferred.accept(self.herald, actor, text, if_failed, once)
            return None
        try:
            # Commands arriving together share one write (core's group commit): no slot needed.
            self.herald.accept(actor, text, once=once)
        except HeraldError as exc:  # over the rate limit: nothing stored, the person told
            return Message(text=str(exc), error=True)
        except Exception as exc:  # noqa: BLE001 - logged with a ref the person is given
            return could_not_accept(exc)
        return None

    def on_loop(self, body: dict[str, Any]) -> bool:
        """Whether bolt may run this request on the event loop: a slash command or a card
        button (their listeners only queue a command and schedule follow-ups) from a team
        whose bot token is cached (authorize would otherwise read the database)."""
        if body.get("command"):
            team = body.get("team_id")
        elif body.get("type") == "block_actions":
            team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        else:
            return False
        return isinstance(team, str) and self.tokens.cached(team)

    def first_time(self, key: str) -> bool:
        with self._ack_slots:
            return self.herald.first_time("slack", key)

    # --- who is talking --------------------------------------------------------------------

    def actor(self, where: Where) -> Actor:
        """The verified person, from the people cache only: safe before an ack.

        Someone not cached yet gets the name Slack sent and no zone (the workspace's is used
        until `resolve` learns theirs); `warm` after the ack caches the profile.
        """
        person = self.people.cached(where.team_id, where.user_id)
        return Actor(
            surface=SurfaceKind.SLACK,
            workspace_id=where.team_id,
            workspace_name=where.team_name or where.team_id,
            user_id=where.user_id,
            user_name=person.name if person else where.user_name,
            conversation=where.channel,
            timezone=person.timezone if person else None,
        )

    def looked_up(self, client: WebClient, where: Where) -> Actor:
        """The person with users.info asked when not cached: only after the ack."""
        self.people.get(client, where.team_id, where.user_id, where.user_name)
        return self.actor(where)

    def warm_later(self, client: WebClient, where: Where) -> None:
        """Cache the person's profile after the ack, unless it is cached already."""
        if self.people.cached(where.team_id, where.user_id) is None:
            self.later(self.people.warm, client, where.team_id, where.user_id, where.user_name)

    def run(self, actor: Actor, command: c.Command) -> Message:
        """A typed command (texts from modals keep their exact characters)."""
        try:
            with self._slots:
                return self.herald.execute(actor, command)
        except HeraldError as exc:
            return Message(text=str(exc), error=True)

    # --- slash command ---------------------------------------------------------------------

    def on_command(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        text = slack_text(body.get("text") or "")
        if text.lower() in {"", "help"}:
            ack(response_type="ephemeral", text="Herald commands", blocks=help_blocks())
            return
        where = Where(
            team_id=body["team_id"],
            team_name=body.get("team_domain") or body["team_id"],
            user_id=body["user_id"],
            user_name=body.get("user_name") or body["user_id"],
            channel=body["channel_id"],
        )
        failed = self.accept(self.actor(where), text, _ephemeral_answer, body)
        if failed is not None:
            ack(response_type="ephemeral", **message_payload(failed))
        elif _is_command(text):
            ack()  # the worker's answer follows within moments, privately
        else:
            # Free text may go to a model: say it was heard.
            ack(response_type="ephemeral", text="On it…")
        self.warm_later(client, where)

    # --- card buttons ----------------------------------------------------------------------

    def on_action(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        action = body["actions"][0]
        name = action["action_id"].removeprefix(ACTION_PREFIX).split("_", 1)[0]
        value = " ".join(str(action.get("value") or "").split())
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
        ts = container.get("message_ts")
        where = _where_of_interaction(body, channel)
        number = value.split()[0] if value else ""
        if not number.isdigit() or name not in QUICK_ACTIONS | {"edit", "reject"}:
            ack()
            log.warning("slack: ignored button %r with value %r", name, value[:40])
            return
        if name in {"edit", "reject"}:
            ack()  # nothing is written until the form is submitted
            self.later(
                self.open_modal, client, body["trigger_id"], where, name, int(number), channel, ts
            )
            return

        # The worker runs it as this user: core checks the role, redraws the card and
        # answers in its thread, or tells a refused person privately.
        def tell(message: Message) -> None:
            self.later(self.reply_privately, client, where, message)

        failed = self.accept(self.actor(where), f"{name} {value}", tell, body)
        ack()
        if failed is not None:
            tell(failed)
        self.warm_later(client, where)

    def open_modal(
        self,
        client: WebClient,
        trigger_id: str,
        where: Where,
        name: str,
        number: int,
        channel: str,
        ts: str | None,
    ) -> None:
        if name == "reject":
            view = reject_view(number, channel=channel, ts=ts)
        else:
            shown = self.run(self.looked_up(client, where), c.Show(number))
            if shown.card is None:
                self.reply_privately(client, where, shown)
                return
            view = edit_view(shown.card, channel=channel, ts=ts)
        try:
            call(client.views_open, trigger_id=trigger_id, view=view)
        except (SlackApiError, RetryLater) as exc:
            log.warning("views.open failed: %s", exc)
            self.reply_privately(
                client,
                where,
                Message(text="Slack did not open the form in time. Click again.", error=True),
            )

    def on_edit_submit(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        number = int(meta["n"])
        before = {
            b["block_id"]: (b.get("element") or {}).get("initial_value")
            for b in view.get("blocks", [])
            if b.get("type") == "input"
        }
        errors: dict[str, str] = {}
        changed: list[tuple[str, str, str]] = []
        for block_id, fields in (view.get("state") or {}).get("values", {}).items():
            if not block_id.startswith("net_"):
                continue
            text = clean_input((fields.get("text") or {}).get("value") or "")
            network = get_network(block_id.removeprefix("net_"))
            length = network.length(text)
            if not text.strip():
                errors[block_id] = f"The {network.display} text is empty."
            elif not network.fits(text):
                errors[block_id] = (
                    f"{length:,}/{network.limit:,} {network.unit}: shorten it by "
                    f"{length - network.limit:,}."
                )
            elif text != before.get(block_id):
                changed.append((block_id, network.name, text))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        where = _where_of_interaction(body, meta.get("c") or "")
        actor = self.actor(where)
        reply = Message(text=f"Nothing changed in #{number}.", post_number=number)
        for block_id, network_name, text in changed:
            reply = self.run(actor, c.Edit(number=number, network=network_name, text=text))
            if reply.error:
                ack(response_action="errors", errors={block_id: (reply.text or "")[:300]})
                return
        ack()
        self.warm_later(client, where)
        if changed:
            self.later(
                self.after_change,
                client,
                actor,
                where,
                reply,
                number,
                meta.get("c"),
                meta.get("ts"),
            )

    def on_reject_submit(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        number = int(meta["n"])
        values = (view.get("state") or {}).get("values", {})
        reason = clean_input(((values.get("reason") or {}).get("text") or {}).get("value") or "")
        where = _where_of_interaction(body, meta.get("c") or "")
        actor = self.actor(where)
        reply = self.run(actor, c.Reject(number=number, reason=reason.strip() or None))
        if reply.error:
            ack(response_action="errors", errors={"reason": (reply.text or "")[:300]})
            return
        ack()
        self.warm_later(client, where)
        self.later(
            self.after_change, client, actor, where, reply, number, meta.get("c"), meta.get("ts")
        )

    def after_change(
        self,
        client: WebClient,
        actor: Actor,
        where: Where,
        reply: Message,
        number: int,
        channel: str | None,
        ts: str | None,
    ) -> None:
        """After the ack: a refusal privately; a change redrawn on the card and in its thread."""
        if reply.error:
            log.info(
                "slack: refused %s on #%s for %s in %s: %s",
                "action",
                number,
                where.user_id,
                where.team_id,
                reply.text,
            )
            self.reply_privately(client, where, reply)
            return
        if not channel or not ts:
            self.reply_privately(client, where, reply)
            return
        card: Card | None = reply.card
        if card is None:
            card = self.run(actor, c.Show(number)).card
        status = reply.text or (card.status if card else None)
        try:
            if card is not None:
                self.cards.redraw(where.team_id, channel, ts, card, status)
            if reply.text:
                call(
                    client.chat_postMessage,
                    channel=channel,
                    thread_ts=ts,
                    unfurl_links=False,
                    **message_payload(Message(text=reply.text)),
                )
        except (SlackApiError, RetryLater) as exc:
            # The next lifecycle message redraws the card anyway; nothing is lost.
            log.warning("slack: could not show the result on #%s: %s", number, exc)

    # --- message shortcut ------------------------------------------------------------------

    def on_shortcut(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()  # the draft starts after the ack; the answer comes privately
        self.later(self.shortcut_draft, body, client)

    def shortcut_draft(self, body: dict[str, Any], client: WebClient) -> None:
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        where = _where_of_interaction(body, channel)
        brief = clean_input(slack_text(message.get("text") or ""))[: c.MAX_BRIEF]
        if not brief.strip():
            reply = Message(text="That message has no text to turn into a post.", error=True)
        else:
            reply = self.run(self.looked_up(client, where), c.Draft(brief=brief))
        self.reply_privately(client, where, reply)

    # --- conversation: mentions, DMs, replies in a card's thread ---------------------------

    def on_mention(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if not self.first_time(body.get("event_id") or event["ts"]):
            return
        if event.get("files"):
            self.later(self.attach_files, body, event, client)
            return
        self.later(self.converse, body, event, client)

    def on_message(
        self, body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        shared = event.get("subtype") == "file_share" and bool(event.get("files"))
        if (event.get("subtype") and not shared) or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, and bots (Herald itself included) are not requests
        direct = event.get("channel_type") == "im"
        in_thread = bool(event.get("thread_ts")) and event.get("thread_ts") != event.get("ts")
        mentioned = bool(context.bot_user_id) and f"<@{context.bot_user_id}>" in (
            event.get("text") or ""
        )
        if mentioned or not (direct or in_thread):
            return  # a mention arrives as app_mention too; other channel talk is not for us
        if not self.first_time(body.get("event_id") or event["ts"]):
            return
        if shared:
            self.later(self.attach_files, body, event, client)
            return
        self.later(self.converse, body, event, client, only_card_threads=not direct)

    def attach_files(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        """Files shared in a card's thread become the post's media; the answer is in the thread."""
        team = body.get("team_id") or event.get("team") or ""
        channel = event["channel"]
        where = Where(team, team, event["user"], event["user"], channel)
        thread = event.get("thread_ts")
        number = self.repo.post_of_card(team, channel, thread) if thread else None
        if number is None:
            if event.get("channel_type") == "im" or event.get("type") == "app_mention":
                self.reply_privately(
                    client,
                    where,
                    Message(
                        text="To attach a file to a post, share it in the thread of the post's "
                        "card, or type /herald attach <n> <link>.",
                        error=True,
                    ),
                )
            return  # a file in some other thread is not for Herald
        actor = self.looked_up(client, where)
        bot = self.tokens.bot(team)
        if bot is None:
            return
        alt = clean_input(slack_text(event.get("text") or "")).strip() or None
        for file in (event.get("files") or [])[:MAX_FILES]:
            try:
                data = download(file, bot.token, self.tokens.settings.slack_api_url)
            except FileRefused as exc:
                self.reply_privately(client, where, Message(text=str(exc), error=True))
                continue
            source = f"slack:{file.get('id') or ''} {file.get('name') or ''}".strip()
            with self._slots:
                reply = self.herald.attach_upload(actor, number, data, alt=alt, source=source)
            self.after_change(client, actor, where, reply, number, channel, thread)

    def converse(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        client: WebClient,
        *,
        only_card_threads: bool = False,
    ) -> None:
        team = body.get("team_id") or event.get("team") or ""
        channel = event["channel"]
        where = Where(team, team, event["user"], event["user"], channel)
        text = _addressed(slack_text(event.get("text") or ""), body)
        thread = event.get("thread_ts")
        number = self.repo.post_of_card(team, channel, thread) if thread else None
        if number is not None and not _is_command(text):
            # A reply in a card's thread that is no command is feedback for a new draft.
            text = f"regenerate {number} {text}".strip()
        elif number is None and only_card_threads:
            return  # channel talk outside a card's thread is not for us
        # The answer goes in the channel's thread, seen by all (a DM's is seen by one).
        actor = replace(self.looked_up(client, where), shared=event.get("channel_type") != "im")
        reply = self.handle(actor, text)
        try:
            call(
                client.chat_postMessage,
                channel=channel,
                thread_ts=thread or (event["ts"] if event.get("type") == "app_mention" else None),
                unfurl_links=False,
                **message_payload(reply),
            )
        except (SlackApiError, RetryLater) as exc:
            log.warning("slack: could not answer in %s: %s", channel, exc)

    # --- uninstall -------------------------------------------------------------------------

    def on_uninstalled(self, body: dict[str, Any]) -> None:
        self.later(self.forget, body)

    def forget(self, body: dict[str, Any]) -> None:
        team = body.get("team_id")
        if team:
            self.repo.forget_team(team)
            self.tokens.forget(team)
            log.info("slack: uninstalled from %s; its token is deleted", team)

    def on_tokens_revoked(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):
            self.later(self.forget, body)

    # --- helpers ---------------------------------------------------------------------------

    def reply_privately(self, client: WebClient, where: Where, reply: Message) -> None:
        try:
            call(
                client.chat_postEphemeral,
                channel=where.channel,
                user=where.user_id,
                **message_payload(reply),
            )
        except (SlackApiError, RetryLater) as exc:
            log.warning("slack: could not answer %s privately: %s", where.user_id, exc)

    def on_error(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        ref = secrets.token_hex(3)
        log.error("slack handler failed (ref %s): %r", ref, error, exc_info=error)
        # A signed payload Herald could not read (a shape Slack does not send): 400 with the
        # ref that is in the log, never bolt's empty 500.
        return BoltResponse(
            status=400, body=f"Herald could not handle this request (ref {ref}).", headers={}
        )


# What to do when a command accepted on the event loop could not be stored: a response to
# send instead of the ack, or None (the person was told another way).
IfFailed = Callable[[Message], BoltResponse | None]


def could_not_accept(exc: Exception) -> Message:
    ref = secrets.token_hex(3)
    log.error("slack: could not accept a command (ref %s): %r", ref, exc, exc_info=exc)
    return Message(
        text=f"Something went wrong on my side (ref {ref}). Try again in a moment.", error=True
    )


def _ephemeral_answer(message: Message) -> BoltResponse:
    body = {"response_type": "ephemeral", **message_payload(message)}
    return BoltResponse(
        status=200, body=json.dumps(body), headers={"content-type": "application/json"}
    )


class Deferred:
    """Commands bolt's listeners accepted while it ran on the event loop.

    The HTTP endpoint runs `App.dispatch` on the loop for slash commands and card buttons
    (no thread hop: they do no I/O before their ack but the write), then awaits `settle`:
    the inbox's writer stores and enqueues the commands meanwhile, so the ack still follows
    the write, as everywhere else.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[asyncio.Future[Exception | None], IfFailed]] = []

    def accept(
        self, herald: Herald, actor: Actor, text: str, if_failed: IfFailed, once: str | None
    ) -> None:
        future: asyncio.Future[Exception | None] = self.loop.create_future()

        def done(_row_id: int, error: Exception | None) -> None:
            self.loop.call_soon_threadsafe(_settle, future, error)

        # Over the rate limit, `done` gets `TooFast`: `settle` answers with its message.
        herald.accept_later(actor, text, done, once=once)
        self.pending.append((future, if_failed))

    async def settle(self, response: BoltResponse) -> BoltResponse:
        for future, if_failed in self.pending:
            error = await future
            if isinstance(error, HeraldError):
                response = if_failed(Message(text=str(error), error=True)) or response
            elif error is not None:
                response = if_failed(could_not_accept(error)) or response
        return response


def _settle(future: asyncio.Future[Exception | None], error: Exception | None) -> None:
    if not future.done():
        future.set_result(error)


DEFERRED: ContextVar[Deferred | None] = ContextVar("herald_slack_deferred", default=None)


def _addressed(text: str, body: dict[str, Any]) -> str:
    """`text` without the mention of Herald that starts it (`@Herald queue` is `queue`)."""
    for authorization in body.get("authorizations") or []:
        ours = c.mention(str(authorization.get("user_id") or ""))
        if text.startswith(ours):
            return text[len(ours) :].strip()
    return text


def _is_command(text: str) -> bool:
    try:
        c.parse(text)
    except c.UnknownCommand:
        return False
    except HeraldError:
        return True  # a known command with a mistake: the grammar explains it
    return True


def _where_of_interaction(body: dict[str, Any], channel: str) -> Where:
    user = body.get("user") or {}
    team = body.get("team") or {}
    team_id = team.get("id") or user.get("team_id") or ""
    return Where(
        team_id=team_id,
        team_name=team.get("domain") or team_id,
        user_id=user["id"],
        user_name=user.get("username") or user.get("name") or user["id"],
        channel=channel,
    )


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("herald.slack.bolt")
    logger.setLevel(logging.ERROR)
    return logger


def build_bolt_app(
    runtime: Runtime, *, socket_mode: bool = False, handlers: Handlers | None = None
) -> App:
    """The Slack app. Over HTTP, bot.slack.http verifies every request's signature before
    dispatching it here; Socket Mode needs none."""
    settings = runtime.settings
    handlers = handlers or Handlers(runtime)
    secret = settings.slack_signing_secret
    if not socket_mode and secret is None:
        raise RuntimeError("Set HERALD_SLACK_SIGNING_SECRET to serve Slack over HTTP.")
    oauth_flow = None if socket_mode else build_oauth_flow(settings, handlers.repo, handlers.tokens)
    app = App(
        signing_secret=secret.get_secret_value() if secret else None,
        client=handlers.tokens.client(),
        # An `Authorize` instance is accepted beside an OAuth flow (a bare function is not).
        authorize=HeraldAuthorize(handlers.tokens),  # type: ignore[arg-type]
        oauth_flow=oauth_flow,
        # Over HTTP the router checks each signature on the raw bytes before bolt sees the
        # request (bot.slack.http `_unverified`); checking again here would only cost a second
        # HMAC. Socket Mode needs none.
        request_verification_enabled=False,
        token_verification_enabled=False,
        # Listeners return right after their ack (follow-ups go to `Handlers.later`), so bolt
        # answers when they return instead of polling for the ack every 10 ms.
        process_before_response=True,
        # Bolt logs request bodies (a bad signature at INFO, an unhandled request at WARNING,
        # responses at DEBUG): its loggers copy this one's level, so they only log errors.
        logger=_bolt_logger(),
    )
    app.command(re.compile(r"^/herald"))(handlers.on_command)
    app.action(re.compile(f"^{ACTION_PREFIX}"))(handlers.on_action)
    app.view(EDIT_VIEW)(handlers.on_edit_submit)
    app.view(REJECT_VIEW)(handlers.on_reject_submit)
    app.shortcut(SHORTCUT)(handlers.on_shortcut)
    app.event("app_mention")(handlers.on_mention)
    app.event("message")(handlers.on_message)
    app.event("app_uninstalled")(handlers.on_uninstalled)
    app.event("tokens_revoked")(handlers.on_tokens_revoked)
    app.error(handlers.on_error)
    return app
