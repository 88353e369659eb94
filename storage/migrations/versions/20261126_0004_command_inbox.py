"""command inbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 23:29:58.362170
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "inbox_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_commands")),
    )
    with op.batch_alter_table("inbox_commands", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_commands_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("inbox_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_commands_created_at"))

    op.drop_table("inbox_commands")
