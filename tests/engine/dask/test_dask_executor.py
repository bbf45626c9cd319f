"""The dask executor: attempts run in a Dask cluster's worker processes and give the results the local
executor gives; lost workers, timeouts, shipping, context, logs, resources, cache and resume.

Every test runs against one real ``distributed.LocalCluster`` (two worker processes, one thread
each, ``F0_NODE=dask-test-worker``), shared by the session (see ``dask_steps.shared_cluster``);
a test that kills a worker leaves it to the cluster's nanny to start a new one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import framework0
from framework0.engine.attempt import NODE, AttemptTask
from framework0.engine.executors import dask_worker
from framework0.engine.runner import Runner
from framework0.events import AttemptFinished, EventBus, LogLines

if TYPE_CHECKING:  # mypy names this folder's modules tests.engine.dask.*; pytest puts the folder on sys.path
    from tests.engine.dask.dask_steps import WORKER_NODE, Cluster, require_distributed
else:
    from dask_steps import WORKER_NODE, Cluster, require_distributed

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
EXAMPLES = REPO / "examples"


def recipe_of(text: str, base_dir: Path = HERE) -> framework0.Recipe:
    return framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=base_dir)


def on_dask(cluster: Cluster, recipe: framework0.Recipe, **options: Any) -> framework0.RunResult:
    options.setdefault("store", None)
    return framework0.run(recipe, executor=framework0.DaskExecutor(cluster.address), **options)


def comparable(result: framework0.RunResult) -> dict[str, Any]:
    """What must not depend on the executor."""
    return {
        "status": result.status,
        "steps": {
            name: (step.status, step.output, step.attempts, step.items, step.error.type if step.error else None)
            for name, step in result.steps.items()
        },
        "context": result.context,
    }


def attempts_seen(bus: EventBus) -> list[AttemptFinished]:
    finished: list[AttemptFinished] = []
    bus.subscribe(lambda event: finished.append(event) if isinstance(event, AttemptFinished) else None)
    return finished


def nothing_running(cluster: Cluster, timeout: float = 10.0) -> bool:
    """Within ``timeout``: the scheduler has no task processing and no worker thread runs one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(cluster.client.processing().values()):
            if cluster.busy_threads() == 0:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture
def kill_when_written() -> Iterator[Callable[[Path], threading.Thread]]:
    """Start a thread that SIGKILLs the pid a step writes to ``path`` as soon as it appears."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(path: Path) -> threading.Thread:
        def kill() -> None:
            while not stop.is_set():
                if path.exists():
                    os.kill(int(path.read_text()), signal.SIGKILL)
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=kill, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=5)


# -- same results as the local executor ------------------------------------------------------------


@pytest.mark.parametrize("name", ["quickstart", "data_pipeline", "ops_runbook", "test_campaign", "plugin_recipe"])
def test_an_example_recipe_gives_the_same_result_as_on_the_local_executor(
    cluster: Cluster, tmp_path: Path, name: str
) -> None:
    recipe = framework0.load_recipe(EXAMPLES / f"{name}.yaml")
    # the workers do not share this process's working directory: give the examples an absolute one
    params = {"workdir": str(tmp_path / "work")} if "workdir" in recipe.params else {}

    local = framework0.run(recipe, params, executor="local", store=None)
    dask = on_dask(cluster, recipe, params=params)

    assert local.status == "succeeded"
    assert comparable(dask) == comparable(local)


RETRIES_WHEN_FOREACH = """
    params: {numbers: [1, 2, 3, 4]}
    steps:
      - name: flaky
        module: dask_steps
        function: flaky
        retry: {attempts: 4, delay: 50ms, backoff: 2.0, retry_on: [ConnectionError]}
        args: {counter: "FOLDER/flaky", failures: 2}
      - name: squares
        module: dask_steps
        function: square
        foreach: "{{ params.numbers }}"
        args: {value: "{{ item }}"}
      - name: never
        module: dask_steps
        function: echo
        when: "steps.flaky.output == 2"
        args: {value: never}
      - name: after_never
        module: dask_steps
        function: echo
        args: {value: unreachable}
        depends_on: [never]
      - name: broken
        module: dask_steps
        function: fail
        retry: {attempts: 2, delay: 10ms}
        continue_on_error: true
        depends_on: [squares]
      - name: after_broken
        module: dask_steps
        function: echo
        args: {value: unreachable}
        depends_on: [broken]
      - name: total
        module: dask_steps
        function: echo
        args: {value: "{{ steps.squares.output | sum }} after {{ steps.flaky.output }} tries"}
