"""The dask executor through the real ``f0`` command: ``--executor dask`` and ``--dask-scheduler``.

Every test runs ``python -m framework0`` as a subprocess in a temporary working directory (so its
runs are recorded under ``tmp_path/.framework0``), with no F0_* settings from the caller's
environment. Tests that need an existing cluster share one for the module: a ``LocalCluster`` of
two single-threaded worker processes, started here, whose workers the tests ask what ran on them.
Without Dask's distributed scheduler the tests are skipped, unless ``F0_STRICT=1`` (then they fail).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from tests import helpers

from framework0.errors import ExecutorError

ENGINE_STEPS = Path(__file__).resolve().parents[1] / "engine"
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
STRICT = os.environ.get("F0_STRICT", "") not in ("", "0")
HAS_DISTRIBUTED = importlib.util.find_spec("distributed") is not None
WAIT_S = 20.0  # the bound on every wait for the cluster to settle

pytestmark = pytest.mark.skipif(
    not HAS_DISTRIBUTED and not STRICT,
    reason="Dask's distributed scheduler is not installed (pip install dask[distributed])",
)

PID_RECIPE = "steps:\n  - {name: where, module: engine_steps, function: pid}\n"

# A step stuck in one C call: no exception reaches it, so only killing its worker stops it.
STUCK_MODULE = """\
import os
import time
from pathlib import Path


def stuck(started: str) -> None:
    Path(started).write_text(str(os.getpid()))
    time.sleep(3600)
"""


@pytest.fixture(scope="module", autouse=True)
def distributed_installed() -> None:
    if not HAS_DISTRIBUTED:
        pytest.fail("F0_STRICT=1 and Dask's distributed scheduler is not installed", pytrace=False)


class Cluster:
    """A running Dask cluster and a client of it, for asking what its workers run."""

    def __init__(self, address: str, client: Any) -> None:
        self.address = address
        self.client = client

    def worker_pids(self) -> set[int]:
        return set(self.client.run(os.getpid).values())

    def workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def busy(self) -> dict[str, list[str]]:
        """Per worker, the tasks the scheduler has it processing and the tasks its threads still run."""
        processing = {worker: list(keys) for worker, keys in self.client.processing().items() if keys}
        try:
            executing = {worker: keys for worker, keys in self.client.run(_executing).items() if keys}
        except Exception as error:  # a worker going away as we ask: it cannot be called idle yet
            return {**processing, "?": [f"{type(error).__name__}: {error}"]}
        return {**processing, **{f"{worker} (executing)": keys for worker, keys in executing.items()}}


def _executing(dask_worker: Any) -> list[str]:
    """The tasks a worker's threads are running, including those the scheduler has let go of."""
    return [str(task.key) for task in dask_worker.state.executing]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    distributed: Any = importlib.import_module("distributed")  # untyped: used through Any
    local = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # None would still serve HTTP on 8787, and warn when that port is taken
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(local, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=WAIT_S)
        yield Cluster(local.scheduler_address, client)
    finally:
        client.close()
        local.close()


def environment(**extra: str) -> dict[str, str]:
    """This environment without F0_* settings, with the engine tests' steps importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("F0_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ENGINE_STEPS), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def f0(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return helpers.f0(*args, cwd=cwd, env=env or environment())


def run_json(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    process = f0("run", *args, "--json", cwd=cwd, env=env)
    assert process.returncode == 0, f"exit {process.returncode}\nstdout:\n{process.stdout}\nstderr:\n{process.stderr}"
    result: dict[str, Any] = json.loads(process.stdout)
    return result


def essentials(result: dict[str, Any]) -> dict[str, Any]:
    """What a run's result says regardless of where its steps ran: statuses, outputs, context."""
    return {
        "status": result["status"],
        "steps": {name: (step["status"], step["attempts"], step["output"]) for name, step in result["steps"].items()},
        "context": result["context"],
    }


