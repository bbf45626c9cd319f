"""The first schema: runs, sessions, steps, attempts, logs, context versions and snapshots, cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("test_id", sa.String(200)),
        sa.Column("recipe_path", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("error_type", sa.String(200)),
        sa.Column("error_message", sa.Text),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("context", sa.Text),
        sa.Column("context_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("sessions", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_test_id", "runs", ["test_id"])
    op.create_table(
        "sessions",
        sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
        sa.Column("session", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("from_step", sa.String(200)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
    )
    op.create_table(
        "steps",
        sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("cpu_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("peak_rss_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("items", sa.Integer),
        sa.Column("output", sa.Text),
        sa.Column("error_type", sa.String(200)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_traceback", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("cache_key", sa.String(64)),
        sa.Column("cache_inputs", sa.Text),
        sa.Column("session", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "attempts",
        sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
        sa.Column("step", sa.String(200), primary_key=True),
        sa.Column("item", sa.Integer, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("wall_s", sa.Float),
        sa.Column("cpu_s", sa.Float),
        sa.Column("peak_rss_bytes", sa.BigInteger),
        sa.Column("output", sa.Text),
        sa.Column("error_type", sa.String(200)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_traceback", sa.Text),
        sa.Column("retry_in_s", sa.Float),
        sa.Column("session", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), _run_fk(), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("item", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_logs_run_step", "logs", ["run_id", "step", "id"])
    op.create_table(
        "context_versions",
        sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("item", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.UniqueConstraint("run_id", "step", "attempt", "item", "seq", name="uq_context_versions_write"),
    )
    op.create_table(
        "context_snapshots",
        sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("output", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
    )
    op.create_index("ix_cache_run", "cache", ["run_id"])


def downgrade() -> None:
    for table in ("cache", "context_snapshots", "context_versions", "logs", "attempts", "steps", "sessions", "runs"):
        op.drop_table(table)
