"""networks: oauth states, registered network apps, per-account state

Revision ID: n0001
Revises: 0002
Create Date: 2026-11-26 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "n0001"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("networks",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("conversation", sa.String(length=200), nullable=False),
        sa.Column("verifier", sa.LargeBinary(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"],
            name=op.f("fk_oauth_states_member_id_members"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"],
            name=op.f("fk_oauth_states_workspace_id_workspaces"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_states")),
        sa.UniqueConstraint("nonce", name=op.f("uq_oauth_states_nonce")),
    )
    op.create_table(
        "network_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_apps")),
        sa.UniqueConstraint("key", name=op.f("uq_network_apps_key")),
    )
    op.create_table(
        "account_states",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("rate_limited_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rate_limit_reason", sa.Text(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("conversation", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["connected_accounts.id"],
            name=op.f("fk_account_states_account_id_connected_accounts"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_states")),
    )


def downgrade() -> None:
    op.drop_table("account_states")
    op.drop_table("network_apps")
    op.drop_table("oauth_states")
