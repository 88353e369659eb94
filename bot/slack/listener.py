"""What every Slack listener shares: the caches, the pool, storing a command before the ack,
running one after it, and answering: privately, or on a card and in its thread."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import message_payload
from bot.slack.client import Pacer, Tokens, call
from bot.slack.concurrency import DEFERRED, IfFailed, Pool, could_not_accept
from bot.slack.delivery import SlackDelivery
from bot.slack.people import People, Where
from core import registry
from core.errors import HeraldError, RetryLater, log_failure
from core.grammar import UnknownCommand
from core.posts.card import Card, Message
from core.posts.commands import Show
from core.registry import Command
from core.service import Herald
from core.workspace.people import Actor
from storage.models_slack import SlackRepository

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


class Listener:
    """The state every listener shares: the token cache, the people cache, the renderer and
    the pool. Each kind of listener (bot.slack.commands, actions, forms, events) adds its
    methods to it; bot.slack.app puts them together."""

    def __init__(self, runtime: Runtime) -> None:
        self.herald: Herald = runtime.herald
        self.repo = SlackRepository(runtime.db, runtime.vault)
        self.tokens = Tokens(runtime.settings, self.repo)
        self.people = People(self.tokens)
        self.cards = SlackDelivery(self.tokens, Pacer(runtime.settings), self.repo)
        self.pool = Pool()

    def handle(self, actor: Actor, text: str) -> Message:
        with self.pool.slots:
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
        with self.pool.ack_slots:
            return self.herald.first_time("slack", key)

    def warm_later(self, client: WebClient, where: Where) -> None:
        """Cache the person's profile after the ack, unless it is cached already."""
        if self.people.cached(where.team_id, where.user_id) is None:
            self.pool.later(self.people.warm, client, where.team_id, where.user_id, where.user_name)

    def run(self, actor: Actor, command: Command) -> Message:
        """A typed command (texts from modals keep their exact characters)."""
        try:
            with self.pool.slots:
                return self.herald.execute(actor, command)
        except HeraldError as exc:
            return Message(text=str(exc), error=True)

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
            card = self.run(actor, Show(number)).card
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

    def on_error(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        ref = log_failure(log, "slack handler failed", error)
        # A signed payload Herald could not read (a shape Slack does not send): 400 with the
        # ref that is in the log, never bolt's empty 500.
        return BoltResponse(
            status=400, body=f"Herald could not handle this request (ref {ref}).", headers={}
        )


def is_command(text: str) -> bool:
    try:
        registry.parse(text)
    except UnknownCommand:
        return False
    except HeraldError:
        return True  # a known command with a mistake: the grammar explains it
    return True
