"""Running a package, the parts that need no virtual environment: what this host refuses, what an
environment is keyed by, building one (two at once, a failure), what pip's failures say, and what
the run is given. The runs themselves, in real environments, are in tests/cli/test_run_package_cli.py."""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

import framework0
from framework0.errors import PackageError, PackageRefused
from framework0.isolation import archive
from framework0.isolation.environments import (
    MARKER,
    PIP_LOG,
    Contents,
    Environment,
    ensure_environment,
    environment_contents,
    extra_pins,
    pip_problem,
)
from framework0.isolation.launch import check_host, child_environment, run_package
from framework0.isolation.manifest import Manifest, ManifestFile, ManifestRequirement
from framework0.isolation.suffixes import PACKAGE_SUFFIXES, is_package

SHA = "a" * 64


def manifest(
    requirements: list[ManifestRequirement], *, python: str | None = None, framework0_version: str | None = None
) -> Manifest:
    return Manifest.build(
        entry="recipe.yaml",
        recipe="etl",
        files=[ManifestFile("recipe.yaml", SHA, 10)],
        requirements=requirements,
        python=python or platform.python_version(),
        platform="linux-x86_64",
        framework0=framework0_version or framework0.__version__,
        created=1_700_000_000,
    )


def minor_after(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}.0"


# -- what this host refuses ------------------------------------------------------------------------


def test_a_package_built_with_another_python_minor_is_refused_naming_both() -> None:
    other = minor_after(platform.python_version())
    with pytest.raises(PackageError) as caught:
        check_host(manifest([], python=other), "etl.f0.zip")
    this = ".".join(platform.python_version().split(".")[:2])
    assert str(caught.value) == (
        f"etl.f0.zip: built with Python {other}, this is Python {platform.python_version()}: run it with "
        f"Python {other.rsplit('.', 1)[0]}, or pack it again here with Python {this}"
    )


def test_a_package_built_with_another_framework0_minor_is_refused_naming_both() -> None:
    with pytest.raises(PackageError) as caught:
        check_host(manifest([], framework0_version="0.9.1"), "etl.f0.zip", framework0="0.1.0")
    assert str(caught.value) == (
        "etl.f0.zip: built with Framework0 0.9.1, this is Framework0 0.1.0: run it with Framework0 0.9, "
        "or pack it again with this one"
    )


def test_a_package_built_with_another_patch_release_is_accepted() -> None:
    check_host(manifest([], python="3.11.0", framework0_version="0.1.7"), "p", python="3.11.9", framework0="0.1.0")


def test_a_tampered_package_is_refused_before_anything_is_extracted_or_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "recipe.yaml").write_text("steps:\n  - {name: hi, uses: hello_world}\n")
    pkg = tmp_path / "etl.f0.zip"
    framework0.isolate(tmp_path / "recipe.yaml", pkg)
    with zipfile.ZipFile(pkg) as archive_file:
        members = [(name, archive_file.read(name)) for name in archive_file.namelist()]
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as archive_file:
        for name, data in members:
            archive_file.writestr(name, data.replace(b"hello_world", b"hello_worle"))
    staging_parent = tmp_path / "tmp"
    staging_parent.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(staging_parent))

    with pytest.raises(PackageRefused) as caught:
        run_package(pkg, [], store="none", envs=tmp_path / "envs", environ={}, notes=io.StringIO())

    assert str(caught.value).startswith(f"{pkg}: member 'recipe.yaml': ")
    assert list(staging_parent.iterdir()) == []
    assert not (tmp_path / "envs").exists()


def test_the_suffixes_f0_run_takes_for_a_package_are_those_f0_isolate_writes() -> None:
    assert set(PACKAGE_SUFFIXES) == set(archive.SUFFIXES)
    assert is_package("etl.F0.ZIP") and is_package("etl.tgz") and is_package(Path("etl.tar.gz"))
    assert not is_package("etl.yaml") and not is_package("zip.yaml")


# -- what an environment is keyed by ---------------------------------------------------------------


def test_an_environment_is_keyed_by_its_requirements_not_by_the_recipe() -> None:
    pinned = [ManifestRequirement("framework0", "0.1.0"), ManifestRequirement("PyYAML", "6.0.1")]
    other_recipe = Manifest.build(
        entry="other.yaml",
        recipe=None,
        files=[ManifestFile("other.yaml", "b" * 64, 20)],
        requirements=pinned,
        python=platform.python_version(),
        platform="linux-x86_64",
        framework0=framework0.__version__,
        created=1,
    )
    key = environment_contents(manifest(pinned)).key

    assert environment_contents(other_recipe).key == key
    assert environment_contents(manifest([*pinned, ManifestRequirement("rich", "13.7.1")])).key != key


