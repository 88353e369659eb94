"""What every network publisher shares: accounts, sealed credentials, one refresh per token.

A publisher is built once per process with a `Hub` (database, vault, settings, media store).
For each request it resolves the account (the target's, or the workspace's account for that
network), opens its credentials, refreshes them if they are about to expire — under a row lock,
so many workers holding the same credential refresh it exactly once — and remembers what the
network said about rate limits, so the next target for that account waits without a call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.errors import BadInput, NotSent, RateLimited, TokenExpired
from core.networks import get_network
from core.ports import FiguresRequest, MediaStore, Published, PublishRequest, Reading
from core.settings import Settings
from core.ssrf import SafeFetcher
from storage.db import Database
from storage.models import ConnectedAccount
from storage.models_networks import AccountState
from storage.vault import Vault, VaultError, row_context

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)


def credentials_context(row: ConnectedAccount) -> str:
    return row_context(ConnectedAccount.__table__, "credentials", row)


@dataclass
class Account:
    """A connected account with its credentials opened, for the length of one call."""

    id: int
    workspace_id: int
    network: str
    account_id: str
    display_name: str
    credentials: dict[str, Any]
    expires_at: datetime | None
    status: str
    connected_by_id: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Hub:
    settings: Settings
    db: Database
    vault: Vault | None
    media: MediaStore
    clock: Callable[[], datetime] = _now
    # The SSRF policy for every server a person named (media links, Mastodon instances,
    # Bluesky servers): public addresses only; tests inject one that may reach 127.0.0.1.
    fetcher: SafeFetcher = field(default_factory=SafeFetcher)
    extra: dict[str, Any] = field(default_factory=dict)

    # --- sealing ---------------------------------------------------------------------------

    def need_vault(self) -> Vault:
        if self.vault is None:
            raise BadInput(
                "Herald has no key to encrypt account tokens with. Set HERALD_SECRET_KEY "
                "(herald keys new makes one), then try again."
            )
        return self.vault

    def seal(self, credentials: Mapping[str, Any], row: ConnectedAccount) -> bytes:
        """Sealed for this account's row (workspace, network, account id) and no other."""
        plain = json.dumps(dict(credentials)).encode()
        return self.need_vault().seal(plain, credentials_context(row))

    def unseal(self, row: ConnectedAccount) -> dict[str, Any]:
        try:
            data = json.loads(self.need_vault().open(row.credentials, credentials_context(row)))
        except VaultError as exc:
            log.warning("credentials of account %s do not open: %s", row.id, exc)
            raise TokenExpired(
                "its stored credentials can't be opened (another key, or they were moved "
                "from another account); reconnect"
            ) from exc
        return dict(data)

    # --- accounts --------------------------------------------------------------------------

    def _row(self, network: str, workspace_id: int | None, account_id: int | None) -> Any:
        query = select(ConnectedAccount).where(ConnectedAccount.network == network)
        if account_id is not None:
            query = query.where(ConnectedAccount.id == account_id)
        else:
            query = query.where(ConnectedAccount.workspace_id == workspace_id).order_by(
                ConnectedAccount.id
            )
        return query

    def account(self, network: str, workspace_id: int | None, account_id: int | None) -> Account:
        display = get_network(network).display
        with self.db.session() as session:
            row = session.scalars(self._row(network, workspace_id, account_id)).first()
            if row is None:
                raise TokenExpired(f"no {display} account is connected; connect one")
            return self._open(row)

    def _open(self, row: ConnectedAccount) -> Account:
        return Account(
            id=row.id,
            workspace_id=row.workspace_id,
            network=row.network,
            account_id=row.account_id,
            display_name=row.display_name,
            credentials=self.unseal(row),
            expires_at=row.expires_at,
            status=row.status,
            connected_by_id=row.connected_by_id,
        )

    def connected(self, session: Session, network: str, workspace_id: int) -> bool:
        found = session.execute(
            select(ConnectedAccount.id)
            .where(
                ConnectedAccount.network == network,
                ConnectedAccount.workspace_id == workspace_id,
                ConnectedAccount.status != "revoked",
            )
            .limit(1)
        ).first()
        return found is not None

    def refresh(
        self,
        account: Account,
        renew: Callable[[dict[str, Any]], tuple[dict[str, Any], datetime | None]],
        *,
        force: bool = False,
    ) -> Account:
        """Renew the credentials once, however many workers ask at the same moment.

        The row is locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE does the same)
        and re-read: if another worker renewed it meanwhile, its result is used as is. X's
        refresh tokens are single-use, so a second refresh with the old one would fail.
        """
        with self.db.session() as session:
            row = session.scalars(
                select(ConnectedAccount)
                .where(ConnectedAccount.id == account.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one()
            current = self._open(row)
            renewed_by_other = current.credentials != account.credentials
            if renewed_by_other or (not force and not self.expiring(current)):
                return current
            credentials, expires_at = renew(current.credentials)
            row.credentials = self.seal(credentials, row)
            row.expires_at = expires_at
            row.status = "ok"
            state = self._state(session, row.id)
            state.refreshed_at = self.clock()
            state.last_error = None
            log.info("renewed the %s credentials of account %s", row.network, row.id)
            return self._open(row)

    def expiring(self, account: Account, margin: timedelta = REFRESH_MARGIN) -> bool:
        return account.expires_at is not None and account.expires_at <= self.clock() + margin

    def _state(self, session: Any, account_id: int) -> AccountState:
        state = session.get(AccountState, account_id)
        if state is None:
            state = AccountState(account_id=account_id, conversation="")
            session.add(state)
        return state  # type: ignore[no-any-return]

    def set_status(self, account_id: int, status: str, error: str | None = None) -> None:
        with self.db.session() as session:
            row = session.get(ConnectedAccount, account_id)
            if row is None:
                return
            row.status = status
            self._state(session, account_id).last_error = error

    # --- rate limits -----------------------------------------------------------------------

    def waiting_until(self, account_id: int) -> tuple[datetime, str] | None:
        with self.db.session() as session:
            state = session.get(AccountState, account_id)
            if state is None or state.rate_limited_until is None:
                return None
            if state.rate_limited_until <= self.clock():
                return None
            return state.rate_limited_until, state.rate_limit_reason or "rate limited"

    def note_limit(self, account_id: int, until: datetime, reason: str) -> None:
        with self.db.session() as session:
            state = self._state(session, account_id)
            if state.rate_limited_until is None or state.rate_limited_until < until:
                state.rate_limited_until = until
                state.rate_limit_reason = reason


class AccountPublisher:
    """The publish/find/is_connected skeleton every network shares; subclasses do the wire."""

    network = ""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @property
    def display(self) -> str:
        return get_network(self.network).display

    # what a subclass provides ---------------------------------------------------------------

    def post(self, account: Account, request: PublishRequest) -> Published:
        raise NotImplementedError

    def lookup(self, account: Account, request: PublishRequest) -> Published | None:
        raise NotImplementedError

    def figures(self, account: Account, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """Read these posts' figures with `account` (all of them its posts): the wire part of
        `read`. Batches as the API allows; a 404 for one post is `Reading(gone=True)`."""
        raise NotImplementedError

    def renew(self, credentials: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
        """New credentials from the refresh token; networks without one raise TokenExpired."""
        raise TokenExpired(f"the {self.display} access token expired; reconnect the account")

    def can_renew(self, account: Account) -> bool:
        return False

    # the Publisher port ---------------------------------------------------------------------

    def is_connected(self, session: Session, workspace_id: int) -> bool:
        return self.hub.connected(session, self.network, workspace_id)

    def resolve(self, request: PublishRequest) -> Account:
        account = self.hub.account(self.network, request.workspace_id, request.account_id)
        if self.can_renew(account) and self.hub.expiring(account):
            account = self.hub.refresh(account, self.renew)
        return account

    def publish(self, request: PublishRequest) -> Published:
        try:
            account = self.resolve(request)
            waiting = self.hub.waiting_until(account.id)
        except SQLAlchemyError as exc:
            # Nothing has left for the network yet: say so, so the pipeline neither counts an
            # attempt nor calls it an unclear answer.
            log.warning(
                "publish of target %s stopped before the network call: %s", request.target_id, exc
            )
            raise NotSent("Herald's database did not answer; trying again shortly") from exc
        if waiting is not None:
            until, reason = waiting
            raise RateLimited(reason, until)
        try:
            from core.platforms.http import publish_budget

            with publish_budget():
                try:
                    return self.post(account, request)
                except TokenExpired:
                    # A 401 means nothing was posted; with a refresh token one renewed try is
                    # safe.
                    if not self.can_renew(account):
                        raise
                    account = self.hub.refresh(account, self.renew, force=True)
                    return self.post(account, request)
        except TokenExpired as exc:
            self.hub.set_status(account.id, "expired", exc.reason)
            raise
        except RateLimited as exc:
            self.hub.note_limit(account.id, exc.until, exc.reason)
            raise

    def find(self, request: PublishRequest) -> Published | None:
        account = self.resolve(request)
        return self.lookup(account, request)

    # the FiguresReader port -----------------------------------------------------------------

    def read(self, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        """Each account's posts read with that account's credentials (renewed once on a 401
        where the network has refresh tokens). An account that is expired or revoked is not
        called: its targets are left out of the answer. A 429 raises `RateLimited` and is not
        noted on the account: read limits are not publish limits, and a busy stats reader must
        never hold back a post."""
        groups: dict[int | None, list[FiguresRequest]] = {}
        for request in requests:
            groups.setdefault(request.account_id, []).append(request)
        read: dict[int, Reading] = {}
        for account_id, group in groups.items():
            account = self.hub.account(self.network, group[0].workspace_id, account_id)
            if account.status in ("expired", "revoked"):
                continue
            if self.can_renew(account) and self.hub.expiring(account):
                account = self.hub.refresh(account, self.renew)
            try:
                try:
                    read.update(self.figures(account, group))
                except TokenExpired:
                    if not self.can_renew(account):
                        raise
                    account = self.hub.refresh(account, self.renew, force=True)
                    read.update(self.figures(account, group))
            except TokenExpired as exc:
                self.hub.set_status(account.id, "expired", exc.reason)
                raise
        return read
