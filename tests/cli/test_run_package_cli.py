"""``f0 run PKG`` for real: packages packed from the examples and run, as a user would, in another
folder, in virtual environments built by real pip and recorded in the store like any other run.

Each environment costs seconds to build, so the module builds three: one from the index that the
packages needing only Framework0 share (the data pipeline, a failing recipe, a slow one), one
offline from a package's wheels, and one that pip cannot finish."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.helpers import F0_TIMEOUT_S, eventually, f0, invoke, one_line_error, start_f0

import framework0.history
from framework0.isolation.archive import write_package
from framework0.isolation.environments import MARKER
from framework0.isolation.manifest import MANIFEST_NAME, Manifest
from framework0.isolation.verify import verify_package

CHECKOUT = Path(__file__).resolve().parents[2]
EXAMPLES = CHECKOUT / "examples"
FAILING = """\
test_meta: {test_id: FAIL-001}
steps:
  - {name: ok, uses: hello_world}
  - {name: boom, uses: shell, args: {cmd: "exit 3"}, depends_on: [ok]}
"""
SLOW = """\
test_meta: {test_id: SLOW-001}
steps:
  - {name: wait, module: slow_steps, function: wait}
"""
SLOW_STEPS = """\
import time
from pathlib import Path


def wait() -> str:
    Path("started").write_text("yes")
    while not Path("never").exists():
        time.sleep(0.05)
    return "done"
"""


@dataclass(frozen=True)
class User:
    """A user's folders: where f0 runs (its store is the default one there), its TMPDIR (where the
    staging folder goes) and its cache folder (XDG_CACHE_HOME: pip's cache, compiled recipes)."""

    work: Path
    tmp: Path
    caches: Path

    @property
    def store(self) -> str:
        return f"sqlite:///{self.work / '.framework0' / 'framework0.db'}"

    def env(self, envs: Path, **more: str) -> dict[str, str]:
        caches = {"XDG_CACHE_HOME": str(self.caches), "F0_RECIPE_CACHE": str(self.caches / "framework0" / "recipes")}
        return {"F0_PACKAGE_ENVS": str(envs), "TMPDIR": str(self.tmp), **caches, **more}

    def left_behind(self) -> list[str]:
        """What is in the user's TMPDIR and cache folder: nothing, once a run from a package has ended."""
        return sorted(str(path) for folder in (self.tmp, self.caches) for path in folder.rglob("*"))


def new_user(tmp_path_factory: pytest.TempPathFactory) -> User:
    root = tmp_path_factory.mktemp("user")
    user = User(root / "work", root / "tmp", root / "caches")
    for folder in (user.work, user.tmp, user.caches):
        folder.mkdir()
    return user


def pack(recipe: Path, output: Path) -> Path:
    packed = invoke("isolate", recipe, "-o", output)
    assert packed.returncode == 0, packed.stderr
    return output


def listing(folder: Path) -> dict[str, int]:
    """Each entry of ``folder`` with its modification time: a folder rebuilt or touched shows."""
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def rewritten(pkg: Path, out: Path, **changes: str) -> Path:
    """``pkg`` with a valid manifest that says ``changes`` (python=..., framework0=...)."""
    with zipfile.ZipFile(pkg) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    old = Manifest.from_json(members[0][1])
    fields = {name: getattr(old, name) for name in ("entry", "recipe", "files", "requirements", "python")}
    fields |= {name: getattr(old, name) for name in ("platform", "framework0", "created")}
    manifest = Manifest.build(**{**fields, **changes})
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(MANIFEST_NAME, manifest.to_json()), *members[1:]]:
            archive.writestr(name, data)
    return out


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("packing")
    for name in ("data_pipeline.yaml", "pipeline_steps.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    (folder / "failing.yaml").write_text(FAILING)
    (folder / "slow.yaml").write_text(SLOW)
    (folder / "slow_steps.py").write_text(SLOW_STEPS)
    pack(folder / "data_pipeline.yaml", folder / "pipeline.f0.zip")
    pack(folder / "failing.yaml", folder / "failing.tar.gz")
    pack(folder / "slow.yaml", folder / "slow.f0.zip")
    return folder


@dataclass(frozen=True)
class Ran:
    user: User
    process: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory, packages: Path, envs: Path) -> Ran:
    """The first run from a package: its environment is built here."""
    user = new_user(tmp_path_factory)
    process = f0("run", packages / "pipeline.f0.zip", "-p", "files=2", cwd=user.work, env=user.env(envs))
    return Ran(user, process)


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory, packages: Path, envs: Path, pipeline_run: Ran) -> Ran:
    user = new_user(tmp_path_factory)
    return Ran(user, f0("run", packages / "failing.tar.gz", cwd=user.work, env=user.env(envs)))


