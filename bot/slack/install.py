"""Many workspaces: the OAuth install flow, its installation and state stores in our database,
and bolt's `authorize` answered from them (or from the single-workspace token)."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.context import BoltContext
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.slack.client import Tokens
from core.settings import Settings
from storage.models_slack import BotInstall, SlackRepository

log = logging.getLogger(__name__)

# The bot scopes Herald asks for; slack/manifest.yml lists the same.
BOT_SCOPES = [
    "app_mentions:read",
    "channels:history",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "im:history",
    "im:write",
    "users:read",
]
STATE_TTL = timedelta(minutes=10)


class DatabaseInstallationStore(InstallationStore):
    """Bot installations, one per workspace, token sealed by the vault."""

    def __init__(self, repo: SlackRepository, tokens: Tokens) -> None:
        self.repo = repo
        self.tokens = tokens

    @property
    def logger(self) -> logging.Logger:
        return log

    def save(self, installation: Installation) -> None:
        if not installation.team_id or not installation.bot_token:
            raise ValueError("Herald installs into one workspace, as a bot")
        self.repo.save_install(
            BotInstall(
                team_id=installation.team_id,
                team_name=installation.team_name,
                enterprise_id=installation.enterprise_id,
                app_id=installation.app_id,
                bot_id=installation.bot_id or "",
                bot_user_id=installation.bot_user_id or "",
                bot_scopes=",".join(installation.bot_scopes or []),
                installer_user_id=installation.user_id,
                bot_token=installation.bot_token,
                installed_at=datetime.fromtimestamp(installation.installed_at, UTC),
            )
        )
        self.tokens.forget(installation.team_id)

    def save_bot(self, bot: Bot) -> None:  # save() already keeps the bot
        pass

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = self.find_installation(enterprise_id=enterprise_id, team_id=team_id)
        return found.to_bot() if found is not None else None

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = self.repo.find_install(team_id) if team_id else None
        if found is None:
            return None
        return Installation(
            app_id=found.app_id,
            enterprise_id=found.enterprise_id,
            team_id=found.team_id,
            team_name=found.team_name,
            bot_token=found.bot_token,
            bot_id=found.bot_id,
            bot_user_id=found.bot_user_id,
            bot_scopes=found.bot_scopes,
            user_id=found.installer_user_id or "",
            installed_at=found.installed_at.timestamp(),
        )

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if team_id:
            self.repo.forget_team(team_id)
            self.tokens.forget(team_id)


class DatabaseStateStore(OAuthStateStore):
    """One-time `state` values of the install flow, valid for ten minutes."""

    def __init__(self, repo: SlackRepository) -> None:
        self.repo = repo

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        self.repo.issue_state(state, STATE_TTL)
        return state

    def consume(self, state: str) -> bool:
        return self.repo.consume_state(state)


class HeraldAuthorize(Authorize):
    """The bot token for the team a request came from; no Slack call on the hot path."""

    def __init__(self, tokens: Tokens) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.tokens = tokens

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        bot = self.tokens.bot(team_id)
        if bot is None:
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or bot.team_id,
            bot_token=bot.token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            user_id=user_id,
        )


def authorization_url(api_url: str) -> str:
    """Slack's authorize page beside its Web API (…/api/ → …/oauth/v2/authorize)."""
    base = api_url.rstrip("/")
    base = base.removesuffix("/api")
    return f"{base}/oauth/v2/authorize"


def build_oauth_flow(settings: Settings, repo: SlackRepository, tokens: Tokens) -> OAuthFlow | None:
    if not (settings.slack_client_id and settings.slack_client_secret):
        return None
    public = settings.public_url.rstrip("/")
    return OAuthFlow(
        client=tokens.client(),
        settings=OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret.get_secret_value(),
            scopes=BOT_SCOPES,
            redirect_uri=f"{public}/slack/oauth_redirect",
            install_path="/slack/install",
            redirect_uri_path="/slack/oauth_redirect",
            authorization_url=authorization_url(settings.slack_api_url),
            installation_store=DatabaseInstallationStore(repo, tokens),
            installation_store_bot_only=True,
            state_store=DatabaseStateStore(repo),
            state_expiration_seconds=int(STATE_TTL.total_seconds()),
        ),
    )
