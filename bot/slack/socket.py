"""`herald slack`: the Slack app over Socket Mode (an app-level token; no public URL)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from bot.slack.delivery import configured

if TYPE_CHECKING:
    from slack_sdk.socket_mode.builtin import SocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    from bot.runtime import Runtime


def run_socket_mode(runtime: Runtime, stop: threading.Event | None = None) -> None:
    """Serve Slack until `stop` is set, or until SIGINT/SIGTERM when run in the main thread."""
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
    from slack_sdk.errors import SlackApiError
    from slack_sdk.socket_mode.response import SocketModeResponse

    from bot.slack.app import build_bolt_app

    class Handler(SocketModeHandler):
        """Bolt's handler; an envelope Slack delivers again (after a reconnect, to this or
        another process) is acked and not run twice. Events are left to the app, which keys
        them by event_id (a retry comes in a new envelope)."""

        def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
            if req.type != "events_api" and not runtime.herald.first_time(
                "slack", f"envelope:{req.envelope_id}"
            ):
                client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
                return
            super().handle(client, req)

    app = build_bolt_app(runtime, socket_mode=True)
    handler = Handler(app, settings.slack_app_token.get_secret_value())
    stop = stop or threading.Event()
    restore = _stop_on_signals(stop)
    try:
        try:
            handler.connect()  # type: ignore[no-untyped-call]
        except SlackApiError as exc:
            raise click.ClickException(
                f"Slack refused to open a Socket Mode connection ({exc.response.get('error')}). "
                "Check HERALD_SLACK_APP_TOKEN: an app-level token (xapp-…) with the "
                "connections:write scope, and Socket Mode turned on for the app."
            ) from None
        click.echo("Herald is connected to Slack over Socket Mode. Stop it with Ctrl-C.")
        stop.wait()
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        restore()


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM set `stop` (only the main thread may set handlers); an undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
