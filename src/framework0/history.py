"""The public read side of Framework0: recorded runs, their steps, attempts, log lines, the context
at any version with its history and diffs, the graph, and why each step did what it did.

Open the store the command line reads (``--store``, ``F0_STORE``, else ``.framework0/framework0.db``)
and read it with typed values; nothing here writes.

    >>> import framework0.history
    >>> with framework0.history.open("sqlite:///runs.db") as runs:
    ...     failed = runs.list_runs(status="failed", since=time.time() - 86400, limit=10)
    ...     result = runs.result(failed[0].run_id)          # a RunResult, as framework0.run returned
    ...     tail = runs.log_tail(failed[0].run_id, "fetch")  # the newest lines of a step
    ...     context = runs.context(failed[0].run_id, 7)      # the context at version 7
    ...     print(runs.explain(failed[0].run_id, "load"))    # why "load" ran, was skipped or cached

A run id may be given whole or as a unique start of it (4 characters or more, as in git). An
unknown one raises RunNotFound with the message ``f0`` prints; a version a run does not have, or a
step it does not have, raises UsageError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

from framework0.context.changes import Change
from framework0.context.deltas import Delta, diff
from framework0.engine.result import RunResult
from framework0.errors import RunNotFound, UsageError, did_you_mean
from framework0.events.types import ErrorInfo

if TYPE_CHECKING:
    from framework0.config import Config
    from framework0.store.database import Store

__all__ = [
    "AttemptRecord",
    "Baseline",
    "ContextDiff",
    "ContextSide",
    "ContextVersion",
    "GraphStep",
    "History",
    "LogLine",
    "LogTail",
    "RunGraph",
    "RunNotFound",
    "RunSummary",
    "RunnerState",
    "SessionRecord",
    "StepRecord",
    "StepRun",
    "open",
]

RunnerState = Literal["ended", "alive", "gone", "elsewhere"]
"""Whether a run still has a process running it: it ended; its runner runs; its runner is gone
(killed, or its machine stopped: ``f0 resume`` continues it); it runs on another machine, which
cannot be checked from here."""

_PAGE = 5000  # log rows read at a time
_REMEMBERED = 1024  # run ids a History remembers having found


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One recorded run, without its bulky parts (final context, graph): ``History.list_runs`` and
    ``History.run`` give these. ``status`` is ``running`` for a run that has not ended, also when its
    runner is gone (``runner_state()`` tells). ``step_counts`` (steps per status) is filled by
    ``list_runs`` unless asked not to, and empty otherwise. ``package``: the recipe package the run
    came from (``f0 run PKG``: its ``path``, manifest ``digest`` and ``entry``), None otherwise."""

    run_id: str
    test_id: str | None
    recipe_path: str | None
    status: str
    started_at: float
    finished_at: float | None
    error: ErrorInfo | None
    params: dict[str, Any]
    node: str
    pid: int
    sessions: int
    context_version: int
    step_counts: Mapping[str, int] = field(default_factory=dict)
    package: dict[str, str] | None = None

    @property
    def duration_s(self) -> float | None:
        """From its first start to its end; None while it has not ended."""
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 6)

    def runner_state(self) -> RunnerState:
        """``ended``, ``alive``, ``gone`` or ``elsewhere`` (see ``RunnerState``); looks at this
        machine's processes for a running run recorded here."""
        from framework0.engine.history import runner_state

        state: RunnerState = runner_state({"status": self.status, "node": self.node, "pid": self.pid})  # type: ignore[assignment]
        return state


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of a run as recorded: its outcome, why (``reason``), its output as stored JSON text
    (``output`` decodes it), and the cache key and inputs of a ``cache: true`` step."""

    name: str
    position: int
    status: str
    attempts: int
    started_at: float | None
    finished_at: float | None
    cpu_s: float
    peak_rss_bytes: int
    items: int | None
    output_json: str | None
    error: ErrorInfo | None
    reason: str | None
    cache_key: str | None
    cache_inputs_json: str | None
    session: int

    @property
    def output(self) -> Any:
        return None if self.output_json is None else json.loads(self.output_json)

    @property
    def cache_inputs(self) -> dict[str, Any] | None:
        return None if self.cache_inputs_json is None else json.loads(self.cache_inputs_json)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 6)


class StepRun(NamedTuple):
    """One step in one run, as an analysis compares it across runs: the run's id, start, status
    and recipe (``recipe_key``: its test id, else its recipe path), the step's outcome and figures,
    and ``failed_attempts``: how many of its attempts failed in the session that gave its outcome
    (a step that succeeded with some failed first passed on retry; one that failed, then passed
    when its run was resumed, did not), and ``retries``: its attempts in that session beyond the
    first of each foreach item. A named tuple: an analysis reads hundreds of thousands."""

    run_id: str
    run_started_at: float
    run_status: str
    test_id: str | None
    recipe_path: str | None
    name: str
    position: int
    status: str
    attempts: int
    failed_attempts: int
    retries: int
    started_at: float | None
    finished_at: float | None
    cpu_s: float
    peak_rss_bytes: int
    items: int | None
    reason: str | None
    cache_key: str | None

    @property
    def recipe_key(self) -> str:
        """What tells one recipe's runs from another's: the test id, else the recipe's path."""
        return self.test_id or self.recipe_path or ""

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 6)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A saved benchmark baseline (``f0 bench --save-baseline NAME``): the recipe (its test id,
    else its path), when it was saved, how many runs it holds, their ``samples`` (``{"run":
    [seconds, ...], "steps": {name: [seconds, ...]}}``) and the ``environment`` they ran in."""

    recipe: str
    name: str
    created_at: float
    runs: int
    samples: dict[str, Any]
    environment: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a step (of one foreach ``item``, else None): ``retry_in_s`` is set when a
    failed attempt was retried after that delay."""

    step: str
    item: int | None
    attempt: int
    status: str
    started_at: float
    finished_at: float | None
    wall_s: float | None
    cpu_s: float | None
    peak_rss_bytes: int | None
    output_json: str | None
    error: ErrorInfo | None
    retry_in_s: float | None
    session: int

    @property
    def output(self) -> Any:
        return None if self.output_json is None else json.loads(self.output_json)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session of a run: 1 is the run, 2, 3 ... each ``f0 resume`` of it."""

    session: int
    kind: str
    params: dict[str, Any]
    from_step: str | None
    started_at: float
    finished_at: float | None
    status: str
    node: str
    pid: int


@dataclass(frozen=True, slots=True)
class LogLine:
    """One stored piece of output: ``step`` is None for the run's own lines, ``item`` None outside
    foreach, ``stream`` one of stdout, stderr, log (logging records) or framework (notes from
    Framework0, such as ``[log truncated: N bytes dropped]`` when a step wrote more than its cap).
    ``text`` may hold several lines; ``id`` grows with every line stored."""

    id: int
    step: str | None
    item: int | None
    attempt: int
    stream: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class LogTail:
    """A step's newest lines, oldest first, and how many older ones were left out."""

    lines: tuple[LogLine, ...]
    dropped: int