class CountingIndex(BaseHTTPRequestHandler):
    """A package index that has nothing, and counts who asked."""

    asked: list[str]

    def do_GET(self) -> None:
        self.asked.append(self.path)
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_index() -> Iterator[tuple[str, list[str]]]:
    asked: list[str] = []
    handler = type("Handler", (CountingIndex,), {"asked": asked})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/", asked
    finally:
        server.shutdown()
        server.server_close()


# -- a run from a package --------------------------------------------------------------------------


def test_a_package_runs_where_the_user_is_and_its_outputs_land_there(pipeline_run: Ran) -> None:
    assert pipeline_run.process.returncode == 0, pipeline_run.process.stderr
    outputs = pipeline_run.user.work / ".framework0" / "examples" / "data_pipeline"
    assert sorted(path.name for path in (outputs / "raw").iterdir()) == [
        "sales-emea-day01.csv",
        "sales-emea-day02.csv",
    ]
    assert (outputs / "report.md").read_text().startswith("# Sales report: emea")


def test_the_run_is_recorded_in_the_users_store_naming_its_package(pipeline_run: Ran, packages: Path) -> None:
    pkg = packages / "pipeline.f0.zip"
    expected = {"path": str(pkg), "digest": verify_package(pkg).digest, "entry": "data_pipeline.yaml"}

    with framework0.history.open(pipeline_run.user.store) as history:
        (run,) = history.list_runs()
        result = history.result(run.run_id)

    assert (run.status, run.test_id, run.package) == ("succeeded", "PIPE-001", expected)
    assert (result.package, result.params["files"]) == (expected, 2)
    assert list(result.steps) == ["generate", "list", "summarise", "aggregate", "report", "check"]


def test_a_run_from_a_package_leaves_nothing_behind_but_its_outputs_and_environment(
    pipeline_run: Ran, envs: Path
) -> None:
    assert pipeline_run.user.left_behind() == []  # the staging folder went; neither pip nor f0 kept a cache
    assert sorted(path.name for path in pipeline_run.user.work.iterdir()) == [".framework0"]
    (environment,) = envs.iterdir()
    assert (environment / MARKER).is_file()


def test_f0_runs_show_names_the_package_a_run_came_from(pipeline_run: Ran, packages: Path) -> None:
    with framework0.history.open(pipeline_run.user.store) as history:
        (run,) = history.list_runs()
    shown = invoke("runs", "show", run.run_id, cwd=pipeline_run.user.work)

    digest = verify_package(packages / "pipeline.f0.zip").digest
    expected = f"  package   {packages / 'pipeline.f0.zip'} (digest {digest}, entry data_pipeline.yaml)"
    assert shown.stdout.splitlines()[1] == expected


def test_the_environment_is_built_once_and_used_again(
    tmp_path_factory: pytest.TempPathFactory, pipeline_run: Ran, packages: Path, envs: Path
) -> None:
    assert "f0: building the environment of " in pipeline_run.process.stderr
    (environment,) = envs.iterdir()
    before = (listing(envs), listing(environment), (environment / MARKER).read_bytes())
    user = new_user(tmp_path_factory)

    again = f0("run", packages / "pipeline.f0.zip", cwd=user.work, env=user.env(envs))

    assert again.returncode == 0, again.stderr
    assert "building" not in again.stderr
    assert (listing(envs), listing(environment), (environment / MARKER).read_bytes()) == before


def test_the_runs_json_result_comes_through_on_stdout(
    tmp_path_factory: pytest.TempPathFactory, pipeline_run: Ran, packages: Path, envs: Path
) -> None:
    user = new_user(tmp_path_factory)

    ran = f0("run", packages / "pipeline.f0.zip", "--json", "-p", "rows=1", cwd=user.work, env=user.env(envs))

    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["status"], result["params"]["rows"]) == ("succeeded", 1)
    assert result["package"]["digest"] == verify_package(packages / "pipeline.f0.zip").digest


