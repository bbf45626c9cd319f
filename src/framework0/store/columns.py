"""GENERATED from ``schema`` and the migrations by ``python -m framework0.store.statements``: do not
edit (a test fails when this file is stale). What the sqlite3 fast path writes with, without
importing SQLAlchemy or Alembic: each run table's columns, the migration head, the order tables
are written in, and ``statements.write_statement`` compiled to SQLite's SQL."""

# ruff: noqa: E501
# fmt: off

#: the columns of each table a run writes, in the order a row's tuple gives them
COLUMNS: dict[str, tuple[str, ...]] = {
    'cache': ('key', 'run_id', 'step', 'output', 'created_at', 'inputs'),
    'runs': ('run_id', 'test_id', 'recipe_path', 'status', 'started_at', 'finished_at', 'error_type', 'error_message', 'params', 'fingerprint', 'context', 'context_version', 'node', 'pid', 'sessions', 'graph'),
    'attempts': ('run_id', 'step', 'item', 'attempt', 'status', 'started_at', 'finished_at', 'wall_s', 'cpu_s', 'peak_rss_bytes', 'output', 'error_type', 'error_message', 'error_traceback', 'retry_in_s', 'session'),
    'context_snapshots': ('run_id', 'version', 'data'),
    'context_versions': ('run_id', 'version', 'at', 'step', 'attempt', 'item', 'seq', 'node', 'changes'),
    'logs': ('run_id', 'step', 'item', 'attempt', 'stream', 'at', 'text'),
    'sessions': ('run_id', 'session', 'kind', 'params', 'from_step', 'started_at', 'finished_at', 'status', 'node', 'pid'),
    'steps': ('run_id', 'name', 'position', 'status', 'attempts', 'started_at', 'finished_at', 'cpu_s', 'peak_rss_bytes', 'items', 'output', 'error_type', 'error_message', 'error_traceback', 'reason', 'cache_key', 'cache_inputs', 'session'),
}

#: the migration a database must be at to be written (Alembic's head of ``migrations/``)
HEAD = '0003'

#: the order a batch is written in (parents first)
TABLE_ORDER = ('cache', 'runs', 'attempts', 'context_snapshots', 'context_versions', 'logs', 'sessions', 'steps')

#: each table's write statement, for rows given as dicts
NAMED: dict[str, str] = {
    'cache': 'INSERT INTO cache ("key", run_id, step, output, created_at, inputs) VALUES (:key, :run_id, :step, :output, :created_at, :inputs) ON CONFLICT ("key") DO UPDATE SET run_id = excluded.run_id, step = excluded.step, output = excluded.output, created_at = excluded.created_at, inputs = excluded.inputs',
    'runs': 'INSERT INTO runs (run_id, test_id, recipe_path, status, started_at, finished_at, error_type, error_message, params, fingerprint, context, context_version, node, pid, sessions, graph) VALUES (:run_id, :test_id, :recipe_path, :status, :started_at, :finished_at, :error_type, :error_message, :params, :fingerprint, :context, :context_version, :node, :pid, :sessions, :graph) ON CONFLICT (run_id) DO UPDATE SET test_id = excluded.test_id, recipe_path = excluded.recipe_path, status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at, error_type = excluded.error_type, error_message = excluded.error_message, params = excluded.params, fingerprint = excluded.fingerprint, context = excluded.context, context_version = excluded.context_version, node = excluded.node, pid = excluded.pid, sessions = excluded.sessions, graph = excluded.graph',
    'attempts': 'INSERT INTO attempts (run_id, step, item, attempt, status, started_at, finished_at, wall_s, cpu_s, peak_rss_bytes, output, error_type, error_message, error_traceback, retry_in_s, session) VALUES (:run_id, :step, :item, :attempt, :status, :started_at, :finished_at, :wall_s, :cpu_s, :peak_rss_bytes, :output, :error_type, :error_message, :error_traceback, :retry_in_s, :session) ON CONFLICT (run_id, step, item, attempt) DO UPDATE SET status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at, wall_s = excluded.wall_s, cpu_s = excluded.cpu_s, peak_rss_bytes = excluded.peak_rss_bytes, output = excluded.output, error_type = excluded.error_type, error_message = excluded.error_message, error_traceback = excluded.error_traceback, retry_in_s = excluded.retry_in_s, session = excluded.session',
    'context_snapshots': 'INSERT INTO context_snapshots (run_id, version, data) VALUES (:run_id, :version, :data) ON CONFLICT DO NOTHING',
    'context_versions': 'INSERT INTO context_versions (run_id, version, at, step, attempt, item, seq, node, changes) VALUES (:run_id, :version, :at, :step, :attempt, :item, :seq, :node, :changes) ON CONFLICT DO NOTHING',
    'logs': 'INSERT INTO logs (run_id, step, item, attempt, stream, at, text) VALUES (:run_id, :step, :item, :attempt, :stream, :at, :text)',
    'sessions': 'INSERT INTO sessions (run_id, session, kind, params, from_step, started_at, finished_at, status, node, pid) VALUES (:run_id, :session, :kind, :params, :from_step, :started_at, :finished_at, :status, :node, :pid) ON CONFLICT (run_id, session) DO UPDATE SET kind = excluded.kind, params = excluded.params, from_step = excluded.from_step, started_at = excluded.started_at, finished_at = excluded.finished_at, status = excluded.status, node = excluded.node, pid = excluded.pid',
    'steps': 'INSERT INTO steps (run_id, name, position, status, attempts, started_at, finished_at, cpu_s, peak_rss_bytes, items, output, error_type, error_message, error_traceback, reason, cache_key, cache_inputs, session) VALUES (:run_id, :name, :position, :status, :attempts, :started_at, :finished_at, :cpu_s, :peak_rss_bytes, :items, :output, :error_type, :error_message, :error_traceback, :reason, :cache_key, :cache_inputs, :session) ON CONFLICT (run_id, name) DO UPDATE SET position = excluded.position, status = excluded.status, attempts = excluded.attempts, started_at = excluded.started_at, finished_at = excluded.finished_at, cpu_s = excluded.cpu_s, peak_rss_bytes = excluded.peak_rss_bytes, items = excluded.items, output = excluded.output, error_type = excluded.error_type, error_message = excluded.error_message, error_traceback = excluded.error_traceback, reason = excluded.reason, cache_key = excluded.cache_key, cache_inputs = excluded.cache_inputs, session = excluded.session',
}

