"""Card buttons and the message shortcut: a quick action is one grammar line stored before
the ack; Edit and Reject open a form; the shortcut drafts a post from a message."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.kit import ASKING_ACTIONS, QUICK_ACTIONS, button_line
from bot.slack.blocks import ACTION_PREFIX, edit_view, reject_view
from bot.slack.client import call
from bot.slack.listener import Listener
from bot.slack.people import Where, slack_text, where_of_interaction
from core.errors import RetryLater
from core.posts.card import Message
from core.posts.commands import MAX_BRIEF, Draft, Show
from core.sanitize import clean_input

log = logging.getLogger(__name__)

SHORTCUT = "turn_into_post"


class Actions(Listener):
    """Card buttons (a command stored before the ack, or a form opened after it) and the
    message shortcut."""

    def on_action(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        action = body["actions"][0]
        name = action["action_id"].removeprefix(ACTION_PREFIX).split("_", 1)[0]
        value = " ".join(str(action.get("value") or "").split())
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
        ts = container.get("message_ts")
        where = where_of_interaction(body, channel)
        number = value.split()[0] if value else ""
        if not number.isdigit() or name not in QUICK_ACTIONS | ASKING_ACTIONS:
            ack()
            log.warning("slack: ignored button %r with value %r", name, value[:40])
            return
        if name in ASKING_ACTIONS:
            ack()  # nothing is written until the form is submitted
            self.pool.later(
                self.open_modal, client, body["trigger_id"], where, name, int(number), channel, ts
            )
            return

        # The worker runs it as this user: core checks the role, redraws the card and
        # answers in its thread, or tells a refused person privately.
        def tell(message: Message) -> None:
            self.pool.later(self.reply_privately, client, where, message)

        _, _, network = value.partition(" ")
        line = button_line(name, number, network)
        failed = self.accept(self.people.actor(where), line, tell, body)
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
            shown = self.run(self.people.looked_up(client, where), Show(number))
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

    # --- message shortcut ------------------------------------------------------------------

    def on_shortcut(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()  # the draft starts after the ack; the answer comes privately
        self.pool.later(self.shortcut_draft, body, client)

    def shortcut_draft(self, body: dict[str, Any], client: WebClient) -> None:
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        where = where_of_interaction(body, channel)
        brief = clean_input(slack_text(message.get("text") or ""))[:MAX_BRIEF]
        if not brief.strip():
            reply = Message(text="That message has no text to turn into a post.", error=True)
        else:
            reply = self.run(self.people.looked_up(client, where), Draft(brief=brief))
        self.reply_privately(client, where, reply)
