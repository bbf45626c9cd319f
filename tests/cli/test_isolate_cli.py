"""``f0 isolate``: pack a recipe into one archive, verify it, show what is inside and why."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from tests.helpers import invoke, one_line_error

import framework0
from framework0 import PackageRefused

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    """The data pipeline example, copied: its recipe and the module its steps name."""
    folder = tmp_path / "pipeline"
    folder.mkdir()
    for name in ("data_pipeline.yaml", "pipeline_steps.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder / "data_pipeline.yaml"


def members(package: Path) -> list[str]:
    with zipfile.ZipFile(package) as archive:
        return archive.namelist()


def test_f0_isolate_packs_the_recipe_its_module_and_a_manifest(pipeline: Path, tmp_path: Path) -> None:
    package = tmp_path / "pipeline.f0.zip"
    done = invoke("isolate", pipeline, "-o", package, cwd=pipeline.parent)
    assert done.returncode == 0, done.stderr
    assert members(package) == ["MANIFEST.json", "data_pipeline.yaml", "pipeline_steps.py"]
    assert done.stdout.startswith(f"wrote {package} (")
    assert "2 files" in done.stdout


def test_the_manifest_pins_framework0_and_hashes_every_file(pipeline: Path, tmp_path: Path) -> None:
    package = framework0.isolate(pipeline, tmp_path / "p.f0.zip")
    manifest = package.manifest
    assert manifest.entry == "data_pipeline.yaml"
    assert manifest.recipe == "PIPE-001"
    assert [(r.name, r.version) for r in manifest.requirements] == [("framework0", framework0.__version__)]
    sizes = {file.path: file.size for file in manifest.files}
    assert sizes == {name: (pipeline.parent / name).stat().st_size for name in sizes}


def test_f0_isolate_verify_accepts_a_package_as_written(pipeline: Path, tmp_path: Path) -> None:
    package = tmp_path / "p.tar.gz"
    framework0.isolate(pipeline, package)
    done = invoke("isolate", "verify", package)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{package}: ok (2 files, 1 requirement, digest ")


def test_f0_isolate_verify_refuses_a_changed_byte_in_one_line(pipeline: Path, tmp_path: Path) -> None:
    package = tmp_path / "p.f0.zip"
    framework0.isolate(pipeline, package)
    tampered = tmp_path / "tampered.f0.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "pipeline_steps.py":
                data = data.replace(b"PRODUCTS", b"PRODUCTZ", 1)
            target.writestr(info, data)
    line = one_line_error(invoke("isolate", "verify", tampered))
    assert line.startswith("error: ") and "pipeline_steps.py" in line
    with pytest.raises(PackageRefused):
        framework0.verify_package(tampered)


def test_two_packs_with_the_same_source_date_epoch_are_byte_identical(pipeline: Path, tmp_path: Path) -> None:
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    for name in ("a.f0.zip", "b.f0.zip"):
        assert invoke("isolate", pipeline, "-o", tmp_path / name, env=env).returncode == 0
    assert (tmp_path / "a.f0.zip").read_bytes() == (tmp_path / "b.f0.zip").read_bytes()


def test_explain_says_why_each_file_and_requirement_is_in(pipeline: Path, tmp_path: Path) -> None:
    done = invoke("isolate", pipeline, "-o", tmp_path / "p.zip", "--explain")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = lines.index(next(line for line in lines if line.strip().startswith("pipeline_steps.py")))
    assert lines[at + 1].strip().startswith("<- ") and "data_pipeline.yaml" in lines[at + 1]
    assert any(line.strip() == f"framework0=={framework0.__version__}" for line in lines)


def test_f0_isolate_show_lists_the_verified_contents(pipeline: Path, tmp_path: Path) -> None:
    package = tmp_path / "p.f0.zip"
    framework0.isolate(pipeline, package, add=[pipeline.parent / "pipeline_steps.py"])
    done = invoke("isolate", "show", package)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("recipe: data_pipeline.yaml (PIPE-001)\n")
    assert "--add" in done.stdout


def test_show_json_is_the_manifest(pipeline: Path, tmp_path: Path) -> None:
    package = framework0.isolate(pipeline, tmp_path / "p.f0.zip")
    done = invoke("isolate", "show", package.path, "--json")
    assert done.stdout.encode() == package.manifest.to_json()


def test_a_dynamic_import_is_a_warning_naming_its_line(tmp_path: Path) -> None:
    (tmp_path / "dyn.py").write_text(
        "import importlib\n\n\ndef go(name: str) -> str:\n    return importlib.import_module(name).__name__\n"
    )
    (tmp_path / "r.yaml").write_text("steps:\n  - name: a\n    module: dyn\n    function: go\n    args: {name: json}\n")
    done = invoke("isolate", "r.yaml", "-o", "p.zip", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [warning] = done.stderr.splitlines()
    assert warning.startswith("warning: ") and "dyn.py:5:" in warning and "--add" in warning


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["isolate", "r.yaml", "-o", "p.rar"], ".zip"),
        (["isolate", "r.yaml", "-o", "p.rar", "--wheels"], ".zip"),
        (["isolate", "r.yaml", "-o", "nowhere/p.zip", "--wheels"], "folder 'nowhere' does not exist"),
        (["isolate", "verify", "missing.f0.zip"], "missing.f0.zip"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "r.yaml").write_text("steps:\n  - name: a\n    uses: hello_world\n")
    line = one_line_error(invoke(*args, cwd=tmp_path))
    assert says in line
    assert not (tmp_path / "p.rar").exists()


def test_a_recipe_that_is_not_there_is_reported_where_it_was_looked_for(tmp_path: Path) -> None:
    done = invoke("isolate", "nowhere.yaml", "-o", "p.zip", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == "nowhere.yaml:1:1: no such file"
    assert not (tmp_path / "p.zip").exists()


def test_the_output_option_is_required(tmp_path: Path) -> None:
    done = invoke("isolate", "r.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "Missing option '-o' / '--output'" in done.stderr


def test_a_file_that_is_not_a_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.f0.zip").write_text("not a zip")
    line = one_line_error(invoke("isolate", "verify", "p.f0.zip", cwd=tmp_path))
    assert "p.f0.zip" in line
