"""`herald telegram`: the Telegram bot with long polling."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.runtime import Runtime


def run_polling(runtime: Runtime) -> None:
    raise click.ClickException("Telegram polling is not available in this version yet.")
