"""chat delivery refs inbound event ids threads and media

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 22:38:07.789969
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_events")),
        sa.UniqueConstraint("surface", "key", name="uq_inbound_events_surface_key"),
    )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_events_created_at"), ["created_at"], unique=False
        )

    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient", sa.String(length=64), nullable=True))

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("card_ref", sa.String(length=200), nullable=True))

    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parts", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("media", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_targets_account_id_connected_accounts"),
            "connected_accounts",
            ["account_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:

    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_targets_account_id_connected_accounts"), type_="foreignkey"
        )
        batch_op.drop_column("account_id")
        batch_op.drop_column("media")
        batch_op.drop_column("parts")

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("card_ref")
        batch_op.drop_column("media")

    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("recipient")

    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_events_created_at"))

    op.drop_table("inbound_events")
