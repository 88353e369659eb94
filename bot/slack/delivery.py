"""Slack chat delivery (built when Slack is configured)."""

from __future__ import annotations

from core.ports import ChatDelivery
from core.settings import Settings
from storage.db import Database
from storage.vault import Vault


def build_slack_delivery(
    settings: Settings, db: Database, vault: Vault | None
) -> ChatDelivery | None:
    return None
