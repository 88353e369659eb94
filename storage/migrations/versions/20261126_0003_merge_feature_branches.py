"""merge feature branches

Revision ID: 0003
Revises: l0001, n0001, s0001
Create Date: 2026-11-26 23:29:58.227970
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = ("l0001", "n0001", "s0001")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