@dataclass(frozen=True, slots=True)
class ContextVersion:
    """A run's context at ``version`` (0 is the empty context it starts with) of ``latest``."""

    run_id: str
    version: int
    latest: int
    data: dict[str, Any]


ContextSide: TypeAlias = "str | tuple[str, int | None] | ContextVersion"
"""A context to compare: a run id (its newest version), ``(run id, version)``, or one read already."""


@dataclass(frozen=True, slots=True)
class ContextDiff:
    """What differs from context ``a`` to context ``b``: keys added in B, removed from A, changed
    (``(value in A, value in B)``), each sorted by key."""

    a: ContextVersion
    b: ContextVersion
    added: dict[str, Any]
    removed: dict[str, Any]
    changed: dict[str, tuple[Any, Any]]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """What ``f0 context diff --json`` prints."""
        return {
            "a": {"run_id": self.a.run_id, "version": self.a.version},
            "b": {"run_id": self.b.run_id, "version": self.b.version},
            "added": self.added,
            "removed": self.removed,
            "changed": {key: {"old": old, "new": new} for key, (old, new) in self.changed.items()},
        }


@dataclass(frozen=True, slots=True)
class GraphStep:
    """A step of a run's graph: its scriptlet (with `` (foreach)``), upstream steps, trigger and
    continue_on_error, as recorded when the run started."""

    name: str
    scriptlet: str | None = None
    upstream: tuple[str, ...] = ()
    trigger: str = "on_success"
    continue_on_error: bool = False


