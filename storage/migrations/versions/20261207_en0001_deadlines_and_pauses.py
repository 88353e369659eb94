"""approval deadlines and pauses: a post's reminder marks, the `expired` state, pauses

Revision ID: en0001
Revises: ft0001
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "en0001"
down_revision: str | None = "ft0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("generating", "draft", "pending_approval", "approved", "rejected", "cancelled")


def _post_state(*extra: str) -> sa.Enum:
    return sa.Enum(
        *_STATES, *extra, name="post_state", native_enum=False, create_constraint=True, length=24
    )


def upgrade() -> None:
    op.create_table(
        "pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("by_name", sa.String(length=200), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("conversation", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["members.id"], name=op.f("fk_pauses_by_id_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_pauses_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pauses")),
    )
    op.create_index("ix_pauses_open", "pauses", ["ended_at", "workspace_id"])
    # The state's CHECK constraint is rebuilt with the new value (SQLite copies the table).
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_for", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_for", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column(
            "state",
            existing_type=_post_state(),
            type_=_post_state("expired"),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("UPDATE posts SET state = 'cancelled' WHERE state = 'expired'")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.alter_column(
            "state",
            existing_type=_post_state("expired"),
            type_=_post_state(),
            existing_nullable=False,
        )
        batch_op.drop_column("escalated_for")
        batch_op.drop_column("reminded_for")
    op.drop_index("ix_pauses_open", table_name="pauses")
    op.drop_table("pauses")
