"""`herald up`: everything one machine needs in one process. The worker and the scheduler
(embedded, on whichever broker is set), `herald web`, and each chat runner that is configured
(Slack Socket Mode, Telegram long polling), stopped together by one SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from core.settings import Settings

log = logging.getLogger(__name__)
STOP_SECONDS = 30.0  # how long a stop waits for each part before leaving it behind


@dataclass
class Part:
    name: str
    run: Callable[[], None]
    stop: Callable[[], None] = lambda: None
    thread: threading.Thread | None = None
    failed: list[BaseException] = field(default_factory=list)


def parts_for(settings: Settings) -> list[str]:
    """What `herald up` runs with these settings, in start order (also its start line)."""
    parts = ["worker", "scheduler", "web"]
    if settings.slack_app_token is not None:
        parts.append("slack (Socket Mode)")
    if settings.telegram_token is not None and not settings.telegram_webhook_url:
        parts.append("telegram (long polling)")
    return parts


def run_up(runtime: Runtime, *, host: str, port: int, stop: threading.Event) -> int:
    """Run until `stop` is set or a part fails; 0 when asked to stop, 1 when a part failed."""
    import uvicorn

    from bot.web.app import create_app
    from workers.app import EmbeddedWorker

    settings = runtime.settings
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host=host, port=port, log_level="warning")
    )
    parts = [Part("web", server.run, lambda: setattr(server, "should_exit", True))]
    if settings.slack_app_token is not None:
        from bot.slack.socket import run_socket_mode

        parts.append(Part("slack", lambda: run_socket_mode(runtime, stop)))
    if settings.telegram_token is not None and not settings.telegram_webhook_url:
        from bot.telegram.polling import run_polling

        parts.append(Part("telegram", lambda: run_polling(runtime, stop)))

    runtime.embedded = EmbeddedWorker(runtime.celery, settings)  # the worker and the scheduler
    runtime.embedded.start()
    for part in parts:
        part.thread = threading.Thread(
            target=_guarded(part, stop), name=f"herald-up-{part.name}", daemon=True
        )
        part.thread.start()
    stop.wait()
    for part in parts:
        part.stop()
    for part in parts:
        if part.thread is not None:
            part.thread.join(STOP_SECONDS)
            if part.thread.is_alive():
                log.warning("%s did not stop within %.0f s; leaving it", part.name, STOP_SECONDS)
    return 1 if any(part.failed for part in parts) else 0


def _guarded(part: Part, stop: threading.Event) -> Callable[[], None]:
    """A part that ends by itself (a refused token, a port in use) stops the others: half a
    Herald that looks up is worse than one that says why it stopped."""

    def run() -> None:
        try:
            part.run()
        # A refused token (ClickException), uvicorn's exit on a busy port (SystemExit) or a
        # crash: each stops `up`, said once, with what stopped and why.
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            part.failed.append(exc)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.error("%s stopped: %s", part.name, message)
            click.echo(f"herald up: {part.name} stopped: {message}", err=True)
        finally:
            if not stop.is_set():
                if not part.failed:
                    click.echo(f"herald up: {part.name} ended; stopping the rest.", err=True)
                    part.failed.append(RuntimeError("ended"))
                stop.set()

    return run


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM (Ctrl-C, systemd, docker stop) set `stop`: one clean shutdown."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
