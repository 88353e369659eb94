"""Telegram chat delivery (built when Telegram is configured)."""

from __future__ import annotations

from core.ports import ChatDelivery
from core.settings import Settings


def build_telegram_delivery(settings: Settings) -> ChatDelivery | None:
    return None