def test_the_options_of_f0_run_reach_the_run_of_a_package(
    tmp_path_factory: pytest.TempPathFactory, pipeline_run: Ran, packages: Path, envs: Path
) -> None:
    user = new_user(tmp_path_factory)
    options = ["--junit", "junit.xml", "--timeout", "5m", "--executor", "process", "--max-parallel", "2"]

    ran = f0("run", packages / "pipeline.f0.zip", *options, "-p", "files=1", cwd=user.work, env=user.env(envs))

    assert ran.returncode == 0, ran.stderr
    assert (user.work / "junit.xml").read_text().count("<testcase ") == 6
    with framework0.history.open(user.store) as history:
        (run,) = history.list_runs()
    assert run.params["files"] == 1


def test_debug_keeps_the_staging_folder_and_says_where(
    tmp_path_factory: pytest.TempPathFactory, pipeline_run: Ran, packages: Path, envs: Path
) -> None:
    user = new_user(tmp_path_factory)

    ran = f0("run", packages / "pipeline.f0.zip", "--debug", cwd=user.work, env=user.env(envs))

    assert ran.returncode == 0, ran.stderr
    (staging,) = user.tmp.iterdir()
    assert staging.name.startswith("f0-package-")
    assert ran.stderr.splitlines()[-1] == f"f0: the package's files are kept in {staging} (--debug)"
    assert sorted(path.name for path in staging.iterdir() if path.name != "__pycache__") == [
        "MANIFEST.json",
        "data_pipeline.yaml",
        "pipeline_steps.py",
    ]


def test_a_failing_steps_exit_status_comes_through(failing_run: Ran) -> None:
    assert failing_run.process.returncode == 1, failing_run.process.stderr
    assert "FAIL-001 failed" in failing_run.process.stdout
    assert failing_run.user.left_behind() == []


def test_resuming_a_run_from_a_package_is_refused_saying_to_run_the_package_again(
    failing_run: Ran, packages: Path
) -> None:
    with framework0.history.open(failing_run.user.store) as history:
        (run,) = history.list_runs()

    refused = invoke("resume", run.run_id, cwd=failing_run.user.work)

    pkg = packages / "failing.tar.gz"
    assert one_line_error(refused) == (
        f"error: cannot resume run {run.run_id}: it ran from the package {pkg}, extracted for that run only; "
        f"run the package again: f0 run {pkg}"
    )


def test_ctrl_c_stops_the_run_once_and_leaves_its_record_true(
    tmp_path_factory: pytest.TempPathFactory, pipeline_run: Ran, packages: Path, envs: Path
) -> None:
    user = new_user(tmp_path_factory)
    # a session of its own: no terminal of the test's can send the run a Ctrl-C of its own
    running = start_f0("run", packages / "slow.f0.zip", cwd=user.work, env=user.env(envs), start_new_session=True)
    try:
        eventually(lambda: (user.work / "started").exists(), "the step to start")
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=F0_TIMEOUT_S)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()

    assert running.returncode == 130, err
    assert err.count("interrupted: stopping running steps") == 1
    with framework0.history.open(user.store) as history:
        (run,) = history.list_runs()
        steps = history.steps(run.run_id)
    assert (run.status, run.package and run.package["entry"]) == ("cancelled", "slow.yaml")
    assert [(step.name, step.status) for step in steps] == [("wait", "cancelled")]
    assert user.left_behind() == []


# -- refused packages ------------------------------------------------------------------------------


def test_a_tampered_package_is_refused_before_anything_is_extracted_or_installed(
    tmp_path_factory: pytest.TempPathFactory, packages: Path, envs: Path
) -> None:
    user = new_user(tmp_path_factory)
    pkg = user.work / "pipeline.f0.zip"
    with zipfile.ZipFile(packages / "pipeline.f0.zip") as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data.replace(b"widget", b"wodget") if name == "pipeline_steps.py" else data)
    before = listing(envs)

    refused = f0("run", pkg, cwd=user.work, env=user.env(envs))

    assert one_line_error(refused) == (
        f"error: {pkg}: member 'pipeline_steps.py': its SHA-256 does not match the manifest: it was changed"
    )
    assert listing(envs) == before
    assert user.left_behind() == []
    assert sorted(path.name for path in user.work.iterdir()) == ["pipeline.f0.zip"]


