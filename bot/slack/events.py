"""Events: mentions, DMs and replies in a card's thread, files shared there, and uninstalls.
Each is recorded once before the ack; the work follows in the pool."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import message_payload
from bot.slack.client import call
from bot.slack.files import MAX_FILES, FileRefused, download
from bot.slack.listener import Listener, is_command
from bot.slack.people import Where, addressed, slack_text
from bot.slack.uploads import ShareRefused, share
from core.errors import RetryLater
from core.posts.card import Message
from core.sanitize import clean_input

log = logging.getLogger(__name__)


class Events(Listener):
    """Mentions, DMs, card-thread replies and files, each recorded once before the ack;
    uninstalls and revoked tokens forget the team."""

    def on_mention(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if not self.first_time(body.get("event_id") or event["ts"]):
            return
        if event.get("files"):
            self.pool.later(self.attach_files, body, event, client)
            return
        self.pool.later(self.converse, body, event, client)

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
            self.pool.later(self.attach_files, body, event, client)
            return
        self.pool.later(self.converse, body, event, client, only_card_threads=not direct)

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
        actor = self.people.looked_up(client, where)
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
            with self.pool.slots:
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
        text = addressed(slack_text(event.get("text") or ""), body)
        thread = event.get("thread_ts")
        number = self.repo.post_of_card(team, channel, thread) if thread else None
        if number is not None and not is_command(text):
            # A reply in a card's thread that is no command is feedback for a new draft.
            text = f"regenerate {number} {text}".strip()
        elif number is None and only_card_threads:
            return  # channel talk outside a card's thread is not for us
        # The answer goes in the channel's thread, seen by all (a DM's is seen by one).
        actor = replace(
            self.people.looked_up(client, where), shared=event.get("channel_type") != "im"
        )
        reply = self.handle(actor, text)
        thread_ts = thread or (event["ts"] if event.get("type") == "app_mention" else None)
        try:
            if reply.files and reply.card is None:  # one message: the files, the text with them
                share(client, channel, reply.files, thread_ts=thread_ts, comment=reply.text)
                return
            call(
                client.chat_postMessage,
                channel=channel,
                thread_ts=thread_ts,
                unfurl_links=False,
                **message_payload(reply),
            )
            if reply.files:
                share(client, channel, reply.files, thread_ts=thread_ts)
        except (SlackApiError, RetryLater, ShareRefused) as exc:
            log.warning("slack: could not answer in %s: %s", channel, exc)

    # --- uninstall -------------------------------------------------------------------------

    def on_uninstalled(self, body: dict[str, Any]) -> None:
        self.pool.later(self.forget, body)

    def forget(self, body: dict[str, Any]) -> None:
        team = body.get("team_id")
        if team:
            self.repo.forget_team(team)
            self.tokens.forget(team)
            log.info("slack: uninstalled from %s; its token is deleted", team)

    def on_tokens_revoked(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):
            self.pool.later(self.forget, body)