"""


def test_retries_when_skips_foreach_and_continue_on_error_behave_as_on_the_local_executor(
    cluster: Cluster, tmp_path: Path
) -> None:
    def run(executor: str) -> tuple[framework0.RunResult, list[tuple[str, int, int | None, str, bool]]]:
        folder = tmp_path / executor
        folder.mkdir()
        recipe = recipe_of(RETRIES_WHEN_FOREACH.replace("FOLDER", str(folder)))
        bus = EventBus()
        finished = attempts_seen(bus)
        if executor == "dask":
            result = on_dask(cluster, recipe, bus=bus)
        else:
            result = framework0.run(recipe, executor=executor, bus=bus, store=None)
        attempts = sorted((e.step, e.attempt, e.item, e.status, e.will_retry_in_s is not None) for e in finished)
        return result, attempts

    local, local_attempts = run("local")
    dask, dask_attempts = run("dask")

    assert comparable(dask) == comparable(local)
    assert dask_attempts == local_attempts
    steps = dask.steps  # the recipe does exercise what it is about
    assert (dask.status, steps["flaky"].attempts, steps["broken"].attempts) == ("succeeded", 3, 2)
    assert (steps["squares"].items, steps["squares"].output) == (4, [1, 4, 9, 16])
    assert [steps[name].status for name in ("never", "after_never")] == ["skipped"] * 2
    assert steps["after_broken"].status == "succeeded"  # continue_on_error: as if it had passed
    assert steps["total"].output == "30 after 3 tries"


# -- where steps run ------------------------------------------------------------------------------


def test_steps_run_in_the_worker_processes(cluster: Cluster) -> None:
    result = on_dask(cluster, recipe_of("steps: [{name: where, module: dask_steps, function: pid}]"))

    assert result.steps["where"].status == "succeeded"
    assert result.steps["where"].output != os.getpid()
    assert result.steps["where"].output in cluster.worker_pids()


def test_max_parallel_1_never_runs_two_steps_at_once(cluster: Cluster) -> None:
    # Two scriptlets and a dependency: the first hand-over of each scriptlet asks the workers
    # whether they can import it, which must not let a second step slip past the limit meanwhile.
    steps = "\n".join(
        f"  - {{name: s{n}, module: dask_steps, function: {'interval' if n % 2 else 'interval_too'}, "
        f"args: {{seconds: 0.15}}{', depends_on: [s0]' if n == 3 else ''}}}"
        for n in range(4)
    )
    result = on_dask(cluster, recipe_of(f"steps:\n{steps}\n"), max_parallel=1)

    assert result.status == "succeeded"
    intervals = sorted(step.output for step in result.steps.values())
    for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
        assert start >= end


# -- lost workers ---------------------------------------------------------------------------------


KILLED = """
    steps:
      - name: victim
        module: dask_steps
        function: hang_on_first_attempt
        args: {counter: "FOLDER/counter", pid_file: "FOLDER/pid"}