def test_a_wheels_hash_is_part_of_the_key_and_its_framework0_wheel_replaces_this_hosts() -> None:
    def with_wheels(sha: str) -> Contents:
        return environment_contents(
            manifest(
                [
                    ManifestRequirement("framework0", "0.1.0", (), "wheels/framework0-0.1.0-py3-none-any.whl", sha),
                    ManifestRequirement("PyYAML", "6.0.1", (), "wheels/PyYAML-6.0.1-py3-none-any.whl", SHA),
                ]
            )
        )

    contents = with_wheels(SHA)
    assert contents.offline
    assert (contents.framework0.kind, contents.constraints, contents.pins) == ("package", (), ())
    assert contents.wheels == (("framework0", "0.1.0", SHA), ("PyYAML", "6.0.1", SHA))
    assert with_wheels("c" * 64).key != contents.key


def test_without_its_wheel_framework0_comes_from_this_host_with_its_dependencies_pinned_as_here() -> None:
    import importlib.metadata

    contents = environment_contents(manifest([ManifestRequirement("framework0", "0.1.0")]))

    assert not contents.offline
    assert contents.framework0.version == importlib.metadata.version("framework0")
    assert f"click=={importlib.metadata.version('click')}" in contents.constraints
    direct = json.loads(importlib.metadata.distribution("framework0").read_text("direct_url.json") or "{}")
    if "dir_info" in direct:  # this checkout, installed from its folder (make install: editable)
        assert contents.framework0.kind == "folder"
        assert Path(contents.framework0.folder or "") == Path(__file__).resolve().parents[2]


def test_a_requirement_the_package_pins_is_not_constrained_to_this_hosts_version() -> None:
    contents = environment_contents(
        manifest([ManifestRequirement("framework0", "0.1.0"), ManifestRequirement("click", "8.1.0")])
    )
    assert contents.pins == ("click==8.1.0",)
    assert not [pin for pin in contents.constraints if pin.lower().startswith("click==")]


# -- building one ----------------------------------------------------------------------------------


def contents_of(tag: str) -> Contents:
    return environment_contents(manifest([ManifestRequirement("framework0", "0.1.0"), ManifestRequirement(tag, "1")]))


def fake_environment(folder: Path) -> None:
    """What a build leaves for these tests: a Python and a script that names the folder it was built in."""
    scripts = folder / ("Scripts" if os.name == "nt" else "bin")
    scripts.mkdir()
    (scripts / ("python.exe" if os.name == "nt" else "python")).write_text("")
    (scripts / "tool").write_text(f"#!{scripts / 'python'}\nimport tool\n")
    (folder / "pyvenv.cfg").write_text(f"command = python -m venv {folder}\n")


def ensure(contents: Contents, envs: Path, build: object, notes: io.StringIO | None = None) -> Environment:
    return ensure_environment(
        contents,
        envs,
        wheels=envs / "no-wheels",
        environ={},
        notes=notes or io.StringIO(),
        label="etl.f0.zip",
        build=build,  # type: ignore[arg-type]
    )


def test_an_environment_is_built_once_then_found(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(folder: Path, contents: Contents, wheels: Path, environ: Mapping[str, str]) -> None:
        builds.append(folder)
        fake_environment(folder)

    notes = io.StringIO()
    first = ensure(contents_of("one"), tmp_path, build, notes)
    again = ensure(contents_of("one"), tmp_path, build)

    assert (first.built, again.built, again.path) == (True, False, first.path)
    assert len(builds) == 1 and builds[0].parent == tmp_path and builds[0] != first.path
    assert json.loads((first.path / MARKER).read_text())["contents"] == json.loads(contents_of("one").to_json())
    assert notes.getvalue().startswith(f"f0: building the environment of etl.f0.zip in {first.path} (once;")
    assert sorted(path.name for path in tmp_path.iterdir()) == [first.path.name]


def test_a_built_environments_scripts_name_its_final_folder(tmp_path: Path) -> None:
    environment = ensure(contents_of("one"), tmp_path, lambda folder, *_: fake_environment(folder))

    scripts = environment.python.parent
    assert (scripts / "tool").read_text() == f"#!{scripts / 'python'}\nimport tool\n"
    assert (environment.path / "pyvenv.cfg").read_text() == f"command = python -m venv {environment.path}\n"


def test_two_builds_of_one_environment_at_once_both_end_with_the_one_renamed_first(tmp_path: Path) -> None:
    both_building = threading.Barrier(2, timeout=30)

    def build(folder: Path, contents: Contents, wheels: Path, environ: Mapping[str, str]) -> None:
        fake_environment(folder)
        (folder / "built-by").write_text(threading.current_thread().name)
        both_building.wait()  # neither has renamed its copy yet

    results: dict[str, Environment] = {}

    def run(name: str) -> None:
        results[name] = ensure(contents_of("one"), tmp_path, build)

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result.built for result in results.values()) == [False, True]
    winner = next(name for name, result in results.items() if result.built)
    assert {result.path for result in results.values()} == {results[winner].path}
    assert (results[winner].path / "built-by").read_text() == winner
    assert sorted(path.name for path in tmp_path.iterdir()) == [results[winner].path.name]  # the loser's copy went