def wait_until(condition: Callable[[], Any], what: Callable[[], str]) -> None:
    """Wait, at most WAIT_S, for ``condition``; else fail saying ``what()`` is the matter then."""
    helpers.eventually(condition, what, within=WAIT_S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- a cluster of its own ---------------------------------------------------------------------------


def test_dask_executor_without_a_scheduler_gives_the_local_executors_result(tmp_path):
    on_dask = run_json(QUICKSTART, "--executor", "dask", cwd=tmp_path)
    here = run_json(QUICKSTART, "--executor", "local", cwd=tmp_path)
    assert essentials(on_dask) == essentials(here)
    assert on_dask["steps"]["hello_world"]["output"] == "Hello, world!"


def test_dask_executor_without_a_scheduler_runs_steps_in_worker_processes_it_closes_at_the_end(tmp_path):
    (tmp_path / "r.yaml").write_text(PID_RECIPE)
    process = helpers.start_f0("run", "r.yaml", "--json", "--executor", "dask", cwd=tmp_path, env=environment())
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    worker = json.loads(stdout)["steps"]["where"]["output"]
    assert worker != process.pid
    wait_until(lambda: not _alive(worker), lambda: f"the worker process {worker} is still running after f0 exited")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- an existing cluster ----------------------------------------------------------------------------


def test_dask_scheduler_option_runs_the_steps_on_that_clusters_workers(tmp_path, cluster):
    (tmp_path / "r.yaml").write_text(PID_RECIPE)
    result = run_json("r.yaml", "--executor", "dask", "--dask-scheduler", cluster.address, cwd=tmp_path)
    assert result["status"] == "succeeded"
    assert result["steps"]["where"]["output"] in cluster.worker_pids()


def test_f0_dask_scheduler_variable_runs_the_steps_on_that_clusters_workers(tmp_path, cluster):
    (tmp_path / "r.yaml").write_text(PID_RECIPE)
    result = run_json("r.yaml", "--executor", "dask", cwd=tmp_path, env=environment(F0_DASK_SCHEDULER=cluster.address))
    assert result["status"] == "succeeded"
    assert result["steps"]["where"]["output"] in cluster.worker_pids()


# -- usage and connection errors --------------------------------------------------------------------


def test_dask_scheduler_without_the_dask_executor_is_a_one_line_usage_error(tmp_path):
    process = f0("run", QUICKSTART, "--executor", "local", "--dask-scheduler", "tcp://127.0.0.1:8786", cwd=tmp_path)
    assert process.returncode == 2
    assert process.stderr.splitlines() == ["error: --dask-scheduler is for the dask executor: add --executor dask"]
    assert process.stdout == ""


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, subprocess.CompletedProcess[str], Path]:
    """One ``f0 run`` against a scheduler address nothing listens on (its connect timeout is ~10 s)."""
    where = tmp_path_factory.mktemp("unreachable")
    address = f"tcp://127.0.0.1:{free_port()}"
    return address, f0("run", QUICKSTART, "--executor", "dask", "--dask-scheduler", address, cwd=where), where


def test_unreachable_scheduler_is_a_one_line_error_naming_its_address(unreachable):
    address, process, _ = unreachable
    assert process.returncode == ExecutorError.exit_code == 1
    assert len(process.stderr.splitlines()) == 1, process.stderr
    assert process.stderr.startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert "Traceback" not in process.stderr


def test_unreachable_scheduler_records_no_run(unreachable):
    _, process, where = unreachable
    assert process.returncode != 0
    listed = f0("runs", "list", "--json", cwd=where)
    assert listed.returncode == 2, listed.stderr  # not even a store was made
    assert listed.stderr.startswith("error: no store at ")


# -- Ctrl-C -----------------------------------------------------------------------------------------


