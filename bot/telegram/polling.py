"""`herald telegram`: the Telegram bot with long polling (no public URL needed)."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import click
from telegram.error import InvalidToken, TelegramError

from bot.telegram.app import ALLOWED_UPDATES, TelegramNotConfigured, build_application

if TYPE_CHECKING:
    from bot.runtime import Runtime


def run_polling(runtime: Runtime, stop: threading.Event | None = None) -> None:
    """Poll until SIGINT/SIGTERM, or until `stop` is set when run in a thread of `herald up`
    (which owns the signals). getUpdates removes any webhook first (Telegram allows one)."""
    try:
        application = build_application(runtime, polling=True)
        if stop is None:
            application.run_polling(
                allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False, close_loop=False
            )
            return
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        def stop_when_asked() -> None:
            stop.wait()
            if not loop.is_closed():
                loop.call_soon_threadsafe(application.stop_running)

        threading.Thread(target=stop_when_asked, name="herald-telegram-stop", daemon=True).start()
        application.run_polling(
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
            close_loop=True,
            stop_signals=None,
        )
    except TelegramNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    except InvalidToken:
        raise click.ClickException(
            "Telegram refused HERALD_TELEGRAM_TOKEN. Copy the token from @BotFather again."
        ) from None
    except TelegramError as exc:
        raise click.ClickException(f"Telegram did not answer: {exc}") from None