@dataclass(frozen=True, slots=True)
class RunGraph:
    """A run's steps in recipe order. ``recorded`` is False for a run recorded before graphs were
    kept: then the steps come from the run's fingerprint and rows, without edges."""

    steps: tuple[GraphStep, ...]
    recorded: bool

    def to_dict(self) -> dict[str, Any]:
        """The graph document (``{"steps": [{"name", "scriptlet", "upstream", ...}]}``)."""
        return {
            "steps": [
                {
                    "name": step.name,
                    "scriptlet": step.scriptlet,
                    "upstream": list(step.upstream),
                    **({"trigger": step.trigger} if step.trigger != "on_success" else {}),
                    **({"continue_on_error": True} if step.continue_on_error else {}),
                }
                for step in self.steps
            ]
        }


def open(store: str | None = None, *, config: Config | None = None) -> History:
    """Open the run store to read: ``store`` (a URL), else ``config.store`` (default:
    ``Config.from_environ(os.environ)``: ``F0_STORE``, else ``.framework0/framework0.db`` here).

    Never creates a store: StoreNotFound (exit 2) says where none was found, and a URL that is not
    a store URL is a UsageError. A config that keeps runs in memory only (``F0_STORE=none``,
    ``--store none``) has no store to read: UsageError."""
    from framework0.store import open_store

    if store is not None:
        return History(open_store(store, create=False), owns_store=True)
    if config is None:
        from framework0.config import Config

        config = Config.from_environ(os.environ)
    if config.store is None:
        source = config.source("store")
        given = "F0_STORE=none" if source == "F0_STORE" else "--store none"
        advice = "pass --store URL, or unset F0_STORE" if source == "F0_STORE" else "pass --store URL"
        raise UsageError(f"{given} keeps runs in memory only: there is no store to read; {advice}")
    return History(open_store(config.store, create=False, origin=config.source("store")), owns_store=True)


