"""`herald slack`: the Slack app over Socket Mode (an app-level token; no public URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.slack.delivery import configured

if TYPE_CHECKING:
    from bot.runtime import Runtime


def run_socket_mode(runtime: Runtime) -> None:
    settings = runtime.settings
    if settings.slack_app_token is None:
        raise click.ClickException(
            "Set HERALD_SLACK_APP_TOKEN (xapp-…, with the connections:write scope) to run "
            "Slack in Socket Mode. See the Slack section of the README."
        )
    if not configured(settings):
        raise click.ClickException(
            "Set HERALD_SLACK_BOT_TOKEN (xoxb-…) too, or the OAuth client id and secret."
        )
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.slack.app import build_bolt_app

    app = build_bolt_app(runtime, socket_mode=True)
    SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
