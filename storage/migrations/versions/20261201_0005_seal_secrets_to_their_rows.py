"""seal secrets to their rows

Every sealed value was bound to its table and column only, so a ciphertext copied into another
row (another workspace's account) opened there. From this revision the row's key is part of
the associated data; existing values are opened with the old context and sealed again with the
new one, which needs the vault: `Database.upgrade(vault)` hands it over.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00.000000
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from storage.vault import Vault, VaultError, sealed_context

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

# Each sealed column and the fields of its row its values are bound to (as in the models).
BOUND = {
    ("connected_accounts", "credentials"): ("workspace_id", "network", "account_id"),
    ("slack_installations", "bot_token"): ("team_id",),
    ("oauth_states", "verifier"): ("nonce",),
    ("network_apps", "client_secret"): ("key",),
}


def _reseal(to_rows: bool) -> None:
    vault = context.config.attributes.get("vault")
    bind = op.get_bind()
    for (name, column), keys in BOUND.items():
        table = sa.table(
            name, sa.column("id"), sa.column(column, sa.LargeBinary), *(sa.column(k) for k in keys)
        )
        rows = bind.execute(sa.select(table)).mappings().all()
        if not rows:
            continue
        if not isinstance(vault, Vault):
            raise RuntimeError(
                "This upgrade seals stored secrets to their rows and needs Herald's key: set "
                "HERALD_SECRET_KEY (or HERALD_KMS_KEY_ID) as the service uses it, then run "
                "herald db upgrade again."
            )
        for row in rows:
            by_row = sealed_context(name, column, *(row[k] for k in keys))
            by_column = sealed_context(name, column)
            old, new = (by_column, by_row) if to_rows else (by_row, by_column)
            try:
                plain = vault.open(row[column], old)
            except VaultError as exc:
                # It did not open before either (a lost key): left as is, reconnect fixes it.
                log.warning("%s.%s of row %s left as it is: %s", name, column, row["id"], exc)
                continue
            bind.execute(
                sa.update(table)
                .where(table.c.id == row["id"])
                .values({column: vault.seal(plain, new)})
            )


def upgrade() -> None:
    _reseal(to_rows=True)


def downgrade() -> None:
    _reseal(to_rows=False)
