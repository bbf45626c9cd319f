"""The context server's named contexts: their keys and their change history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _context_fk() -> sa.ForeignKey:
    return sa.ForeignKey("shared_contexts.name", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "shared_contexts",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("oldest", sa.BigInteger, nullable=False),
        sa.Column("strategies", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "shared_keys",
        sa.Column("context", sa.String(200), _context_fk(), primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "shared_changes",
        sa.Column("context", sa.String(200), _context_fk(), primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("write_id", sa.String(200)),
        sa.Column("changes", sa.Text, nullable=False),
        sa.UniqueConstraint("context", "write_id", name="uq_shared_changes_write"),
    )


def downgrade() -> None:
    op.drop_table("shared_changes")
    op.drop_table("shared_keys")
    op.drop_table("shared_contexts")
