"""analytics: metrics snapshots, their collection schedule, each target's latest figures,
digest settings and sent digests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _milestone() -> sa.Enum:
    return sa.Enum(
        "1h", "24h", "7d", "demand",
        name="milestone", native_enum=False, create_constraint=True, length=24,
    )


def _target_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["target_id"], ["targets.id"],
        name=op.f(f"fk_{table}_target_id_targets"), ondelete="CASCADE",
    )


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"), ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "metrics_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("milestone", _milestone(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=True),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("quotes", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=True),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "likes >= 0 AND reposts >= 0 AND replies >= 0 AND quotes >= 0",
            name=op.f("ck_metrics_snapshots_counts_positive"),
        ),
        _target_fk("metrics_snapshots"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics_snapshots")),
    )
    op.create_index(
        "ix_metrics_snapshots_target_taken",
        "metrics_snapshots",
        ["target_id", "taken_at", "id"],
    )

    op.create_table(
        "snapshot_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("milestone", _milestone(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        _target_fk("snapshot_schedule"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_schedule")),
        sa.UniqueConstraint(
            "target_id", "milestone", name="uq_snapshot_schedule_target_milestone"
        ),
    )
    op.create_index(
        "ix_snapshot_schedule_pending",
        "snapshot_schedule",
        ["next_try_at"],
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )

    op.create_table(
        "latest_figures",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("post_number", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("impressions", sa.Integer(), nullable=True),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("quotes", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=True),
        sa.Column("gone", sa.Boolean(), nullable=False),
        _target_fk("latest_figures"),
        _workspace_fk("latest_figures"),
        sa.PrimaryKeyConstraint("target_id", name=op.f("pk_latest_figures")),
    )
    op.create_index(
        "ix_latest_figures_workspace_published",
        "latest_figures",
        ["workspace_id", "published_at"],
    )
    # Posts published before this revision: a row each, with no figures yet.
    op.execute(
        """
        INSERT INTO latest_figures (target_id, workspace_id, post_number, network,
            published_at, likes, reposts, replies, quotes, gone)
        SELECT t.id, p.workspace_id, p.number, t.network, t.published_at, 0, 0, 0, 0, false
        FROM targets t JOIN posts p ON p.id = t.post_id
        WHERE t.state = 'published' AND t.published_at IS NOT NULL
        """
    )

    op.create_table(
        "digest_settings",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_digest_settings_weekday_range")),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name=op.f("ck_digest_settings_hour_range")),
        _workspace_fk("digest_settings"),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_digest_settings")),
    )

    op.create_table(
        "digests_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("digests_sent"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests_sent")),
        sa.UniqueConstraint(
            "workspace_id", "period_start", name="uq_digests_sent_workspace_period"
        ),
    )


def downgrade() -> None:
    op.drop_table("digests_sent")
    op.drop_table("digest_settings")
    op.drop_index("ix_latest_figures_workspace_published", table_name="latest_figures")
    op.drop_table("latest_figures")
    op.drop_index("ix_snapshot_schedule_pending", table_name="snapshot_schedule")
    op.drop_table("snapshot_schedule")
    op.drop_index("ix_metrics_snapshots_target_taken", table_name="metrics_snapshots")
    op.drop_table("metrics_snapshots")
