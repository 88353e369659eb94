"""`herald telegram`: the Telegram bot with long polling (no public URL needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from telegram.error import InvalidToken, TelegramError

from bot.telegram.app import ALLOWED_UPDATES, TelegramNotConfigured, build_application

if TYPE_CHECKING:
    from bot.runtime import Runtime


def run_polling(runtime: Runtime) -> None:
    """Poll until SIGINT/SIGTERM. getUpdates removes any webhook first (Telegram allows one)."""
    try:
        application = build_application(runtime, polling=True)
        application.run_polling(
            allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False, close_loop=False
        )
    except TelegramNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    except InvalidToken:
        raise click.ClickException(
            "Telegram refused HERALD_TELEGRAM_TOKEN. Copy the token from @BotFather again."
        ) from None
    except TelegramError as exc:
        raise click.ClickException(f"Telegram did not answer: {exc}") from None