def test_a_failed_build_leaves_no_environment_and_keeps_pips_log_beside_them(tmp_path: Path) -> None:
    def build(folder: Path, contents: Contents, wheels: Path, environ: Mapping[str, str]) -> None:
        (folder / PIP_LOG).write_text("ERROR: No matching distribution found for nope==1\n")
        raise PackageError("pip could not install nope==1: No matching distribution found for nope==1")

    contents = contents_of("one")
    with pytest.raises(PackageError) as caught:
        ensure(contents, tmp_path, build)

    log = tmp_path / f"{contents.key}.pip.log"
    assert str(caught.value) == (
        f"etl.f0.zip: pip could not install nope==1: No matching distribution found for nope==1; pip's full log: {log}"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == [log.name]
    assert log.read_text() == "ERROR: No matching distribution found for nope==1\n"


def test_a_folder_under_an_environments_name_without_its_marker_is_refused(tmp_path: Path) -> None:
    contents = contents_of("one")
    (tmp_path / contents.key).mkdir()
    with pytest.raises(PackageError) as caught:
        ensure(contents, tmp_path, lambda folder, *_: fake_environment(folder))
    assert (
        str(caught.value)
        == f"{tmp_path / contents.key}: not a complete environment (no {MARKER}); remove it and run again"
    )


def test_pip_failing_to_find_a_requirement_is_said_naming_it(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no index nor links from this machine's pip configuration
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-cache-dir"]
        + ["--disable-pip-version-check", "f0-no-such-distribution==1.0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert pip.returncode != 0
    assert pip_problem(pip.stdout + pip.stderr) == (
        "pip could not install f0-no-such-distribution==1.0: "
        "No matching distribution found for f0-no-such-distribution==1.0"
    )


def test_a_build_dependency_pip_cannot_find_is_named_from_the_inner_pips_output() -> None:
    log = (
        "  error: subprocess-exited-with-error\n\n"
        "  × pip subprocess to install build dependencies did not run successfully.\n"
        "  │ exit code: 1\n"
        "  ╰─> [2 lines of output]\n"
        "      ERROR: Could not find a version that satisfies the requirement hatchling>=1.21 (from versions: none)\n"
        "      ERROR: No matching distribution found for hatchling>=1.21\n"
        "      [end of output]\n\n"
        "  note: This error originates from a subprocess, and is likely not a problem with pip.\n"
    )
    assert pip_problem(log) == (
        "pip could not install hatchling>=1.21: No matching distribution found for hatchling>=1.21"
    )


def test_pip_output_naming_no_requirement_is_said_by_its_first_error() -> None:
    assert pip_problem(
        "Collecting x\nERROR: Could not install packages due to an OSError: [Errno 28] No space left\n"
    ) == ("pip failed: Could not install packages due to an OSError: [Errno 28] No space left")


# -- what the run is given -------------------------------------------------------------------------


def test_the_run_gets_the_store_its_package_and_the_environment_first_on_path(tmp_path: Path) -> None:
    environment = Environment(tmp_path / "env", tmp_path / "env" / "bin" / "python", built=False)
    record = {"path": "/p/etl.f0.zip", "digest": SHA, "entry": "etl.yaml"}
    environ = {"PATH": "/usr/bin", "PYTHONHOME": "/elsewhere", "F0_STORE": "sqlite:///runs.db", "HOME": "/home/u"}

    child = child_environment(environ, store="sqlite:////work/runs.db", record=record, environment=environment)

    assert child == {
        "PATH": f"{tmp_path / 'env' / 'bin'}{os.pathsep}/usr/bin",
        "HOME": "/home/u",
        "F0_STORE": "sqlite:////work/runs.db",
        "F0_PACKAGE": json.dumps(record, sort_keys=True),
        "F0_RECIPE_CACHE": "off",
        "VIRTUAL_ENV": str(tmp_path / "env"),
    }
    assert framework0.Config.from_environ(child).package == record


def test_a_run_needing_a_framework0_extra_gets_it_pinned_to_the_version_installed_here() -> None:
    import importlib.metadata

    assert extra_pins(["postgresql"]) == (f"psycopg[binary]=={importlib.metadata.version('psycopg')}",)
    assert extra_pins(["dask"]) == (f"distributed=={importlib.metadata.version('distributed')}",)
    assert extra_pins([]) == ()


def test_the_environment_of_a_run_needing_an_extra_is_another_one() -> None:
    package = manifest([ManifestRequirement("framework0", framework0.__version__)])
    plain, with_postgresql = environment_contents(package), environment_contents(package, extras=["postgresql"])
    assert plain.key != with_postgresql.key
    assert [pin for pin in with_postgresql.pins if pin not in plain.pins] == list(extra_pins(["postgresql"]))
