"""The composition root: a ``Config`` and a recipe become a run.

Here, and only here, the parts of a run are chosen and built from the settings: the executor, the
store the run is recorded in, the step cache over it, the context state (in memory, or a context
server's with the publisher that lets viewers follow the run), and they are handed to the runner
as ports. ``framework0.run``, ``framework0.resume``, ``f0 run`` and ``f0 resume`` all come here.

>>> result = run("examples/quickstart.yaml", config=Config(store=None))
>>> result.status
'succeeded'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework0.config import Config
from framework0.errors import UsageError
from framework0.recipe.model import Recipe

if TYPE_CHECKING:
    from framework0.context import ContextState
    from framework0.context.changes import Change
    from framework0.engine.executors.base import Executor
    from framework0.engine.result import RunResult
    from framework0.engine.resume import ResumeState
    from framework0.events import EventBus
    from framework0.store import RunSink

__all__ = ["execute", "resume", "run"]


class _FromConfig:
    """The default of an argument that ``config`` settles."""

    def __repr__(self) -> str:
        return "<from config>"


FROM_CONFIG: Any = _FromConfig()


def run(
    recipe: Recipe | str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    *,
    config: Config | None = None,
    executor: Executor | str | None = None,
    max_parallel: int | None = None,
    bus: EventBus | None = None,
    run_id: str | None = None,
    timeout: float | None = None,
    grace_s: float | None = None,
    store: RunSink | str | None = FROM_CONFIG,
    use_cache: bool | None = None,
    snapshot_every: int | None = None,
    context_server: str | None = None,
    context: str | None = None,
) -> RunResult:
    """Run a recipe (a path or a loaded Recipe) and return its RunResult.

    Raises RecipeError or ParamError before anything runs, and StoreError when the store cannot be
    written; a failing step does not raise, it is reported in the result (``result.status ==
    "failed"``). Settings come from ``config`` (default: ``Config.from_environ(os.environ)``, the
    ``F0_*`` variables); the other arguments override it. The run is recorded in ``store``: a store
    URL, ``""`` for ``.framework0/framework0.db`` under the working directory, an open ``RunSink``,
    or None to keep it in memory only. The context history is stored as deltas with a full
    snapshot every ``snapshot_every`` versions (default 100). With ``context_server`` (a URL) the
    run's context lives on that context server under the name ``context`` (default: the run id),
    shared live with every runner using the same name, and the server sees the run's events.

    >>> result = run("examples/quickstart.yaml")
    >>> result.steps["hello_world"].output
    'Hello, world!'
    """
    config, sink = _settle(
        config,
        store=store,
        max_parallel=max_parallel,
        grace_s=grace_s,
        use_cache=use_cache,
        snapshot_every=snapshot_every,
        context_server=context_server,
        executor=executor if isinstance(executor, str) else None,
    )
    if not isinstance(recipe, Recipe):
        from framework0.recipe.loader import load_recipe

        recipe = load_recipe(Path(recipe), max_bytes=config.max_recipe_bytes, compiled=config.recipe_cache_folder())
    return execute(
        recipe,
        config,
        params=params,
        executor=executor if executor is not None and not isinstance(executor, str) else None,
        bus=bus,
        run_id=run_id,
        timeout=timeout,
        context_name=context,
        sink=sink,
    )


def resume(
    run_id: str,
    *,
    from_step: str | None = None,
    params: Mapping[str, Any] | None = None,
    config: Config | None = None,
    executor: Executor | str | None = None,
    max_parallel: int | None = None,
    bus: EventBus | None = None,
    timeout: float | None = None,
    grace_s: float | None = None,
    store: str | None = FROM_CONFIG,
    use_cache: bool | None = None,
) -> RunResult:
    """Continue stored run ``run_id`` under the same id and return its RunResult.

    Steps that finished are kept with their outputs and context changes; the rest run (``from_step``:
    that step and everything downstream of it run again too). ``params`` override the run's params
    (both sessions' params stay in the history). Raises RunNotFound or ResumeRefused; the other
    arguments are those of ``framework0.run``.
    """
    config, _ = _settle(
        config,
        store=store,
        max_parallel=max_parallel,
        grace_s=grace_s,
        use_cache=use_cache,
        executor=executor if isinstance(executor, str) else None,
    )
    recipe, state = prepare(run_id, config, from_step=from_step, params=params)
    return execute(
        recipe,
        config,
        executor=executor if executor is not None and not isinstance(executor, str) else None,
        bus=bus,
        timeout=timeout,
        resume=state,
    )


def prepare(
    run_id: str,
    config: Config,
    *,
    from_step: str | None = None,
    params: Mapping[str, Any] | None = None,
    params_from_text: bool = False,
) -> tuple[Recipe, ResumeState]:
    """The recipe of stored run ``run_id`` and what a resume keeps of it; refused in one line when
    the store does not exist (it is never created to look) or the run cannot be resumed."""
    from framework0.engine.resume import prepare_resume

    url = _store_url(config, "resume a run")
    _refuse_package_run(run_id, url, config.source("store"))
    return prepare_resume(
        run_id,
        from_step=from_step,
        params=params,
        params_from_text=params_from_text,
        store=url,
        origin=config.source("store"),
        max_recipe_bytes=config.max_recipe_bytes,
    )


def execute(
    recipe: Recipe,
    config: Config,
    *,
    params: Mapping[str, Any] | None = None,
    params_from_text: bool = False,
    executor: Executor | None = None,
    bus: EventBus | None = None,
    run_id: str | None = None,
    timeout: float | None = None,
    context_name: str | None = None,
    resume: ResumeState | None = None,
    sink: RunSink | None = None,
) -> RunResult:
    """Assemble the ports ``config`` asks for and run ``recipe`` on them (``resume``: continue a
    stored run). ``executor`` and ``sink``, when given, are used instead of the configured ones."""
    from framework0.engine.runner import Runner
    from framework0.events import EventBus, Notice

    bus = bus if bus is not None else EventBus()
    if resume is not None:
        run_id = resume.run_id
        if config.context_server:
            raise UsageError("a resumed run keeps its context where it was: resume it without --context-server")
    run_id = run_id or os.urandom(6).hex()
    with ExitStack() as closing:
        recorder = _recorder(config, sink)
        if recorder is not None and sink is None and config.durability == "fast":
            text = "F0_STORE_DURABILITY=fast: a crash of this machine may lose the last steps recorded"
            import time

            bus.publish(Notice(run_id, "note", text, time.time()))
        state = None
        if config.context_server:
            state = _context_server(config, run_id, context_name or run_id, bus, closing)
        runner = Runner(
            recipe,
            params=resume.params if resume is not None else params,
            params_from_text=params_from_text and resume is None,
            executor=executor if executor is not None else _executor(config),
            max_parallel=config.max_parallel,
            bus=bus,
            run_id=run_id,
            grace_s=config.grace_s,
            timeout=timeout,
            recorder=recorder,
            cache=_cache(config, recorder),
            state=state,
            resume=resume,
            max_log_bytes=config.max_log_bytes,
        )
        closing.enter_context(_collector_spared())
        result = runner.run()
        result.package = dict(config.package) if config.package else None
        return result
    raise AssertionError("unreachable")  # ExitStack may swallow nothing here; mypy cannot know


@contextmanager
def _collector_spared() -> Iterator[None]:
    """While the run lasts, keep what was alive before it out of the garbage collector's full
    scans (``gc.freeze``): a long run allocates millions of short-lived objects, and each full
    collection would walk every module and recipe object again. A caller that manages frozen
    objects itself (``gc.get_freeze_count()``) is left alone."""
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _settle(
    config: Config | None, *, store: Any = FROM_CONFIG, executor: str | None = None, **overrides: Any
) -> tuple[Config, RunSink | None]:
    """The config of a Python call: ``config`` or the environment's, with the arguments given
    (None: not given); a sink given as ``store`` is returned apart."""
    config = config if config is not None else Config.from_environ(os.environ)
    changes = {name: (value, "argument") for name, value in overrides.items() if value is not None}
    if executor is not None:
        changes["executor"] = (executor, "argument")
    sink = None
    if store is not FROM_CONFIG:
        if store is None or isinstance(store, str):
            changes["store"] = (None if store is not None and store.lower() == "none" else store, "--store")
        else:
            sink = store
    return (config.replace(**changes) if changes else config), sink


def _refuse_package_run(run_id: str, url: str, origin: str) -> None:
    """A run started from a recipe package ran in that package's environment, from files extracted
    for it and removed after: it cannot be continued here, only run again."""
    import json

    from framework0.errors import ResumeRefused
    from framework0.store import open_store

    store = open_store(url, create=False, origin=origin)
    try:
        run = store.find_run(run_id)
    finally:
        store.close()
    if run["package"]:
        path = json.loads(run["package"]).get("path", "")
        raise ResumeRefused(
            f"cannot resume run {run['run_id']}: it ran from the package {path}, extracted for that run only; "
            f"run the package again: f0 run {path}"
        )


def _store_url(config: Config, doing: str) -> str:
    if config.store is None:
        origin = config.source("store")
        said = "F0_STORE=none" if origin == "F0_STORE" else "--store none"
        raise UsageError(f"{said} keeps runs in memory only: there is no store to {doing} in; pass --store URL")
    return config.store


def _executor(config: Config) -> Executor:
    from framework0.engine.executors import make_executor

    if config.executor == "dask":
        from framework0.engine.executors.dask import DaskExecutor

        return DaskExecutor(config.dask_scheduler)
    if config.dask_scheduler is not None and config.source("dask_scheduler") != "F0_DASK_SCHEDULER":
        raise UsageError("--dask-scheduler is for the dask executor: add --executor dask")
    return make_executor(config.executor)


def _recorder(config: Config, sink: RunSink | None) -> Any:
    from framework0.engine.recording import StoreRecorder

    if sink is not None:
        return StoreRecorder(lambda: sink, snapshot_every=config.snapshot_every, owned=False, package=config.package)
    if config.store is None:
        return None
    from framework0.store import open_sink

    url, origin, durability = config.store, config.source("store"), config.durability
    return StoreRecorder(
        lambda: open_sink(url, durability=durability, origin=origin),
        snapshot_every=config.snapshot_every,
        package=config.package,
    )


def _cache(config: Config, recorder: Any) -> Any:
    from framework0.engine.caching import CacheOff, StoreCache

    if recorder is None:
        return None
    if not config.use_cache:
        return CacheOff()
    return StoreCache(lambda: recorder.sink)


def _context_server(
    config: Config, run_id: str, name: str, bus: EventBus, closing: ExitStack
) -> Callable[[Callable[[list[Change]], None]], ContextState]:
    """Keep the run's context on the server (under ``name``) and send it the run's events, so that
    viewers see the run live. Returns the runner's state factory; ``closing`` closes it all."""
    try:
        from framework0.client.http import ContextClient
        from framework0.client.publisher import EventPublisher
        from framework0.client.remote_state import RemoteContextState
    except ModuleNotFoundError as error:
        raise UsageError(f"--context-server needs {error.name}: pip install 'framework0[server]'") from error
    from framework0.engine.interrupt import shield
    from framework0.events import Notice

    assert config.context_server is not None
    client = ContextClient(config.context_server, retry_for=config.context_server_retry_s)
    closing.callback(client.close)

    def make_state(on_change: Callable[[list[Change]], None]) -> ContextState:
        state = RemoteContextState(client, name, run_id=run_id, on_change=on_change, shield=shield)
        publisher = EventPublisher(client, run_id, shared_context=True)
        # closed before the state and the client (ExitStack closes in reverse order)
        closing.callback(state.close)
        closing.callback(publisher.close)
        bus.subscribe(lambda event: None if type(event) is Notice else publisher.handle(event))
        return state

    return make_state