class History:
    """Reads the runs of one store. Thread-safe as the store is; a context manager.

    ``framework0.history.open()`` is the usual way in. ``History(store)`` reads a store already
    open (the server's) and leaves it open on ``close()``; ``owns_store=True`` closes it too.

    A History is for one look at the store (a command, a request, an analysis): it remembers the
    runs it has found, so a run deleted meanwhile (``f0 clean``) reads as empty, not RunNotFound.
    """

    def __init__(self, store: Store, *, owns_store: bool = False) -> None:
        self._store = store
        self._owns_store = owns_store
        #: ids (or starts of ids) found already -> the run's id: a view reads one run many times
        self._found: dict[str, str] = {}

    @property
    def url(self) -> str:
        """The store's URL."""
        return self._store.url

    def close(self) -> None:
        if self._owns_store:
            self._store.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        status: str | None = None,
        recipe: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        step_counts: bool = True,
    ) -> list[RunSummary]:
        """Runs, newest first: only those with ``status``, of ``recipe`` (a test id, or the end of a
        recipe path), started at or after ``since`` and before ``until`` (epoch seconds); at most
        ``limit``. Each has its ``step_counts`` unless ``step_counts=False``."""
        rows = self._store.list_runs(recipe=recipe, status=status, since=since, until=until, limit=limit)
        counts = self._store.step_counts([row["run_id"] for row in rows]) if step_counts and rows else {}
        return [_summary(row, counts.get(row["run_id"], {})) for row in rows]

    def step_runs(
        self,
        *,
        recipe: str | None = None,
        since: float | None = None,
        until: float | None = None,
        step: str | None = None,
    ) -> list[StepRun]:
        """Every recorded step of the runs ``list_runs`` lists with these filters (only steps named
        ``step`` when given), oldest run first and in recipe order within a run: what an analysis
        of the history reads, in one query however many runs there are."""
        rows = self._store.step_history(recipe=recipe, since=since, until=until, step=step)
        return [StepRun(*row) for row in rows]  # (the store gives StepRun's fields, in order)

    def baseline(self, recipe: str, name: str) -> Baseline | None:
        """The benchmark baseline ``name`` of ``recipe`` (its test id, else its path), or None."""
        row = self._store.baseline(recipe, name)
        if row is None:
            return None
        return Baseline(
            recipe=row["recipe"],
            name=row["name"],
            created_at=row["created_at"],
            runs=row["runs"],
            samples=json.loads(row["samples"]),
            environment=json.loads(row["environment"]),
        )

    def baseline_names(self, recipe: str) -> list[str]:
        """The names of ``recipe``'s saved baselines, newest first."""
        return self._store.baseline_names(recipe)

    def run(self, run_id: str) -> RunSummary:
        """The run with this id, or the one run whose id starts with it; RunNotFound otherwise."""
        return _summary(self._store.find_run(run_id), {})

    def result(self, run_id: str) -> RunResult:
        """The run's result as ``framework0.run`` returned it (``result.to_dict()`` is what
        ``f0 run --json`` printed). A run that has not ended has the context as last recorded and,
        as ``finished_at``, the last moment anything of it was recorded."""
        from framework0.engine.history import run_result
        from framework0.store.context_history import context_at

        run = self._store.find_run(run_id)
        context = _loads(run["context"])
        if context is None:
            context = context_at(self._store, run)[1]
        result = run_result(run, self._store.steps(run["run_id"]), context)
        result.package = _package(run)
        return result

    def result_document(self, run_id: str) -> dict[str, Any]:
        """``result(run_id).to_dict()``, with no end time or duration for a run that has not ended
        (``f0 runs show RUN --json``)."""
        from framework0.engine.history import result_document

        return result_document(self.result(run_id))

    def steps(self, run_id: str) -> list[StepRecord]:
        """The steps that have a record (something happened to them), in recipe order."""
        return [_step(row) for row in self._store.steps(self._run_id(run_id))]

    def step(self, run_id: str, name: str) -> StepRecord:
        """One step's record; UsageError (with a did-you-mean) when the run has no such step."""
        rows = self.steps(run_id)
        for row in rows:
            if row.name == name:
                return row
        raise UsageError(f"the run has no step {name!r}{did_you_mean(name, [row.name for row in rows])}")

    def attempts(self, run_id: str, step: str | None = None) -> list[AttemptRecord]:
        """Every attempt (only ``step``'s when given), in the order they started."""
        return [_attempt(row) for row in self._store.attempts(self._run_id(run_id), step)]

    def sessions(self, run_id: str) -> list[SessionRecord]:
        """The run's sessions: the run itself, then each resume of it."""
        return [_session(row) for row in self._store.sessions(self._run_id(run_id))]

    def revision(self, run_id: str) -> str:
        """A token that changes whenever anything of the run is recorded (what a viewer polls)."""
        return self._store.revision(self._run_id(run_id))

    # -- logs ---------------------------------------------------------------------------------------

    def logs(
        self,
        run_id: str,
        step: str | None = None,
        *,
        stream: str | None = None,
        attempt: int | None = None,
        item: int | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[LogLine]:
        """Stored lines with an id above ``after``, oldest first: only ``step``'s (``""`` for the
        run's own lines), ``stream``'s, ``attempt``'s and foreach ``item``'s when given. ``limit``
        bounds the rows read before the stream, attempt and item filters, so that a reader paging
        with ``after=lines[-1].id`` sees every line once."""
        rid = self._run_id(run_id)
        if limit is not None:
            rows = self._store.logs(rid, step, after=after, limit=limit)
            return [line for line in map(_log_line, rows) if _wanted(line, stream, attempt, item)]
        return [line for line in self._iter_logs(rid, step, after) if _wanted(line, stream, attempt, item)]

    def _iter_logs(self, run_id: str, step: str | None, after: int) -> Iterator[LogLine]:
        while rows := self._store.logs(run_id, step, after=after, limit=_PAGE):
            yield from map(_log_line, rows)
            after = rows[-1]["id"]

    def log_counts(self, run_id: str) -> dict[str | None, int]:
        """How many lines each step stored (the run's own lines under None)."""
        counts = self._store.log_counts(self._run_id(run_id))
        return {step or None: count for step, count in counts.items()}

    def log_tail(self, run_id: str, step: str | None, limit: int, *, count: int | None = None) -> LogTail:
        """``step``'s newest ``limit`` lines (None or ``""``: the run's own), oldest first, and how
        many older ones were left out (``count``: the step's line count, when known)."""
        rid = self._run_id(run_id)
        name = step or ""
        rows = self._store.last_logs(rid, name, limit) if limit > 0 else []
        total = self._store.log_counts(rid).get(name, 0) if count is None else count
        return LogTail(tuple(map(_log_line, rows)), max(0, total - len(rows)))

    # -- context ------------------------------------------------------------------------------------

    def context(self, run_id: str, version: int | None = None) -> ContextVersion:
        """The run's context at ``version`` (default: the newest); UsageError for a version the run
        does not have ("run X has context versions 0..N")."""
        from framework0.store.context_history import context_at, latest_version

        run = self._store.find_run(run_id)
        shown, data = context_at(self._store, run, version)
        return ContextVersion(run["run_id"], shown, latest_version(run), data)

    def context_history(self, run_id: str, key: str | None = None, *, since: int = 0) -> list[Change]:
        """The changes of the run's context after version ``since``, oldest first (only ``key``'s
        when given), each with its old and new value, version, time and source (node, step,
        attempt, foreach item)."""
        from framework0.store.context_history import history

        return history(self._store, self._store.find_run(run_id), key, since)

    def context_deltas(self, run_id: str, *, after: int = 0, upto: int | None = None) -> list[Delta]:
        """The stored versions in (``after``, ``upto``], oldest first: each version's operations
        (``[op, key, new value]``), time and source, without old values."""
        from framework0.store.context_history import delta_from_row

        rows = self._store.context_versions(self._run_id(run_id), after=after, upto=upto)
        return [delta_from_row(row) for row in rows]

    def context_diff(self, a: ContextSide, b: ContextSide) -> ContextDiff:
        """What differs from context ``a`` to context ``b``; each is a run id (its newest version),
        ``(run id, version)``, or a ContextVersion already read: two versions of one run, or two runs."""
        first, second = self._context_side(a), self._context_side(b)
        found = diff(first.data, second.data)
        return ContextDiff(first, second, found.added, found.removed, found.changed)

    def _context_side(self, side: ContextSide) -> ContextVersion:
        if isinstance(side, ContextVersion):
            return side
        return self.context(side) if isinstance(side, str) else self.context(*side)

    # -- graph and explanations ---------------------------------------------------------------------

    def graph(self, run_id: str, *, steps: Sequence[StepRecord] | None = None) -> RunGraph:
        """The run's steps and their edges as recorded when it started (what the dashboard draws,
        also for steps that never ran); steps that have a record but are not in it come last
        (``steps``: the run's records when read already, so as not to read them again)."""
        run = self._store.find_run(run_id)
        recorded = _recorded_graph(run)
        graph: dict[str, GraphStep] = {}
        if recorded is not None:
            graph.update((step.name, step) for step in recorded)
        else:
            fingerprint = _loads(run.get("fingerprint"))
            for name in fingerprint.get("steps", {}) if isinstance(fingerprint, dict) else ():
                graph.setdefault(name, GraphStep(name))
        records = self.steps(run["run_id"]) if steps is None else steps
        for record in sorted(records, key=lambda record: record.position):
            graph.setdefault(record.name, GraphStep(record.name))
        return RunGraph(tuple(graph.values()), recorded is not None)

    def explain(self, run_id: str, step: str) -> list[str]:
        """Lines that say what became of ``step`` and why (``f0 explain``): why it ran, was skipped,
        cached or ran again, and for a ``cache: true`` step that ran, which input changed since the
        run it was compared with. UsageError when the run has no such step."""
        from framework0.engine.explain import explain_step

        run = self._store.find_run(run_id)
        recorded = _recorded_graph(run) or ()
        graph = {entry.name: entry for entry in recorded}
        return explain_step(self._store, run, step, graph)

    def _run_id(self, run_id: str) -> str:
        found = self._found.get(run_id)
        if found is None:
            found = str(self._store.find_run(run_id)["run_id"])
            if len(self._found) >= _REMEMBERED:
                self._found.clear()
            self._found[run_id] = found
        return found


def _summary(row: Mapping[str, Any], counts: Mapping[str, int]) -> RunSummary:
    error = ErrorInfo(row["error_type"], row["error_message"] or "") if row["error_type"] else None
    return RunSummary(
        run_id=row["run_id"],
        test_id=row["test_id"],
        recipe_path=row["recipe_path"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=error,
        params=json.loads(row["params"]) if row["params"] else {},
        node=row["node"],
        pid=row["pid"],
        sessions=row["sessions"],
        context_version=int(row["context_version"] or 0),
        step_counts=dict(counts),
        package=_package(row),
    )


def _package(row: Mapping[str, Any]) -> dict[str, str] | None:
    """The package a run came from, as its runner recorded it (anything else is left out)."""
    package = _loads(row.get("package"))
    if not isinstance(package, dict):
        return None
    return {str(key): str(value) for key, value in package.items() if isinstance(value, str)}


def _error(row: Mapping[str, Any]) -> ErrorInfo | None:
    if not row.get("error_type"):
        return None
    return ErrorInfo(row["error_type"], row.get("error_message") or "", row.get("error_traceback"))


def _step(row: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        name=row["name"],
        position=row["position"],
        status=row["status"],
        attempts=row["attempts"] or 0,
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        cpu_s=row["cpu_s"] or 0.0,
        peak_rss_bytes=row["peak_rss_bytes"] or 0,
        items=row["items"],
        output_json=row["output"],
        error=_error(row),
        reason=row["reason"],
        cache_key=row["cache_key"],
        cache_inputs_json=row["cache_inputs"],
        session=int(row["session"] or 1),
    )


def _item(value: int) -> int | None:
    from framework0.store.schema_values import NO_ITEM

    return None if value == NO_ITEM else value


def _attempt(row: Mapping[str, Any]) -> AttemptRecord:
    return AttemptRecord(
        step=row["step"],
        item=_item(row["item"]),
        attempt=row["attempt"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        wall_s=row["wall_s"],
        cpu_s=row["cpu_s"],
        peak_rss_bytes=row["peak_rss_bytes"],
        output_json=row["output"],
        error=_error(row),
        retry_in_s=row["retry_in_s"],
        session=int(row["session"] or 1),
    )


def _session(row: Mapping[str, Any]) -> SessionRecord:
    return SessionRecord(
        session=row["session"],
        kind=row["kind"],
        params=json.loads(row["params"]) if row["params"] else {},
        from_step=row["from_step"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        node=row["node"],
        pid=row["pid"],
    )


def _log_line(row: Mapping[str, Any]) -> LogLine:
    return LogLine(
        id=row["id"],
        step=row["step"] or None,
        item=_item(row["item"]),
        attempt=row["attempt"],
        stream=row["stream"],
        text=row["text"],
        at=row["at"],
    )


def _wanted(line: LogLine, stream: str | None, attempt: int | None, item: int | None) -> bool:
    return (
        (stream is None or line.stream == stream)
        and (attempt is None or line.attempt == attempt)
        and (item is None or line.item == item)
    )


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _recorded_graph(run: Mapping[str, Any]) -> Sequence[GraphStep] | None:
    """The graph kept with the run, checked (a runner on another machine sent it): malformed entries
    are left out, as are repeated names. None for a run recorded before graphs were kept."""
    document = _loads(run.get("graph"))
    entries = document.get("steps") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    steps: dict[str, GraphStep] = {}
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or name in steps:
            continue
        scriptlet = entry.get("scriptlet")
        upstream = entry.get("upstream")
        ups = tuple(dict.fromkeys(up for up in upstream if isinstance(up, str))) if isinstance(upstream, list) else ()
        trigger = entry.get("trigger")
        steps[name] = GraphStep(
            name,
            scriptlet if isinstance(scriptlet, str) else None,
            ups,
            trigger if isinstance(trigger, str) else "on_success",
            entry.get("continue_on_error") is True,
        )
    return list(steps.values())
