"""Saved benchmark baselines (f0 bench --save-baseline NAME).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("recipe", sa.String(500), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("samples", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("baselines")
