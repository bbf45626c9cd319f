"""The store's tables, in SQLAlchemy Core: runs, their sessions, steps, attempts, logs, context
versions and snapshots, and the step cache. Alembic's migrations create them; this module is the
model the code reads and writes through (a test checks the two agree).

JSON values are stored as text (``codec.dumps``), the same on SQLite and PostgreSQL. A run's
tables say in ``info["write"]`` how a row is written (``statements``): ``upsert`` (replaced by
its key), ``insert`` (always added) or ``ignore`` (added unless its key is there). Columns that
are part of a key are NOT NULL: "no step" is ``""`` and "no foreach item" is ``-1``.
"""

from __future__ import annotations

import sqlalchemy as sa

from framework0.store.schema_values import NO_ITEM, NO_STEP

metadata = sa.MetaData()

__all__ = ["NO_ITEM", "NO_STEP", "metadata"]

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("test_id", sa.String(200)),
    sa.Column("recipe_path", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),  # running, succeeded, failed, cancelled
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("error_type", sa.String(200)),
    sa.Column("error_message", sa.Text),
    sa.Column("params", sa.Text, nullable=False),  # JSON
    sa.Column("fingerprint", sa.Text, nullable=False),  # JSON: {"steps": {name: digest}, "order": [...]}
    sa.Column("context", sa.Text),  # JSON: the final context, once the run ends
    sa.Column("context_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("node", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("sessions", sa.Integer, nullable=False, server_default="1"),
    sa.Column("graph", sa.Text),  # JSON: {"steps": [{"name", "scriptlet", "upstream": [...]}, ...]}
    sa.Column("package", sa.Text),  # JSON: {"path", "digest", "entry"} of f0 run PKG; NULL otherwise
    sa.Index("ix_runs_started_at", "started_at"),
    sa.Index("ix_runs_test_id", "test_id"),
    info={"write": "upsert"},
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("session", sa.Integer, primary_key=True),  # 1 for the run, 2, 3 ... for each resume
    sa.Column("kind", sa.String(16), nullable=False),  # run or resume
    sa.Column("params", sa.Text, nullable=False),  # JSON
    sa.Column("from_step", sa.String(200)),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("node", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    info={"write": "upsert"},
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, running, or a final step status
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("cpu_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("peak_rss_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items", sa.Integer),
    sa.Column("output", sa.Text),  # JSON
    sa.Column("error_type", sa.String(200)),
    sa.Column("error_message", sa.Text),
    sa.Column("error_traceback", sa.Text),
    sa.Column("reason", sa.Text),  # why it was skipped, cached, restored or run again
    sa.Column("cache_key", sa.String(64)),
    sa.Column("cache_inputs", sa.Text),  # JSON: what the cache key was computed from
    sa.Column("session", sa.Integer, nullable=False, server_default="1"),
    info={"write": "upsert"},
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("item", sa.Integer, primary_key=True),  # NO_ITEM when the step has no foreach
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # running, succeeded, failed
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("wall_s", sa.Float),
    sa.Column("cpu_s", sa.Float),
    sa.Column("peak_rss_bytes", sa.BigInteger),
    sa.Column("output", sa.Text),  # JSON
    sa.Column("error_type", sa.String(200)),
    sa.Column("error_message", sa.Text),
    sa.Column("error_traceback", sa.Text),
    sa.Column("retry_in_s", sa.Float),
    sa.Column("session", sa.Integer, nullable=False, server_default="1"),
    info={"write": "upsert"},
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),  # NO_STEP for the run's own lines
    sa.Column("item", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("stream", sa.String(16), nullable=False),  # stdout, stderr, log, framework
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_logs_run_step", "run_id", "step", "id"),
    info={"write": "insert"},
)

context_versions = sa.Table(
    "context_versions",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("item", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("node", sa.String(255), nullable=False),
    sa.Column("changes", sa.Text, nullable=False),  # JSON: [[op, key, new value], ...] (the delta)
    # the idempotency key: a batch written again (a retried write, a replayed attempt) is one row
    sa.UniqueConstraint("run_id", "step", "attempt", "item", "seq", name="uq_context_versions_write"),
    info={"write": "ignore"},
)

context_snapshots = sa.Table(
    "context_snapshots",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),  # zlib-compressed JSON of the whole context
    info={"write": "ignore"},
)

cache = sa.Table(
    "cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("output", sa.Text),  # JSON
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),  # JSON
    sa.Index("ix_cache_run", "run_id"),
    info={"write": "upsert"},
)

# The context server's named contexts (shared by many runs and machines). Each change gets the
# context's next version; each key keeps the version that last wrote it (as in etcd).

shared_contexts = sa.Table(
    "shared_contexts",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("oldest", sa.BigInteger, nullable=False),  # history is held from this version on
    sa.Column("strategies", sa.Text, nullable=False),  # JSON: {pattern: strategy}
    sa.Column("created_at", sa.Float, nullable=False),
)

shared_keys = sa.Table(
    "shared_keys",
    metadata,
    sa.Column("context", sa.String(200), sa.ForeignKey("shared_contexts.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("version", sa.BigInteger, nullable=False),
)

shared_changes = sa.Table(
    "shared_changes",
    metadata,
    sa.Column("context", sa.String(200), sa.ForeignKey("shared_contexts.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # JSON: who wrote it (node, run, step, attempt, client)
    sa.Column("write_id", sa.String(200)),  # the writer's idempotency key: a retried write is written once
    sa.Column("changes", sa.Text, nullable=False),  # JSON: [[key, op (create, set, delete), old, new], ...]
    sa.UniqueConstraint("context", "write_id", name="uq_shared_changes_write"),
)

# Saved benchmark baselines (f0 bench --save-baseline NAME): the timings a later f0 bench of the
# same recipe compares with.

baselines = sa.Table(
    "baselines",
    metadata,
    sa.Column("recipe", sa.String(500), primary_key=True),  # the recipe's test id, else its path
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("samples", sa.Text, nullable=False),  # JSON: {"run": [seconds, ...], "steps": {name: [seconds, ...]}}
    sa.Column("environment", sa.Text, nullable=False),  # JSON: python, platform, framework0, node, executor, params
)
