"""Each run table's columns and key, as plain names: what the SQLite fast path writes without importing
SQLAlchemy (a test checks these match ``schema``)."""

from __future__ import annotations

COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": (
        "run_id", "test_id", "recipe_path", "status", "started_at", "finished_at", "error_type", "error_message",
        "params", "fingerprint", "context", "context_version", "node", "pid", "sessions", "graph",
    ),
    "sessions": (
        "run_id", "session", "kind", "params", "from_step", "started_at", "finished_at", "status", "node", "pid",
    ),
    "steps": (
        "run_id", "name", "position", "status", "attempts", "started_at", "finished_at", "cpu_s", "peak_rss_bytes",
        "items", "output", "error_type", "error_message", "error_traceback", "reason", "cache_key", "cache_inputs",
        "session",
    ),
    "attempts": (
        "run_id", "step", "item", "attempt", "status", "started_at", "finished_at", "wall_s", "cpu_s",
        "peak_rss_bytes", "output", "error_type", "error_message", "error_traceback", "retry_in_s", "session",
    ),
    "logs": ("run_id", "step", "item", "attempt", "stream", "at", "text"),
    "context_versions": ("run_id", "version", "at", "step", "attempt", "item", "seq", "node", "changes"),
    "context_snapshots": ("run_id", "version", "data"),
    "cache": ("key", "run_id", "step", "output", "created_at", "inputs"),
}  # fmt: skip

KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "sessions": ("run_id", "session"),
    "steps": ("run_id", "name"),
    "attempts": ("run_id", "step", "item", "attempt"),
    "logs": ("id",),
    "context_versions": ("run_id", "version"),
    "context_snapshots": ("run_id", "version"),
    "cache": ("key",),
}

#: how each table is written: replace a row by its key, add rows, or add unless already there
WRITE_MODE: dict[str, str] = {
    "runs": "upsert",
    "sessions": "upsert",
    "steps": "upsert",
    "attempts": "upsert",
    "logs": "insert",
    "context_versions": "ignore",
    "context_snapshots": "ignore",
    "cache": "upsert",
}

#: the order a batch is written in (parents first)
TABLE_ORDER = ("runs", "sessions", "steps", "attempts", "context_versions", "context_snapshots", "logs", "cache")

#: the context server's tables (written by the server, not by runs)
SHARED_TABLES = ("shared_contexts", "shared_keys", "shared_changes")

#: the migration this code expects the database to be at
HEAD = "0003"
