"""``f0 explain RUN STEP`` says why a step ran, through the command line (in process): cleanup steps, steps after
a tolerated failure, and the sessions of a resumed run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import invoke

CLEANUP = """\
steps:
  - name: build
    uses: shell
    args: {cmd: "exit 3"}
  - name: cleanup
    uses: hello_world
    depends_on: [build]
    trigger: always
"""

CLEANUP_AFTER_SUCCESS = """\
steps:
  - name: build
    uses: hello_world
  - name: cleanup
    uses: hello_world
    depends_on: [build]
    trigger: always
"""

TOLERATED = """\
steps:
  - name: lint
    uses: shell
    args: {cmd: "exit 1"}
    continue_on_error: true
  - name: package
    uses: hello_world
    depends_on: [lint]
"""

# fails while the file 'broken' exists: the test removes it before resuming
FLAKY = """\
steps:
  - name: fetch
    uses: hello_world
  - name: load
    uses: shell
    args: {cmd: "test ! -f broken"}
    depends_on: [fetch]
"""


def run(folder: Path, recipe: str, *args: str) -> str:
    (folder / "recipe.yaml").write_text(recipe, encoding="utf-8")
    process = invoke("run", "recipe.yaml", "--json", "--store", store(folder), *args, cwd=folder)
    assert process.returncode in (0, 1), process.stderr
    run_id: str = json.loads(process.stdout)["run_id"]
    return run_id


def store(folder: Path) -> str:
    return f"sqlite:///{folder}/runs.db"


def explain(folder: Path, run_id: str, step: str) -> list[str]:
    process = invoke("explain", run_id, step, "--store", store(folder), cwd=folder)
    assert process.returncode == 0, process.stderr
    return process.stdout.splitlines()


def test_a_cleanup_step_after_a_failure_is_explained_by_its_trigger(tmp_path: Path) -> None:
    run_id = run(tmp_path, CLEANUP)

    assert explain(tmp_path, run_id, "cleanup") == [
        f"step 'cleanup' of run {run_id}: succeeded after 1 attempt",
        "ran: trigger: always (a cleanup step): it runs once its upstream steps are settled, "
        "whatever their outcome; here build failed",
    ]


def test_a_cleanup_step_after_a_success_is_still_explained_by_its_trigger(tmp_path: Path) -> None:
    run_id = run(tmp_path, CLEANUP_AFTER_SUCCESS)

    assert explain(tmp_path, run_id, "cleanup")[1] == (
        "ran: trigger: always (a cleanup step): it runs once its upstream steps are settled, "
        "whatever their outcome; here build succeeded"
    )


def test_a_step_without_upstream_steps_is_not_said_to_wait_for_them(tmp_path: Path) -> None:
    run_id = run(tmp_path, CLEANUP)

    assert explain(tmp_path, run_id, "build")[1:] == [
        "ran: it has no upstream steps and does not set cache: true, so it runs in every run"
    ]


def test_a_step_after_its_upstream_steps_succeeded_names_them(tmp_path: Path) -> None:
    (tmp_path / "broken").unlink(missing_ok=True)
    run_id = run(tmp_path, FLAKY)

    assert explain(tmp_path, run_id, "load")[1:] == [
        "ran: its upstream step fetch succeeded, and it does not set cache: true, so it runs whenever they succeed"
    ]


def test_a_step_after_a_tolerated_failure_names_continue_on_error(tmp_path: Path) -> None:
    run_id = run(tmp_path, TOLERATED)

    assert explain(tmp_path, run_id, "package")[1:] == [
        "ran: upstream step lint failed, but it sets continue_on_error: true, so the run went on as if it had passed"
    ]


def test_a_step_run_again_by_resume_names_the_session_it_failed_in(tmp_path: Path) -> None:
    (tmp_path / "broken").touch()
    run_id = run(tmp_path, FLAKY)
    (tmp_path / "broken").unlink()
    resumed = invoke("resume", run_id, "--store", store(tmp_path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    assert explain(tmp_path, run_id, "load") == [
        f"step 'load' of run {run_id}: succeeded after 2 attempts",
        "ran again in session 2 (f0 resume): it failed in session 1",
    ]


def test_a_step_kept_by_resume_says_it_did_not_run_again(tmp_path: Path) -> None:
    (tmp_path / "broken").touch()
    run_id = run(tmp_path, FLAKY)
    (tmp_path / "broken").unlink()
    resumed = invoke("resume", run_id, "--store", store(tmp_path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    assert explain(tmp_path, run_id, "fetch") == [
        f"step 'fetch' of run {run_id}: succeeded after 1 attempt",
        "ran: it has no upstream steps and does not set cache: true, so it runs in every run",
        "kept in session 2 (f0 resume): it succeeded in session 1, so its output and context changes were "
        "restored, not made again",
    ]


def test_a_step_that_failed_twice_names_the_session_of_its_last_failure(tmp_path: Path) -> None:
    (tmp_path / "broken").touch()
    run_id = run(tmp_path, FLAKY)
    again = invoke("resume", run_id, "--store", store(tmp_path), cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    (tmp_path / "broken").unlink()
    resumed = invoke("resume", run_id, "--store", store(tmp_path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    assert explain(tmp_path, run_id, "load")[1:] == ["ran again in session 3 (f0 resume): it failed in session 2"]