"""


def test_a_step_whose_worker_is_killed_is_run_again_and_the_lost_attempt_counts(
    cluster: Cluster, tmp_path: Path, kill_when_written: Callable[[Path], threading.Thread]
) -> None:
    bus = EventBus()
    finished = attempts_seen(bus)
    kill_when_written(tmp_path / "pid")

    result = on_dask(cluster, recipe_of(KILLED.replace("FOLDER", str(tmp_path))), bus=bus)

    assert int((tmp_path / "pid").read_text()) not in cluster.worker_pids() | {os.getpid()}
    step = result.steps["victim"]
    assert (result.status, step.status, step.attempts, step.output) == ("succeeded", "succeeded", 2, 2)
    first = [event for event in finished if event.attempt == 1]
    assert len(first) == 1 and first[0].error is not None
    assert first[0].error.type == "WorkerLost"


def test_with_dasks_default_allowed_failures_a_killed_workers_attempt_is_still_retried_and_counted(
    cluster: Cluster, tmp_path: Path, kill_when_written: Callable[[Path], threading.Thread]
) -> None:
    """Dask runs the lost task again by itself: the executor notices and reports WorkerLost."""

    def allowed_failures(value: int | None) -> Callable[[Any], int]:
        def set_on(dask_scheduler: Any) -> int:
            before: int = dask_scheduler.allowed_failures
            if value is not None:
                dask_scheduler.allowed_failures = value
            return before

        return set_on

    default = cluster.client.run_on_scheduler(allowed_failures(None))
    assert default == 0  # the shared cluster's setting, as the executor's own cluster has it
    cluster.client.run_on_scheduler(allowed_failures(3))  # Dask's default
    try:
        bus = EventBus()
        finished = attempts_seen(bus)
        kill_when_written(tmp_path / "pid")
        result = on_dask(cluster, recipe_of(KILLED.replace("FOLDER", str(tmp_path))), bus=bus)
    finally:
        cluster.client.run_on_scheduler(allowed_failures(0))

    step = result.steps["victim"]
    assert (result.status, step.status, step.attempts) == ("succeeded", "succeeded", 2)
    first = [event for event in finished if event.attempt == 1]
    assert len(first) == 1 and first[0].error is not None
    assert first[0].error.type == "WorkerLost"
    assert nothing_running(cluster)


def test_on_a_cluster_that_runs_lost_tasks_again_a_worker_that_dies_at_once_is_a_recorded_lost_attempt(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The worker dies before the attempt's start notice leaves it; Dask, allowed to, starts the
    task elsewhere: the scheduler's notice of the death still makes attempt 1 a WorkerLost."""
    cluster.client.run_on_scheduler(_set_allowed_failures, 3)  # Dask's default
    try:
        bus = EventBus()
        finished = attempts_seen(bus)
        recipe = recipe_of(
            f"""
            steps:
              - {{name: victim, module: dask_steps, function: die_on_first_attempt,
                  args: {{counter: "{tmp_path / "counter"}"}}}}
            """
        )
        result = on_dask(cluster, recipe, bus=bus)
    finally:
        cluster.client.run_on_scheduler(_set_allowed_failures, 0)
    step = result.steps["victim"]
    assert (result.status, step.status, step.attempts) == ("succeeded", "succeeded", 2)
    assert [(e.attempt, e.error.type if e.error else None) for e in finished] == [(1, "WorkerLost"), (2, None)]
    assert nothing_running(cluster)


def _set_allowed_failures(value: int, dask_scheduler: Any = None) -> None:
    dask_scheduler.allowed_failures = value


def test_a_lost_worker_does_not_use_up_the_steps_retry_budget(cluster: Cluster, tmp_path: Path) -> None:
    bus = EventBus()
    finished = attempts_seen(bus)
    recipe = recipe_of(
        f"""
        steps:
          - name: unlucky
            module: dask_steps
            function: die_then_fail_then_succeed
            retry: {{attempts: 2, delay: 0}}
            args: {{counter: "{tmp_path / "counter"}"}}
        """
    )

    result = on_dask(cluster, recipe, bus=bus)

    step = result.steps["unlucky"]
    assert [(e.attempt, e.error.type if e.error else None) for e in finished] == [
        (1, "WorkerLost"),
        (2, "ConnectionError"),
        (3, None),
    ]
    assert (step.status, step.attempts, step.output) == ("succeeded", 3, 3)