def test_a_package_built_with_another_python_minor_is_refused(
    tmp_path_factory: pytest.TempPathFactory, packages: Path, envs: Path
) -> None:
    user = new_user(tmp_path_factory)
    other = f"{sys.version_info.major}.{sys.version_info.minor + 1}.0"
    pkg = rewritten(packages / "pipeline.f0.zip", user.work / "later.f0.zip", python=other)
    this = f"{sys.version_info.major}.{sys.version_info.minor}"

    refused = f0("run", pkg, cwd=user.work, env=user.env(envs))

    python = ".".join(map(str, sys.version_info[:3]))
    assert one_line_error(refused) == (
        f"error: {pkg}: built with Python {other}, this is Python {python}: run it with Python "
        f"{other.rsplit('.', 1)[0]}, or pack it again here with Python {this}"
    )
    assert user.left_behind() == []


# -- other environments ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of Framework0 (built from this checkout) and of what it needs, as installed here."""
    folder = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", folder, CHECKOUT], check=True, timeout=600)
    frozen = subprocess.run([*pip, "freeze", "--exclude-editable"], capture_output=True, text=True, check=True)
    constraints = folder.parent / "constraints.txt"
    constraints.write_text("".join(line + "\n" for line in frozen.stdout.splitlines() if " @ " not in line))
    (framework0_wheel,) = folder.glob("framework0-*.whl")
    subprocess.run([*pip, "wheel", "-q", "-c", constraints, "-w", folder, framework0_wheel], check=True, timeout=600)
    return folder


def test_a_package_with_wheels_installs_offline_from_them_alone(
    tmp_path_factory: pytest.TempPathFactory,
    packages: Path,
    envs: Path,
    wheels: Path,
    empty_index: tuple[str, list[str]],
) -> None:
    pinned = {wheel.name.split("-")[0]: (wheel.name.split("-")[1], wheel) for wheel in wheels.glob("*.whl")}
    pkg = packages / "offline.f0.zip"
    write_package(
        pkg,
        entry="data_pipeline.yaml",
        recipe="PIPE-001",
        files=[(name, packages / name, ()) for name in ("data_pipeline.yaml", "pipeline_steps.py")],
        requirements=[(name, version, ()) for name, (version, _) in pinned.items()],
        wheels={name: wheel for name, (_, wheel) in pinned.items()},
    )
    user = new_user(tmp_path_factory)
    url, asked = empty_index
    # no index (an unreachable one would be skipped: this one answers, and counts), no links, no pip configuration
    offline = {"PIP_INDEX_URL": url, "PIP_EXTRA_INDEX_URL": url, "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull}
    before = set(listing(envs))

    ran = f0("run", pkg, "-p", "files=1", cwd=user.work, env=user.env(envs, **offline))

    assert ran.returncode == 0, ran.stderr
    assert asked == []
    (built,) = set(listing(envs)) - before
    log = (envs / built / "framework0-pip.log").read_text()
    assert "--no-index" in log and "Looking in indexes" not in log
    assert "Successfully installed" in log and "framework0-0.1.0" in log
    with framework0.history.open(user.store) as history:
        (run,) = history.list_runs()
    assert run.package == {"path": str(pkg), "digest": verify_package(pkg).digest, "entry": "data_pipeline.yaml"}


def test_a_requirement_pip_cannot_install_is_refused_in_one_line_naming_it_and_its_log(
    tmp_path_factory: pytest.TempPathFactory, packages: Path, envs: Path, empty_index: tuple[str, list[str]]
) -> None:
    pkg = packages / "missing.f0.zip"
    write_package(
        pkg,
        entry="failing.yaml",
        recipe="FAIL-001",
        files=[("failing.yaml", packages / "failing.yaml", ())],
        requirements=[("framework0", "0.1.0", ()), ("f0-no-such-distribution", "1.0", ())],
    )
    user = new_user(tmp_path_factory)
    url, _ = empty_index
    before = set(listing(envs))

    refused = f0("run", pkg, cwd=user.work, env=user.env(envs, PIP_INDEX_URL=url, PIP_RETRIES="0"))

    (log,) = set(listing(envs)) - before
    assert log.endswith(".pip.log")
    assert refused.returncode == 2
    environment = envs / log.removesuffix(".pip.log")
    assert refused.stderr.splitlines() == [
        f"f0: building the environment of {pkg} in {environment} (once; later runs use it again)",
        f"error: {pkg}: pip could not install f0-no-such-distribution==1.0: No matching distribution found for "
        f"f0-no-such-distribution==1.0; pip's full log: {envs / log}",
    ]
    assert "No matching distribution found for f0-no-such-distribution==1.0" in (envs / log).read_text()
    assert user.left_behind() == []
