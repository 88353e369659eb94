"""What every network's OAuth token exchange takes and gives back (the flow is in
`core/workspace/oauth.py`; each network's own requests are in this package, one module each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import HeraldError
from core.settings import Settings
from core.ssrf import SafeFetcher


class OAuthError(HeraldError):
    """The flow cannot go on; `str()` is shown on the web page."""


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    display_name: str
    credentials: dict[str, Any]
    expires_at: datetime | None


@dataclass(frozen=True)
class Grant:
    """One authorization, as the flow knows it: where the network sends the browser back,
    what the connect command stored (a Mastodon instance, a LinkedIn organization) and, for a
    server Herald registers itself on (Mastodon), the app's client id and secret."""

    settings: Settings
    redirect: str
    extra: dict[str, Any]
    now: datetime
    fetcher: SafeFetcher
    client: tuple[str, str] = ("", "")
