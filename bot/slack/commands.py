"""The slash command `/herald …`: one grammar line stored for a worker before the ack."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, BoltResponse
from slack_sdk import WebClient

from bot.slack.blocks import help_blocks, message_payload
from bot.slack.listener import Listener, is_command
from bot.slack.people import Where, slack_text
from core.posts.card import Message


class Commands(Listener):
    """`/herald …`: help in the ack, anything else stored for a worker before it."""

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
        failed = self.accept(self.people.actor(where), text, _ephemeral_answer, body)
        if failed is not None:
            ack(response_type="ephemeral", **message_payload(failed))
        elif is_command(text):
            ack()  # the worker's answer follows within moments, privately
        else:
            # Free text may go to a model: say it was heard.
            ack(response_type="ephemeral", text="On it…")
        self.warm_later(client, where)


def _ephemeral_answer(message: Message) -> BoltResponse:
    body = {"response_type": "ephemeral", **message_payload(message)}
    return BoltResponse(
        status=200, body=json.dumps(body), headers={"content-type": "application/json"}
    )
