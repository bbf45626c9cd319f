"""The store over SQLAlchemy: any database it speaks (SQLite, PostgreSQL through psycopg 3), one
schema, created and upgraded by Alembic. Writing runs, reading their history, cleaning up."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from framework0.errors import RunNotFound, StoreError
from framework0.store import schema, statements
from framework0.store.failures import describe
from framework0.store.statements import RUN_TABLES
from framework0.store.url import shown, sqlite_path

Batch = dict[str, list[Any]]  # per table: rows as dicts, or as tuples in column order
Row = dict[str, Any]

#: how long to wait for a PostgreSQL server to answer (a URL's own connect_timeout wins)
CONNECT_TIMEOUT_S = 10

#: columns list_runs leaves out: a run's final context and graph can be large
_BULKY_RUN_COLUMNS = frozenset({"context", "graph", "fingerprint"})
MIN_PREFIX = 4  # the shortest start of a run id taken for the run

#: the columns of ``step_history``'s rows, in order (``framework0.history.StepRun``'s fields)
STEP_HISTORY_COLUMNS = (
    "run_id",
    "run_started_at",
    "run_status",
    "test_id",
    "recipe_path",
    "name",
    "position",
    "status",
    "attempts",
    "failed_attempts",
    "retries",
    "started_at",
    "finished_at",
    "cpu_s",
    "peak_rss_bytes",
    "items",
    "reason",
    "cache_key",
)

TABLES: dict[str, sa.Table] = {table.name: table for table in schema.metadata.sorted_tables}


def engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default driver for it is psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg{sep}{rest}"
    return url


class Store:
    """One database of runs. Thread-safe; open it with ``open_store``."""

    def __init__(self, url: str, *, synchronous: str | None = None) -> None:
        self.url = url
        self.engine = _create_engine(url, synchronous)
        self.dialect = self.engine.dialect.name
        self._columns = {name: statements.columns(table) for name, table in RUN_TABLES.items()}
        self._statements: dict[str, Any] = {}  # per table, built on first use
        from framework0.store.migrate import upgrade

        try:
            upgrade(self.engine)
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(describe_error(error, url)) from error

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(describe_error(error, self.url)) from error

    # -- writing ----------------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Write every row of ``batch`` in one transaction (all or nothing)."""
        with self._connect(write=True) as connection:
            self._write_tables(connection, batch)

    def add_run(self, batch: Batch) -> bool:
        """Write a new run's first rows (``writer.initial_batch``) in one transaction, unless the
        store holds a run of that id already: then write nothing and return False. So a run has one
        writer, whoever wrote its row first (a runner writes its own before it publishes the run's
        start), and nobody writes over it."""
        (run,) = batch["runs"]
        with self._connect(write=True) as connection:
            added = connection.execute(self._insert_absent("runs").returning(schema.runs.c.run_id), run).first()
            if added is None:
                return False
            self._write_tables(connection, {table: rows for table, rows in batch.items() if table != "runs"})
        return True

    def _write_tables(self, connection: Connection, batch: Batch) -> None:
        for table in RUN_TABLES:
            rows = batch.get(table)
            if rows:
                if type(rows[0]) is not dict:  # tuples in column order, as the writer makes them
                    names = self._columns[table]
                    rows = [dict(zip(names, row, strict=True)) for row in rows]
                connection.execute(self._statement(table), rows)

    def _insert_absent(self, name: str) -> Any:
        return statements.insert_absent(TABLES[name], self.dialect)

    def _statement(self, name: str) -> Any:
        statement = self._statements.get(name)
        if statement is None:
            statement = self._statements[name] = statements.write_statement(RUN_TABLES[name], self.dialect)
        return statement

    def cache_get(self, key: str) -> Row | None:
        with self._connect() as connection:
            row = connection.execute(sa.select(schema.cache).where(schema.cache.c.key == key)).first()
        return None if row is None else dict(row._mapping)

    def cache_candidates(self, step: str) -> list[Row]:
        table = schema.cache
        query = sa.select(table).where(table.c.step == step).order_by(table.c.created_at.desc()).limit(20)
        with self._connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def cache_writes(
        self, run_id: str, step: str, created_at: float
    ) -> list[tuple[int | None, list[list[Any]]]] | None:
        """The context writes of ``step``'s attempts that succeeded in the session of run ``run_id``
        that made a cache entry at ``created_at``, oldest first, as ``(item, [[op, key, value], ...])``
        batches; None when that run is no longer stored."""
        versions, attempts, sessions = schema.context_versions, schema.attempts, schema.sessions
        session = (
            sa.select(sa.func.max(sessions.c.session))
            .where(sessions.c.run_id == run_id, sessions.c.started_at <= created_at)
            .scalar_subquery()
        )
        query = (
            sa.select(versions.c.item, versions.c.changes)
            .join(
                attempts,
                sa.and_(
                    attempts.c.run_id == versions.c.run_id,
                    attempts.c.step == versions.c.step,
                    attempts.c.item == versions.c.item,
                    attempts.c.attempt == versions.c.attempt,
                ),
            )
            .where(
                versions.c.run_id == run_id,
                versions.c.step == step,
                attempts.c.status == "succeeded",
                attempts.c.session == session,
            )
            .order_by(versions.c.version)
        )
        with self._connect() as connection:
            found = connection.execute(sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)).first()
            if found is None:
                return None
            rows = connection.execute(query).all()
        return [(None if item == schema.NO_ITEM else item, json.loads(changes)) for item, changes in rows]

    def close(self) -> None:
        self.engine.dispose()

    # -- reading ----------------------------------------------------------------------------------

    def find_run(self, run_id: str) -> Row:
        """The run with this id, or the one run whose id starts with it (4 characters or more, as in
        git: a shorter start, like a bare version number, is never taken for a run); RunNotFound
        otherwise."""
        runs = schema.runs
        with self._connect() as connection:
            row = connection.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
            if row is None and len(run_id) >= MIN_PREFIX:
                found = connection.execute(sa.select(runs).where(_starts_with(runs.c.run_id, run_id)).limit(2)).all()
                if len(found) == 2:
                    raise RunNotFound(f"run id {run_id!r} is ambiguous; give more of it (f0 runs list)")
                row = found[0] if found else None
        if row is None and len(run_id) < MIN_PREFIX:
            raise RunNotFound(
                f"no run {run_id!r} in the store {shown(self.url)}; a run id needs {MIN_PREFIX} or more characters "
                "(f0 runs list shows the runs)"
            )
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in the store {shown(self.url)}; f0 runs list shows the runs")
        return dict(row._mapping)

    def list_runs(
        self,
        *,
        recipe: str | None = None,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """Runs, newest first, started in [``since``, ``until``); ``recipe`` matches the test id or the
        recipe path's end. Without their bulky columns (the final context, the graph, the
        fingerprint): ``find_run`` has those."""
        runs = schema.runs
        listed = [column for column in runs.c if column.name not in _BULKY_RUN_COLUMNS]
        query = sa.select(*listed).order_by(runs.c.started_at.desc(), runs.c.run_id)
        query = _runs_matching(query, recipe=recipe, status=status, since=since, until=until)
        if limit is not None:
            query = query.limit(limit)
        with self._connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def step_history(
        self,
        *,
        recipe: str | None = None,
        since: float | None = None,
        until: float | None = None,
        step: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """Every step row of the runs ``list_runs`` would list with these filters (``step``: only
        steps of that name), oldest run first, as tuples of ``STEP_HISTORY_COLUMNS``: each with its
        run's id, start, status, test id and recipe path, ``failed_attempts``, how many of the step's
        attempts failed in the session that gave its outcome (a resume is not a retry), and
        ``retries``, its attempts in that session beyond the first of each foreach item. One
        query, and tuples rather than dicts: an analysis reads hundreds of thousands of these."""
        runs, steps, attempts = schema.runs, schema.steps, schema.attempts
        same_session = (
            attempts.c.run_id == steps.c.run_id,
            attempts.c.step == steps.c.name,
            attempts.c.session == steps.c.session,  # a resume runs a step again: that is no retry
        )
        failed = sa.select(sa.func.count()).where(*same_session, attempts.c.status == "failed").scalar_subquery()
        # attempts beyond the first of each unit (the step, or each foreach item)
        retried = (
            sa.select(sa.func.count() - sa.func.count(sa.distinct(attempts.c.item)))
            .where(*same_session)
            .scalar_subquery()
        )
        # a step that succeeded at its first attempt has neither: most rows skip the look-ups
        looked_up = sa.or_(steps.c.attempts > 1, steps.c.status != "succeeded")
        columns = {
            "run_id": runs.c.run_id,
            "run_started_at": runs.c.started_at,
            "run_status": runs.c.status,
            "test_id": runs.c.test_id,
            "recipe_path": runs.c.recipe_path,
            "failed_attempts": sa.case((looked_up, failed), else_=0),
            "retries": sa.case((looked_up, retried), else_=0),
        }
        query = _runs_matching(
            sa.select(*(columns[name] if name in columns else steps.c[name] for name in STEP_HISTORY_COLUMNS))
            .join(steps, steps.c.run_id == runs.c.run_id)
            .order_by(runs.c.started_at, runs.c.run_id, steps.c.position, steps.c.name),
            recipe=recipe,
            since=since,
            until=until,
        )
        if step is not None:
            query = query.where(steps.c.name == step)
        with self._connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    def save_baseline(self, row: Row) -> None:
        """Keep a benchmark baseline (a ``baselines`` row); one of the same recipe and name is replaced."""
        table = schema.baselines
        statement = statements.upsert(table, self.engine.dialect.name)
        with self._connect(write=True) as connection:
            connection.execute(statement, [row])

    def baseline(self, recipe: str, name: str) -> Row | None:
        """The baseline ``name`` of ``recipe`` (its test id, else its path), or None."""
        table = schema.baselines
        query = sa.select(table).where(table.c.recipe == recipe, table.c.name == name)
        with self._connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else dict(row._mapping)

    def baseline_names(self, recipe: str) -> list[str]:
        """The names of ``recipe``'s baselines, newest first."""
        table = schema.baselines
        query = sa.select(table.c.name).where(table.c.recipe == recipe).order_by(table.c.created_at.desc())
        with self._connect() as connection:
            return [name for (name,) in connection.execute(query)]

    def _rows(self, table: sa.Table, run_id: str, *order: str, **where: Any) -> list[Row]:
        query = sa.select(table).where(table.c.run_id == run_id)
        for column, value in where.items():
            if value is not None:
                query = query.where(table.c[column] == value)
        query = query.order_by(*(table.c[column] for column in order))
        with self._connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def steps(self, run_id: str) -> list[Row]:
        return self._rows(schema.steps, run_id, "position", "name")

    def attempts(self, run_id: str, step: str | None = None) -> list[Row]:
        return self._rows(schema.attempts, run_id, "started_at", "step", "item", "attempt", step=step)

    def sessions(self, run_id: str) -> list[Row]:
        return self._rows(schema.sessions, run_id, "session")

    def logs(self, run_id: str, step: str | None = None, *, after: int = 0, limit: int | None = None) -> list[Row]:
        """Log lines with an id above ``after``, oldest first (``--follow`` polls with the last id)."""
        table = schema.logs
        query = sa.select(table).where(table.c.run_id == run_id, table.c.id > after).order_by(table.c.id)
        if step is not None:
            query = query.where(table.c.step == step)
        if limit is not None:
            query = query.limit(limit)
        with self._connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def log_counts(self, run_id: str) -> dict[str, int]:
        """How many log lines each step of the run has (the run's own lines under ``NO_STEP``)."""
        table = schema.logs
        query = sa.select(table.c.step, sa.func.count()).where(table.c.run_id == run_id).group_by(table.c.step)
        with self._connect() as connection:
            return {step: count for step, count in connection.execute(query)}

    def last_logs(self, run_id: str, step: str, limit: int) -> list[Row]:
        """A step's newest ``limit`` log lines, oldest first."""
        table = schema.logs
        query = (
            sa.select(table)
            .where(table.c.run_id == run_id, table.c.step == step)
            .order_by(table.c.id.desc())
            .limit(limit)
        )
        with self._connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        rows.reverse()
        return rows

    def revision(self, run_id: str) -> str:
        """A token that changes whenever anything of the run is recorded: its row, a step, an attempt,
        a log line or a context version (what a viewer polls to know whether to read it again)."""
        runs, steps, attempts, logs = schema.runs, schema.steps, schema.attempts, schema.logs
        versions = schema.context_versions
        with self._connect() as connection:
            run = connection.execute(
                sa.select(runs.c.status, runs.c.finished_at, runs.c.sessions).where(runs.c.run_id == run_id)
            ).first()
            parts: list[Any] = [tuple(run) if run is not None else None]
            for table in (steps, attempts):
                moment = sa.func.max(sa.func.coalesce(table.c.finished_at, table.c.started_at))
                parts.append(
                    tuple(connection.execute(sa.select(sa.func.count(), moment).where(table.c.run_id == run_id)).one())
                )
            parts.append(connection.execute(sa.select(sa.func.max(logs.c.id)).where(logs.c.run_id == run_id)).scalar())
            parts.append(
                connection.execute(
                    sa.select(sa.func.max(versions.c.version)).where(versions.c.run_id == run_id)
                ).scalar()
            )
        return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()

    def context_versions(self, run_id: str, *, after: int = 0, upto: int | None = None) -> list[Row]:
        """The deltas with versions in (after, upto], oldest first."""
        table = schema.context_versions
        query = sa.select(table).where(table.c.run_id == run_id, table.c.version > after)
        if upto is not None:
            query = query.where(table.c.version <= upto)
        with self._connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query.order_by(table.c.version))]

    def snapshot_before(self, run_id: str, version: int) -> tuple[int, bytes] | None:
        """The newest snapshot at or before ``version``: (its version, its compressed data)."""
        table = schema.context_snapshots
        query = (
            sa.select(table.c.version, table.c.data)
            .where(table.c.run_id == run_id, table.c.version <= version)
            .order_by(table.c.version.desc())
            .limit(1)
        )
        with self._connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row[0], row[1])

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run, how many of its steps have a row in each status ({"succeeded": 3, "failed": 1})."""
        steps = schema.steps
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        with self._connect() as connection:
            for start in range(0, len(run_ids), 500):
                query = (
                    sa.select(steps.c.run_id, steps.c.status, sa.func.count())
                    .where(steps.c.run_id.in_(list(run_ids[start : start + 500])))
                    .group_by(steps.c.run_id, steps.c.status)
                )
                for run_id, status, count in connection.execute(query):
                    counts[run_id][status] = int(count)
        return counts

    def runs_started_before(self, before: float, *, status: str | None = None) -> list[Row]:
        """Runs that started before the epoch time ``before`` (only in ``status`` when given), oldest
        first, with only the columns that say whose they are (not their contexts)."""
        runs = schema.runs
        columns = ("run_id", "test_id", "recipe_path", "status", "started_at", "node", "pid")
        query = sa.select(*(runs.c[name] for name in columns)).where(runs.c.started_at < before)
        if status:
            query = query.where(runs.c.status == status)
        with self._connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query.order_by(runs.c.started_at, runs.c.run_id))]

    def earlier_step(self, run: Row, step: str) -> Row | None:
        """Step ``step`` in the newest run of the same recipe before ``run`` that recorded its cache
        inputs (what ``f0 explain`` compares a cache miss with)."""
        runs, steps = schema.runs, schema.steps
        same_recipe = (
            runs.c.recipe_path == run["recipe_path"] if run["recipe_path"] else runs.c.test_id == run["test_id"]
        )
        query = (
            sa.select(steps.c.run_id, steps.c.status, steps.c.cache_inputs)
            .join(runs, runs.c.run_id == steps.c.run_id)
            .where(
                steps.c.name == step,
                steps.c.cache_inputs.is_not(None),
                runs.c.run_id != run["run_id"],
                runs.c.started_at < run["started_at"],
                same_recipe,
            )
            .order_by(runs.c.started_at.desc())
            .limit(1)
        )
        with self._connect() as connection:
            found = connection.execute(query).first()
        return None if found is None else dict(found._mapping)

    # -- cleaning ---------------------------------------------------------------------------------

    def delete_runs(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Delete runs with everything recorded of them; how many rows and bytes went, per table."""
        counts: dict[str, int] = {"bytes": 0}
        if not run_ids:
            return counts
        with self._connect(write=True) as connection:
            for chunk_start in range(0, len(run_ids), 500):
                chunk = list(run_ids[chunk_start : chunk_start + 500])
                for name, table in reversed(RUN_TABLES.items()):
                    counts["bytes"] += _payload_bytes(connection, table, chunk)
                    deleted = connection.execute(table.delete().where(table.c.run_id.in_(chunk)))
                    counts[name] = counts.get(name, 0) + (deleted.rowcount or 0)
        return counts

    def file_size(self) -> int | None:
        """The database file's size in bytes (SQLite), or the database's (PostgreSQL)."""
        path = sqlite_path(self.url)
        if path is not None:
            return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        if self.dialect == "postgresql":
            with self._connect() as connection:
                return int(connection.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
        return None

    def vacuum(self) -> None:
        """Give freed pages back to the file system (SQLite); PostgreSQL's autovacuum does it there."""
        if self.dialect == "sqlite":
            try:
                with self.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    connection.exec_driver_sql("VACUUM")
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM's pages sit in the WAL
            except sa.exc.SQLAlchemyError as error:
                raise StoreError(describe_error(error, self.url)) from error


def _runs_matching(
    query: sa.Select[Any],
    *,
    recipe: str | None = None,
    status: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> sa.Select[Any]:
    """``query`` (over ``runs``) narrowed to runs of ``recipe`` (its test id, or the end of its
    recipe path), in ``status``, started in [``since``, ``until``)."""
    runs = schema.runs
    if recipe:
        query = query.where(sa.or_(runs.c.test_id == recipe, _ends_with(runs.c.recipe_path, recipe)))
    if status:
        query = query.where(runs.c.status == status)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    if until is not None:
        query = query.where(runs.c.started_at < until)
    return query


# Not LIKE: its ``%`` and ``_`` are wildcards, and SQLite's LIKE ignores case where PostgreSQL's
# does not. Comparing a substring is exact, and the same on both.
def _starts_with(column: sa.Column[Any], text: str) -> sa.ColumnElement[bool]:
    return sa.func.substr(column, 1, len(text)) == text


def _ends_with(column: sa.Column[Any], text: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.func.length(column) >= len(text), sa.func.substr(column, sa.func.length(column) - len(text) + 1) == text
    )


def _payload_bytes(connection: Connection, table: sa.Table, run_ids: list[str]) -> int:
    """The bytes held by the text and binary columns of these runs' rows (what cleaning frees)."""
    sized = [column for column in table.columns if isinstance(column.type, (sa.Text, sa.LargeBinary, sa.String))]
    if not sized:
        return 0
    total = sa.func.coalesce(sa.func.sum(sum(sa.func.coalesce(sa.func.length(c), 0) for c in sized)), 0)
    return int(connection.execute(sa.select(total).where(table.c.run_id.in_(run_ids))).scalar_one())


#: PostgreSQL's ``synchronous_commit`` values; "on" (the default here) makes every commit durable
SYNCHRONOUS_COMMIT = ("on", "off", "local", "remote_write", "remote_apply")


def _create_engine(url: str, synchronous: str | None) -> sa.Engine:
    scheme = url.partition("://")[0].split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise StoreError(
            f"store URL {shown(url)}: the store is SQLite (sqlite:///path/runs.db) "
            f"or PostgreSQL (postgresql://user@host/db), not {scheme}"
        )
    path = sqlite_path(url)
    try:
        target = engine_url(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            from framework0.store.sqlite_sink import synchronous_level, use_wal

            level = synchronous_level(synchronous or "FULL")
            engine = sa.create_engine(target, connect_args={"timeout": 60})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout = 60000")
                use_wal(cursor)
                cursor.execute(f"PRAGMA synchronous = {level}")
                cursor.close()

            return engine
        if target.startswith("postgresql"):
            if (synchronous or "on") not in SYNCHRONOUS_COMMIT:
                raise StoreError(
                    f"PostgreSQL synchronous_commit {synchronous!r} is not one of {', '.join(SYNCHRONOUS_COMMIT)}"
                )
            parsed = sa.engine.make_url(target)
            given = parsed.query.get("options")
            options = " ".join(
                [
                    *([given] if isinstance(given, str) else list(given or ())),
                    f"-c synchronous_commit={synchronous or 'on'}",
                ]
            )
            connect_args: dict[str, Any] = {"options": options}
            if "connect_timeout" not in parsed.query:
                connect_args["connect_timeout"] = CONNECT_TIMEOUT_S  # an unreachable host fails, not hangs
            return sa.create_engine(
                parsed.difference_update_query(["options"]), pool_pre_ping=True, connect_args=connect_args
            )
        return sa.create_engine(target)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
        raise StoreError(f"store URL {shown(url)} is not usable: {error}") from error
    except ModuleNotFoundError as error:
        raise StoreError(
            f"store URL {shown(url)} needs the {error.name} driver: pip install 'framework0[postgresql]'"
        ) from error
    except OSError as error:
        if path is not None:
            raise StoreError(describe(error, path)) from error
        raise StoreError(f"cannot create the run store {shown(url)}: {error}") from error


def describe_error(error: BaseException, url: str) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    path = sqlite_path(url)
    if path is not None:
        return describe(original, path)
    if isinstance(error, sa.exc.OperationalError) and "connect" in text.lower():
        return f"cannot reach the run store {shown(url)}: {text}; check the server and the URL, or use another --store"
    return f"store {shown(url)}: {text}"
