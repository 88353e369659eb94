"""The Edit and Reject forms: Slack wants their errors in the ack, so core runs before it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.slack.listener import Listener
from bot.slack.people import where_of_interaction
from core.approvals.commands import Reject
from core.networks import get_network
from core.posts.card import Message
from core.posts.commands import Edit
from core.sanitize import clean_input


class Forms(Listener):
    """Edit and Reject submitted: checked and run before the ack, the card redrawn after."""

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
            problem = network.problem(text)
            if not text.strip():
                errors[block_id] = f"The {network.display} text is empty."
            elif problem is not None:
                errors[block_id] = problem
            elif text != before.get(block_id):
                changed.append((block_id, network.name, text))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        where = where_of_interaction(body, meta.get("c") or "")
        actor = self.people.actor(where)
        reply = Message(text=f"Nothing changed in #{number}.", post_number=number)
        notes: list[str] = []
        for block_id, network_name, text in changed:
            reply = self.run(actor, Edit(number=number, network=network_name, text=text))
            if reply.error:
                ack(response_action="errors", errors={block_id: (reply.text or "")[:300]})
                return
            if reply.card is not None and reply.card.note and reply.card.note not in notes:
                notes.append(reply.card.note)
        if reply.card is not None and notes:
            # One card for the whole form: what an earlier network's edit said (its time had
            # passed, say) is not lost to the last one's.
            reply = replace(reply, card=replace(reply.card, note="\n".join(notes)))
        ack()
        self.warm_later(client, where)
        if changed:
            self.pool.later(
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
        where = where_of_interaction(body, meta.get("c") or "")
        actor = self.people.actor(where)
        reply = self.run(actor, Reject(number=number, reason=reason.strip() or None))
        if reply.error:
            ack(response_action="errors", errors={"reason": (reply.text or "")[:300]})
            return
        ack()
        self.warm_later(client, where)
        self.pool.later(
            self.after_change, client, actor, where, reply, number, meta.get("c"), meta.get("ts")
        )
