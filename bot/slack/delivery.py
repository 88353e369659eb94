"""Slack chat delivery: post a post's card once, redraw it in place, progress in its thread.

A message's files are shared with its text as one message (bot/slack/uploads.py): in the
card's thread when the message is about a post, in a direct message when it is private
(Slack has no ephemeral files)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.blocks import card_blocks, card_fallback, message_payload
from bot.slack.client import Pacer, Tokens, call
from bot.slack.uploads import ShareRefused, share
from core.errors import RetryLater
from core.ports import ChatDelivery, Delivery
from core.posts.card import Message
from core.settings import Settings
from storage.db import Database
from storage.models_slack import SlackRepository
from storage.vault import Vault

log = logging.getLogger(__name__)

# chat.postEphemeral fails like this when the person can't see the channel: DM them instead.
_NOT_THERE = {"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived"}


def configured(settings: Settings) -> bool:
    oauth = settings.slack_client_id and settings.slack_client_secret
    return bool(settings.slack_bot_token or oauth)


def split_ref(ref: str) -> tuple[str, str]:
    channel, _, ts = ref.partition(":")
    return channel, ts


class SlackDelivery:
    def __init__(self, tokens: Tokens, pacer: Pacer, repo: SlackRepository) -> None:
        self.tokens = tokens
        self.pacer = pacer
        self.repo = repo

    def deliver(self, delivery: Delivery) -> str | None:
        team = delivery.workspace
        client = self.tokens.for_team(team)
        if delivery.recipient:
            self._private(delivery)
            return None
        card = delivery.card
        text = None if delivery.text_sent else delivery.text
        if card is not None and (delivery.new_card or not delivery.card_ref):
            # One message: a retry after a rate limit can never leave a second card behind.
            channel = delivery.conversation
            self.pacer.take(team, channel)
            sent = call(
                client.chat_postMessage,
                channel=channel,
                text=card_fallback(card, delivery.text),
                blocks=card_blocks(card, status=delivery.text),
                unfurl_links=False,
            )
            channel, ts = str(sent["channel"]), str(sent["ts"])
            self.repo.remember_card(team, channel, ts, card.number)
            ref = f"{channel}:{ts}"
            if delivery.files:  # in the new card's thread, once the card is remembered
                delivery.went_out(text=True, card_ref=ref)
                self._share(delivery, channel, thread_ts=ts, comment=None)
            return ref
        if card is not None and delivery.card_ref:
            channel, ts = split_ref(delivery.card_ref)
            if text or delivery.files:
                self.pacer.take(team, channel)
            # The redraw is safe to repeat, so it comes first; the thread reply is the last step.
            self.redraw(team, channel, ts, card, delivery.text)
            if delivery.files:
                self._share(delivery, channel, thread_ts=ts, comment=text)
            elif text:
                call(
                    client.chat_postMessage,
                    channel=channel,
                    thread_ts=ts,
                    unfurl_links=False,
                    **message_payload(Message(text=text, error=delivery.error)),
                )
            return None
        self.pacer.take(team, delivery.conversation)
        if delivery.files:
            self._share(delivery, delivery.conversation, comment=text)
            return None
        call(
            client.chat_postMessage,
            channel=delivery.conversation,
            unfurl_links=False,
            **message_payload(Message(text=delivery.text, error=delivery.error)),
        )
        return None

    def _share(
        self,
        delivery: Delivery,
        channel: str,
        *,
        thread_ts: str | None = None,
        comment: str | None = None,
    ) -> None:
        """The message's files not shared yet, as one message (its text their comment).
        Each share is remembered at once: a retry never shares a file again."""
        client = self.tokens.for_team(delivery.workspace)
        try:
            share(client, channel, delivery.files, thread_ts=thread_ts, comment=comment)
        except ShareRefused as refused:
            # Slack will never take them here: say why instead, and do not try again.
            text = f"{comment}\n\n{refused}" if comment else str(refused)
            call(
                client.chat_postMessage,
                channel=channel,
                thread_ts=thread_ts,
                unfurl_links=False,
                **message_payload(Message(text=text, error=True)),
            )
        delivery.went_out(text=True, files=[f.id for f in delivery.files])

    def redraw(self, team: str, channel: str, ts: str, card: Any, status: str | None) -> None:
        client = self.tokens.for_team(team)
        try:
            call(
                client.chat_update,
                channel=channel,
                ts=ts,
                text=card_fallback(card, status),
                blocks=card_blocks(card, status=status),
            )
        except SlackApiError as exc:
            # A deleted card, or one too old to edit: the thread reply still tells the story.
            log.warning("could not update card %s:%s: %s", channel, ts, exc.response.get("error"))

    def _private(self, delivery: Delivery) -> None:
        team, user = delivery.workspace, delivery.recipient
        assert user is not None
        client = self.tokens.for_team(team)
        if delivery.files:
            self._private_files(delivery, user)
            return
        payload = message_payload(Message(text=delivery.text, error=delivery.error))
        try:
            call(client.chat_postEphemeral, channel=delivery.conversation, user=user, **payload)
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in _NOT_THERE:
                raise
        dm = call(client.conversations_open, users=user)
        channel = str(dm["channel"]["id"])
        self.pacer.take(team, channel)
        call(client.chat_postMessage, channel=channel, **payload)

    def _private_files(self, delivery: Delivery, user: str) -> None:
        """Files can't be ephemeral: they go, with the text, in a direct message, and a note
        where the person asked says where to look (a courtesy, not retried)."""
        team = delivery.workspace
        client = self.tokens.for_team(team)
        dm = str(call(client.conversations_open, users=user)["channel"]["id"])
        self.pacer.take(team, dm)
        text = None if delivery.text_sent else delivery.text
        self._share(delivery, dm, comment=text)
        if delivery.conversation == dm:
            return
        count = len(delivery.files)
        note = f"📎 I sent you {'a file' if count == 1 else f'{count} files'} in a direct message."
        try:
            call(
                client.chat_postEphemeral,
                channel=delivery.conversation,
                user=user,
                **message_payload(Message(text=note)),
            )
        except (SlackApiError, RetryLater) as exc:
            log.info("slack: no note in %s about the DM: %s", delivery.conversation, exc)


def build_slack_delivery(
    settings: Settings, db: Database, vault: Vault | None
) -> ChatDelivery | None:
    if not configured(settings):
        return None
    repo = SlackRepository(db, vault)
    return SlackDelivery(Tokens(settings, repo), Pacer(settings), repo)