# -- timeouts -------------------------------------------------------------------------------------


def test_a_step_timeout_stops_a_cooperative_step_and_runs_its_teardown(cluster: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "log"
    started = time.monotonic()
    result = on_dask(
        cluster,
        recipe_of(
            f'steps: [{{name: patient, module: dask_steps, function: Patient, args: {{log: "{log}"}}, timeout: 0.3}}]'
        ),
    )

    step = result.steps["patient"]
    assert step.status == "failed"
    assert step.error is not None and (step.error.type, step.error.message) == ("StepTimeout", "timed out after 0.3s")
    assert log.read_text().splitlines()[-1].startswith("teardown:")
    assert time.monotonic() - started < 30  # stopped: not asked, the step waits 60 s
    assert nothing_running(cluster)


@pytest.mark.uncovered
def test_a_step_stuck_in_a_c_call_times_out_and_leaves_nothing_running_on_the_cluster(cluster: Cluster) -> None:
    started = time.monotonic()
    result = on_dask(
        cluster,
        recipe_of("steps: [{name: stuck, module: dask_steps, function: block, args: {seconds: 3600}, timeout: 0.3}]"),
        grace_s=0.5,
    )

    step = result.steps["stuck"]
    assert step.status == "failed"
    assert step.error is not None and step.error.type == "StepTimeout"
    assert time.monotonic() - started < 60  # abandoned: the step blocks for an hour
    assert nothing_running(cluster)


# -- context, logs, resources ---------------------------------------------------------------------


def test_a_steps_context_writes_reach_downstream_steps_and_the_history_names_the_worker(cluster: Cluster) -> None:
    assert NODE != WORKER_NODE  # this process has a node name of its own
    recipe = recipe_of(
        """
        steps:
          - {name: writer, module: dask_steps, function: write_context, args: {key: answer, value: 42}}
          - {name: reader, module: dask_steps, function: read_context, args: {key: answer}, depends_on: [writer]}
        """
    )
    runner = Runner(recipe, executor=framework0.DaskExecutor(cluster.address))  # no store: no recorder

    result = runner.run()

    assert (result.steps["reader"].output, result.context) == (42, {"answer": 42})
    changes = runner.state.history("answer")
    assert [(c.new, c.source.step, c.source.attempt, c.source.node) for c in changes] == [
        (42, "writer", 1, WORKER_NODE)
    ]


def test_what_a_step_prints_on_a_worker_reaches_the_runs_log_lines(cluster: Cluster) -> None:
    bus = EventBus()
    lines: list[LogLines] = []
    bus.subscribe(lambda event: lines.append(event) if isinstance(event, LogLines) else None)

    result = on_dask(
        cluster, recipe_of("steps: [{name: loud, module: dask_steps, function: shout, args: {text: ahoy}}]"), bus=bus
    )

    assert result.status == "succeeded"
    printed = {(line.step, line.stream, text) for line in lines for text in line.text.splitlines()}
    assert {("loud", "stdout", "ahoy on stdout"), ("loud", "stderr", "ahoy on stderr")} <= printed


def test_memory_and_cpu_figures_are_measured_in_the_worker(cluster: Cluster) -> None:
    result = on_dask(
        cluster,
        recipe_of(
            """
            steps:
              - {name: memory, module: dask_steps, function: allocate, args: {megabytes: 200, seconds: 0.3}}
              - {name: cpu, module: dask_steps, function: burn_cpu, args: {seconds: 0.3}}
            """
        ),
    )

    assert result.status == "succeeded"
    assert result.steps["memory"].peak_rss_bytes >= 200 * 1024 * 1024
    assert result.steps["cpu"].cpu_s > 0.1


# -- shipping steps to the workers ----------------------------------------------------------------


def module_here_only(monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Register a module that exists only in this process (no file); its name."""
    name = f"f0_here_only_{uuid.uuid4().hex[:8]}"
    module = types.ModuleType(name)
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return name


def test_a_step_from_a_module_the_workers_cannot_import_is_sent_by_value(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = module_here_only(
        monkeypatch,
        """
        import os

        GREETING = "hello"

        def greet(who):
            return [f"{GREETING}, {who}", os.getpid()]
        """,
    )
    recipe = recipe_of(f"steps: [{{name: greet, module: {name}, function: greet, args: {{who: dask}}}}]")

    result = on_dask(cluster, recipe)

    step = result.steps["greet"]
    assert step.status == "succeeded", step.error
    greeting, where = step.output
    assert greeting == "hello, dask"
    assert where in cluster.worker_pids()


def test_a_step_that_cannot_be_imported_or_pickled_fails_with_both_reasons(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = module_here_only(
        monkeypatch,
        """
        import threading

        LOCK = threading.Lock()

        def guarded():
            with LOCK:
                return 1
        """,
    )
    recipe = recipe_of(f"steps: [{{name: guarded, module: {name}, function: guarded}}]")

    result = on_dask(cluster, recipe)

    step = result.steps["guarded"]
    assert (result.status, step.status) == ("failed", "failed")
    assert step.error is not None and step.error.type == "ExecutorError"
    assert step.error.message.startswith(
        f"cannot send step 'guarded' to the Dask workers: they cannot import {name}:guarded ("
    )
    assert "and it cannot be pickled (" in step.error.message
    assert "lock" in step.error.message


# -- cache and resume -----------------------------------------------------------------------------


def test_a_cached_step_is_reused_on_the_dask_executor(cluster: Cluster, tmp_path: Path) -> None:
    module = f"dask_cache_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def expensive(n, folder):
                with open(Path(folder) / "runs", "a") as out:
                    out.write("x")
                return n * 10
            """
        )
    )
    recipe = recipe_of(
        f"""
        steps:
          - {{name: compute, module: {module}, function: expensive, cache: true, args: {{n: 3, folder: "{tmp_path}"}}}}
        """,
        base_dir=tmp_path,
    )
    store = f"sqlite:///{tmp_path}/store.db"

    first = on_dask(cluster, recipe, store=store)
    second = on_dask(cluster, recipe, store=store)

    assert (first.steps["compute"].status, second.steps["compute"].status) == ("succeeded", "cached")
    assert second.steps["compute"].output == 30
    assert (tmp_path / "runs").read_text() == "x"


