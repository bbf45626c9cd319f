"""``f0 isolate RECIPE -o PKG --wheels``: the package carries the wheels of its requirements, says so,
shows each wheel and its size, signs like any other; pip's failures are one line naming the
requirement and the log that keeps pip's output.

Real pip: the data pipeline example is packed once (signed) for the module."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from tests.helpers import invoke, one_line_error

import framework0

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRAMEWORK0_WHEEL = f"wheels/framework0-{framework0.__version__}-py3-none-any.whl"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """The data pipeline example packed with --wheels --sign --explain: the package, the public key,
    and what the pack printed."""
    folder = tmp_path_factory.mktemp("wheels-cli")
    for name in ("data_pipeline.yaml", "pipeline_steps.py"):
        shutil.copy2(EXAMPLES / name, folder / name)
    assert invoke("isolate", "keygen", "-o", folder / "team").returncode == 0
    package = folder / "pipeline.f0.zip"
    args = ("isolate", "data_pipeline.yaml", "-o", package, "--wheels", "--sign", "team.key", "--explain")
    done = invoke(*args, cwd=folder)
    assert done.returncode == 0, done.stderr
    return package, folder / "team.pub", done.stdout.splitlines()


def requirement_lines(lines: list[str]) -> list[str]:
    return lines[lines.index(next(line for line in lines if line.startswith("requirements ("))) :]


def test_pack_with_wheels_says_how_many_wheels_it_holds(signed: tuple[Path, Path, list[str]]) -> None:
    package, _, lines = signed
    count = framework0.verify_package(package).requirements
    assert re.fullmatch(
        rf"wrote {re.escape(str(package))} \(\d+\.\d MiB\): 2 files, {len(count)} requirements, "
        rf"{len(count)} wheels, digest [0-9a-f]{{16}}, signed by [0-9a-f]+",
        lines[-1],
    ), lines[-1]


def test_explain_names_each_requirement_with_its_wheel_and_size(signed: tuple[Path, Path, list[str]]) -> None:
    _, _, lines = signed
    [line] = [line for line in lines if line.startswith(f"  framework0=={framework0.__version__}  ")]
    assert re.fullmatch(rf"  framework0==\S+  {re.escape(FRAMEWORK0_WHEEL)}  \d+\.\d KiB  sha256:[0-9a-f]{{12}}", line)
    wheel_lines = [line for line in requirement_lines(lines) if line.startswith("  ") and "==" in line]
    assert wheel_lines and all(" wheels/" in line and "iB  sha256:" in line for line in wheel_lines)


def test_a_signed_package_with_wheels_verifies_with_its_key(signed: tuple[Path, Path, list[str]]) -> None:
    package, public, _ = signed
    done = invoke("isolate", "verify", package, "--key", public)
    assert done.returncode == 0, done.stderr
    assert " wheels, digest " in done.stdout and ", signed by " in done.stdout


def test_show_lists_each_wheel_as_the_pack_explained_it(signed: tuple[Path, Path, list[str]]) -> None:
    package, _, lines = signed
    done = invoke("isolate", "show", package)
    assert done.returncode == 0, done.stderr
    shown = done.stdout.splitlines()
    assert requirement_lines(shown) == requirement_lines(lines[:-1])  # the pack's last line: "wrote ..."
    assert "signature: ed25519, signed by " in done.stdout


def local_distribution(tmp_path: Path, *, name: str, installed: str, backend: str) -> Path:
    """A distribution "installed" in ``tmp_path/site`` from the folder ``tmp_path/source`` (as
    ``pip install -e`` records it) at version ``installed``, whose folder builds with ``backend``
    (the code of a PEP 517 backend), and ``tmp_path/recipe/r.yaml``, whose step imports it. Returns
    the folder; put the site on ``sys.path``."""
    site, source = tmp_path / "site", tmp_path / "source"
    dist_info = site / f"{name.replace('-', '_')}-{installed}.dist-info"
    dist_info.mkdir(parents=True)
    module = name.replace("-", "_") + "_mod"
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {installed}\n")
    (dist_info / "top_level.txt").write_text(f"{module}\n")
    (dist_info / "direct_url.json").write_text(f'{{"url": "{source.as_uri()}", "dir_info": {{"editable": true}}}}')
    (site / f"{module}.py").write_text("def go() -> int:\n    return 1\n")
    source.mkdir()
    (source / "pyproject.toml").write_text(
        f'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        f'[project]\nname = "{name}"\nversion = "{installed}"\n'
    )
    (source / "backend.py").write_text(textwrap.dedent(backend))
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "tasks.py").write_text(f"import {module}\n\n\ndef step() -> int:\n    return {module}.go()\n")
    (recipe / "r.yaml").write_text("steps:\n  - name: a\n    module: tasks\n    function: step\n")
    return source


#: reads its metadata, then fails to build (as a compiler error would)
FAILING_BACKEND = """
    import os

    def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
        os.mkdir(os.path.join(metadata_directory, "broken_dist-0.1.dist-info"))
        with open(os.path.join(metadata_directory, "broken_dist-0.1.dist-info", "METADATA"), "w") as metadata:
            metadata.write("Metadata-Version: 2.1\\nName: broken-dist\\nVersion: 0.1\\n")
        return "broken_dist-0.1.dist-info"

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        raise RuntimeError("the compiler failed on purpose")
"""

#: builds a wheel of version 0.2 (its folder was edited after it was installed as 0.1)
DRIFTED_BACKEND = """
    import os
    import zipfile

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        name = "drifted_dist-0.2-py3-none-any.whl"
        with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
            info = "drifted_dist-0.2.dist-info/"
            wheel.writestr(info + "METADATA", "Metadata-Version: 2.1\\nName: drifted-dist\\nVersion: 0.2\\n")
            wheel.writestr(info + "WHEEL", "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
            wheel.writestr(info + "RECORD", "")
        return name
"""


def test_a_requirement_that_cannot_be_built_is_one_line_naming_it_and_pips_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = local_distribution(tmp_path, name="broken-dist", installed="0.1", backend=FAILING_BACKEND)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    line = one_line_error(invoke("isolate", "r.yaml", "-o", "p.f0.zip", "--wheels", cwd=tmp_path / "recipe"))
    prefix = (
        f"error: cannot pack wheels: pip could not build a wheel of broken-dist 0.1 from {source}: "
        "Building wheel for broken-dist (pyproject.toml) did not run successfully; pip's output: "
    )
    assert line.startswith(prefix), line
    log = Path(line.removeprefix(prefix))
    try:
        assert "RuntimeError: the compiler failed on purpose" in log.read_text()
    finally:
        log.unlink()
    assert not (tmp_path / "recipe" / "p.f0.zip").exists()


def test_a_folder_whose_version_moved_on_since_it_was_installed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = local_distribution(tmp_path, name="drifted-dist", installed="0.1", backend=DRIFTED_BACKEND)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    line = one_line_error(invoke("isolate", "r.yaml", "-o", "p.f0.zip", "--wheels", cwd=tmp_path / "recipe"))
    assert line == (
        f"error: drifted-dist in {source} is now version 0.2, but 0.1 is installed here: "
        "install it again (pip install -e FOLDER) and pack again"
    )


def test_no_reachable_index_is_one_line_saying_how_to_pack_again(tmp_path: Path) -> None:
    shutil.copy2(EXAMPLES / "quickstart.yaml", tmp_path / "quickstart.yaml")
    (tmp_path / "no-wheels").mkdir()
    offline = {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_FIND_LINKS": str(tmp_path / "no-wheels"),
        "PIP_RETRIES": "1",
    }
    line = one_line_error(invoke("isolate", "quickstart.yaml", "-o", "q.f0.zip", "--wheels", cwd=tmp_path, env=offline))
    assert line.startswith("error: cannot pack wheels: no package index could be reached for "), line
    assert "PIP_INDEX_URL" in line and "pack again" in line
    log = Path(line.rpartition("pip's output: ")[2])
    try:
        assert "127.0.0.1" in log.read_text()
    finally:
        log.unlink()
