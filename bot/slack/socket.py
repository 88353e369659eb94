"""`herald slack`: the Slack app over Socket Mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.runtime import Runtime


def run_socket_mode(runtime: Runtime) -> None:
    raise click.ClickException("Slack Socket Mode is not available in this version yet.")