def interrupt_when_started(
    tmp_path: Path, recipe: str, started: Path, *options: str, whole_group: bool = False
) -> tuple[int, dict[str, Any], str]:
    """``f0 run RECIPE --json --executor dask OPTIONS``; once ``started`` exists, SIGINT to f0 (or,
    ``whole_group``, to its process group, as Ctrl-C in a terminal does); the exit code, result, stderr."""
    (tmp_path / "r.yaml").write_text(textwrap.dedent(recipe))
    process = helpers.start_f0(
        "run",
        "r.yaml",
        "--json",
        "--executor",
        "dask",
        *options,
        cwd=tmp_path,
        env=environment(PYTHONPATH=os.pathsep.join([str(ENGINE_STEPS), str(tmp_path)])),
        start_new_session=whole_group,  # a process group of its own, as a terminal's foreground job
    )
    try:
        # The worker's start notice travels through the scheduler: wait until f0 has it (it records
        # the attempt as running), so that Ctrl-C finds the step running there (not one handed over
        # that has yet to start).
        store = tmp_path / ".framework0" / "framework0.db"

        def start_recorded() -> bool:
            assert process.poll() is None, process.communicate()
            with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as connection:
                return connection.execute("SELECT 1 FROM attempts WHERE status = 'running'").fetchone() is not None

        helpers.eventually(
            lambda: started.exists() and start_recorded(),
            "the step started, and f0 told so",
            within=WAIT_S,
            ignoring=(sqlite3.OperationalError,),
        )
        if whole_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, json.loads(stdout), stderr


def lifecycle(log: Path, started: Path) -> str:
    """A recipe whose step ``long`` waits, cooperatively, to be stopped; ``after`` depends on it."""
    return f"""
        steps:
          - name: long
            module: engine_steps
            function: Lifecycle
            args: {{log: "{log}", wait: 60, started: "{started}"}}
          - {{name: after, module: engine_steps, function: noop, depends_on: [long]}}
        """


def test_ctrl_c_on_an_existing_cluster_cancels_the_running_step_runs_its_teardown_and_leaves_nothing_running(
    tmp_path, cluster
):
    log, started = tmp_path / "log", tmp_path / "started"
    code, result, stderr = interrupt_when_started(
        tmp_path, lifecycle(log, started), started, "--dask-scheduler", cluster.address
    )
    assert code == 130, stderr
    assert result["status"] == "cancelled"
    assert result["steps"]["long"]["status"] == "cancelled"
    assert result["steps"]["after"]["status"] == "pending"
    assert log.read_text().splitlines()[-1] == "teardown:StepCancelled"
    assert "Traceback" not in stderr
    wait_until(lambda: not cluster.busy(), lambda: f"the cluster still runs {cluster.busy()}")


@pytest.mark.uncovered
def test_ctrl_c_on_an_existing_cluster_kills_the_worker_of_a_step_stuck_in_a_c_call_and_its_nanny_restarts_it(
    tmp_path, cluster
):
    (tmp_path / "stuck_step.py").write_text(STUCK_MODULE)
    started = tmp_path / "started"
    recipe = f"""
        steps:
          - {{name: stuck, module: stuck_step, function: stuck, args: {{started: "{started}"}}}}
        """
    code, result, stderr = interrupt_when_started(tmp_path, recipe, started, "--dask-scheduler", cluster.address)
    assert code == 130, stderr
    assert result["status"] == "cancelled"
    assert result["steps"]["stuck"]["status"] == "cancelled"
    assert "Traceback" not in stderr
    killed = int(started.read_text())
    wait_until(lambda: not cluster.busy(), lambda: f"the cluster still runs {cluster.busy()}")
    wait_until(
        lambda: cluster.workers() == 2 and killed not in cluster.worker_pids(),
        lambda: (
            f"the cluster has {cluster.workers()} workers, pids {cluster.worker_pids()} (the stuck step's: {killed})"
        ),
    )


def test_ctrl_c_in_the_terminal_stops_the_run_not_the_workers_of_the_cluster_f0_started(tmp_path):
    log, started = tmp_path / "log", tmp_path / "started"
    code, result, stderr = interrupt_when_started(tmp_path, lifecycle(log, started), started, whole_group=True)
    assert code == 130, stderr
    long = result["steps"]["long"]
    assert (long["status"], long["attempts"]) == ("cancelled", 1)  # its worker did not die of the signal
    assert log.read_text().splitlines()[-1] == "teardown:StepCancelled"
    assert "Traceback" not in stderr


# -- help -------------------------------------------------------------------------------------------


def test_run_help_lists_the_dask_executor_and_the_dask_scheduler_option(tmp_path):
    process = f0("run", "--help", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert "[local|process|dask]" in process.stdout
    assert "--dask-scheduler ADDRESS" in process.stdout