#: the same with ? placeholders, for rows given as tuples in column order (what the writer makes)
POSITIONAL: dict[str, str] = {
    'cache': 'INSERT INTO cache ("key", run_id, step, output, created_at, inputs) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("key") DO UPDATE SET run_id = excluded.run_id, step = excluded.step, output = excluded.output, created_at = excluded.created_at, inputs = excluded.inputs',
    'runs': 'INSERT INTO runs (run_id, test_id, recipe_path, status, started_at, finished_at, error_type, error_message, params, fingerprint, context, context_version, node, pid, sessions, graph) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET test_id = excluded.test_id, recipe_path = excluded.recipe_path, status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at, error_type = excluded.error_type, error_message = excluded.error_message, params = excluded.params, fingerprint = excluded.fingerprint, context = excluded.context, context_version = excluded.context_version, node = excluded.node, pid = excluded.pid, sessions = excluded.sessions, graph = excluded.graph',
    'attempts': 'INSERT INTO attempts (run_id, step, item, attempt, status, started_at, finished_at, wall_s, cpu_s, peak_rss_bytes, output, error_type, error_message, error_traceback, retry_in_s, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step, item, attempt) DO UPDATE SET status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at, wall_s = excluded.wall_s, cpu_s = excluded.cpu_s, peak_rss_bytes = excluded.peak_rss_bytes, output = excluded.output, error_type = excluded.error_type, error_message = excluded.error_message, error_traceback = excluded.error_traceback, retry_in_s = excluded.retry_in_s, session = excluded.session',
    'context_snapshots': 'INSERT INTO context_snapshots (run_id, version, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    'context_versions': 'INSERT INTO context_versions (run_id, version, at, step, attempt, item, seq, node, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    'logs': 'INSERT INTO logs (run_id, step, item, attempt, stream, at, text) VALUES (?, ?, ?, ?, ?, ?, ?)',
    'sessions': 'INSERT INTO sessions (run_id, session, kind, params, from_step, started_at, finished_at, status, node, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, session) DO UPDATE SET kind = excluded.kind, params = excluded.params, from_step = excluded.from_step, started_at = excluded.started_at, finished_at = excluded.finished_at, status = excluded.status, node = excluded.node, pid = excluded.pid',
    'steps': 'INSERT INTO steps (run_id, name, position, status, attempts, started_at, finished_at, cpu_s, peak_rss_bytes, items, output, error_type, error_message, error_traceback, reason, cache_key, cache_inputs, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, name) DO UPDATE SET position = excluded.position, status = excluded.status, attempts = excluded.attempts, started_at = excluded.started_at, finished_at = excluded.finished_at, cpu_s = excluded.cpu_s, peak_rss_bytes = excluded.peak_rss_bytes, items = excluded.items, output = excluded.output, error_type = excluded.error_type, error_message = excluded.error_message, error_traceback = excluded.error_traceback, reason = excluded.reason, cache_key = excluded.cache_key, cache_inputs = excluded.cache_inputs, session = excluded.session',
}