def test_a_failed_run_resumes_on_the_dask_executor(cluster: Cluster, tmp_path: Path) -> None:
    module = f"dask_resume_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def count(ctx, name, folder):
                with open(Path(folder) / f"{name}.count", "a") as out:
                    out.write("x")
                ctx.set(f"ran.{name}", True)
                return name

            def check(marker):
                if not Path(marker).exists():
                    raise RuntimeError("marker missing")
                return "ok"
            """
        )
    )
    path = tmp_path / "recipe.yaml"  # resume loads the recipe again from where the run had it
    path.write_text(
        textwrap.dedent(
            f"""
            steps:
              - {{name: extract, module: {module}, function: count, args: {{name: extract, folder: "{tmp_path}"}}}}
              - name: check
                module: {module}
                function: check
                args: {{marker: "{tmp_path}/marker"}}
                depends_on: [extract]
              - name: load
                module: {module}
                function: count
                args: {{name: load, folder: "{tmp_path}"}}
                depends_on: [check]
            """
        )
    )
    recipe = framework0.load_recipe(path)
    store = f"sqlite:///{tmp_path}/store.db"
    first = on_dask(cluster, recipe, store=store)
    assert first.status == "failed"
    (tmp_path / "marker").touch()

    second = framework0.resume(first.run_id, store=store, executor=framework0.DaskExecutor(cluster.address))

    assert (second.run_id, second.status) == (first.run_id, "succeeded")
    assert [len((tmp_path / f"{n}.count").read_text()) for n in ("extract", "load")] == [1, 1]
    assert (second.steps["check"].attempts, second.steps["load"].output) == (2, "load")
    assert second.context == {"ran.extract": True, "ran.load": True}


# -- connecting -----------------------------------------------------------------------------------


def test_an_unreachable_scheduler_is_a_one_line_executor_error_naming_its_address() -> None:
    require_distributed()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()

    with pytest.raises(framework0.ExecutorError) as raised:
        framework0.run(
            recipe_of("steps: [{name: a, module: dask_steps, function: pid}]"),
            executor=framework0.DaskExecutor(address, connect_timeout=1),
            store=None,
        )

    message = str(raised.value)
    assert message.startswith(f"cannot reach the Dask scheduler at {address}")
    assert "\n" not in message
    assert time.monotonic() - started < 10


def test_without_distributed_the_dask_executor_says_which_extra_to_install(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["distributed"] = None  # as if it were not installed
        import framework0
        recipe = framework0.load_recipe_text("steps: [{name: a, uses: set_context, args: {values: {a: 1}}}]")
        try:
            framework0.run(recipe, executor="dask", store=None)
        except framework0.UsageError as error:
            print(f"UsageError: {error}")
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("F0_")}

    process = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("UsageError: the dask executor needs Dask's distributed scheduler")
    assert "pip install 'framework0[dask]'" in process.stdout


def test_a_task_of_a_run_that_ended_never_starts_on_a_worker(cluster: Cluster, tmp_path: Path) -> None:
    # A task the runner withdrew and let go may still sit in a worker's queue when the run ends.
    topic = f"framework0-ended-{uuid.uuid4().hex}"
    cluster.client.run(dask_worker.forget, topic)  # what the executor tells the workers as the run ends
    late = AttemptTask(
        key=1,
        step="late",
        attempt=1,
        item=None,
        scriptlet_ref="dask_steps:touch",
        search_path=(str(HERE),),
        args={"folder": str(tmp_path), "name": "late"},
        raw_args={},
        validate=False,
    )
    cluster.client.submit(dask_worker.run_attempt, topic, late, None, 10_000, pure=False).result(timeout=60)
    assert not (tmp_path / "late").exists()


def test_after_a_failure_stops_the_run_no_step_reported_pending_has_run(cluster: Cluster, tmp_path: Path) -> None:
    steps = "\n".join(
        f"  - {{name: s{index}, module: dask_steps, function: touch, args: {{folder: '{tmp_path}', name: s{index}, "
        "seconds: 0.05}}"
        for index in range(40)
    )
    recipe = recipe_of(f"steps:\n  - {{name: broken, module: dask_steps, function: fail}}\n{steps}\n")
    result = on_dask(cluster, recipe)
    assert result.status == "failed"
    pending = {name for name, step in result.steps.items() if step.status == "pending"}
    ran = {path.name for path in tmp_path.iterdir()}
    assert pending, "the failure stopped nothing: the test proves nothing"
    assert not pending & ran
    assert ran == {name for name, step in result.steps.items() if step.status == "succeeded"}


def test_with_max_parallel_no_queued_step_starts_after_a_failure_stops_the_run(
    cluster: Cluster, tmp_path: Path
) -> None:
    steps = "\n".join(
        f"  - {{name: s{index}, module: dask_steps, function: touch, args: {{folder: '{tmp_path}', name: s{index}}}}}"
        for index in range(5)
    )
    recipe = recipe_of(f"steps:\n  - {{name: broken, module: dask_steps, function: fail}}\n{steps}\n")
    result = on_dask(cluster, recipe, max_parallel=1)

    assert result.status == "failed"
    assert list(tmp_path.iterdir()) == []
    assert {step.status for name, step in result.steps.items() if name != "broken"} == {"pending"}
