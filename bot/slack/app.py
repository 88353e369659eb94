"""The bolt app, built by a factory: the same handlers serve Socket Mode and HTTP.

Handlers only translate. A slash command or a card button becomes one grammar line that
`Herald.accept` stores and enqueues (one INSERT, one enqueue) before the ack; a worker runs it
as the verified Slack user and answers through chat delivery (a refusal privately, a change on
the card and in its thread). Nothing else happens before the ack: no Slack API call (people
come from the cache, looked up after the ack), no core command. Forms (Edit, Reject) are the
exception Slack imposes: their errors must be in the ack, so they run core before it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from slack_bolt import App

from bot.slack.actions import SHORTCUT, Actions
from bot.slack.blocks import ACTION_PREFIX, EDIT_VIEW, REJECT_VIEW
from bot.slack.commands import Commands
from bot.slack.events import Events
from bot.slack.forms import Forms
from bot.slack.install import HeraldAuthorize, build_oauth_flow

if TYPE_CHECKING:
    from bot.runtime import Runtime


class Handlers(Commands, Actions, Forms, Events):
    """Every listener of the app (one module a kind), sharing one `Listener`'s caches and pool."""


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
        # Listeners return right after their ack (follow-ups go to `Pool.later`), so bolt
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
