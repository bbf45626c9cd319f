"""The closure of a recipe: its files, the local modules its steps import and the pinned
distributions behind the rest, each against a hand-written expected list."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from framework0.errors import PackageError, RecipeError
from framework0.isolation.closure import Closure, RequirementEntry, Unresolved, resolve_closure

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

RECIPE = """\
steps:
  - name: work
    module: steps
    function: work
"""
WORK = "\n\ndef work() -> int:\n    return 1\n"
F0 = RequirementEntry("framework0", version("framework0"), ("runs the recipe",))


@pytest.fixture(autouse=True)
def _fresh_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test in its own working directory; the modules its recipe imported (loading a recipe
    imports its steps' modules) are forgotten afterwards, so that the next test's ``steps`` is its own."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def project(folder: Path, steps: str, files: dict[str, str] | None = None) -> Path:
    """A recipe ``main.yaml`` in ``folder`` whose one step runs ``work`` of ``steps.py`` (``steps``)."""
    write(folder, {"main.yaml": RECIPE, "steps.py": textwrap.dedent(steps) + WORK, **(files or {})})
    return folder / "main.yaml"


def files_of(closure: Closure) -> list[tuple[str, tuple[str, ...]]]:
    return [(entry.path, entry.reasons) for entry in closure.files]


def pinned(name: str, *reasons: str) -> RequirementEntry:
    return RequirementEntry(name, version(name), reasons)


def required_by(name: str) -> str:
    return f"required by {name} {version(name)}"


def test_the_recipe_its_include_and_the_local_modules_it_imports_are_its_files(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    write(
        proj,
        {
            "main.yaml": """\
                include: [extra.yaml]
                steps:
                  - name: fetch
                    module: steps
                    function: fetch
                """,
            "extra.yaml": """\
                steps:
                  - name: hello
                    uses: hello_world
                """,
            "steps.py": """\
                from __future__ import annotations

                import json
                from pathlib import Path

                from shared import db


                def fetch(path: str = "x") -> str:
                    return json.dumps(db.connect(Path(path)))
                """,
            "shared/__init__.py": 'from .db import connect\n\n__all__ = ["connect"]\n',
            "shared/db.py": "import sqlite3\n\n\ndef connect(path):\n    return str(path)\n",
        },
    )
    closure = resolve_closure(proj / "main.yaml")
    assert (closure.root, closure.entry) == (proj, "main.yaml")
    assert files_of(closure) == [
        ("extra.yaml", ("included at main.yaml:1:11",)),
        ("main.yaml", ("the recipe",)),
        ("shared/__init__.py", ("imported at steps.py:6:1",)),
        ("shared/db.py", ("imported at steps.py:6:1", "imported at shared/__init__.py:1:1")),
        ("steps.py", ("module of step 'fetch' (main.yaml:4:13)",)),
    ]
    assert [entry.source for entry in closure.files] == [
        proj / "extra.yaml",
        proj / "main.yaml",
        proj / "shared/__init__.py",
        proj / "shared/db.py",
        proj / "steps.py",
    ]
    assert closure.unresolved == ()


def test_standard_library_imports_are_neither_files_nor_requirements(tmp_path: Path) -> None:
    recipe = project(tmp_path, "import csv\nimport json\nimport os.path\nfrom pathlib import Path\nimport sqlite3\n")
    closure = resolve_closure(recipe)
    assert files_of(closure) == [
        ("main.yaml", ("the recipe",)),
        ("steps.py", ("module of step 'work' (main.yaml:3:13)",)),
    ]
    assert closure.requirements == (F0,)
    assert closure.unresolved == ()


def test_framework0_is_pinned_at_its_installed_version_and_never_copied(tmp_path: Path) -> None:
    recipe = project(tmp_path, "from framework0 import Context, scriptlet\nimport framework0.errors\n")
    closure = resolve_closure(recipe)
    assert closure.requirements == (RequirementEntry("framework0", version("framework0"), ("runs the recipe",)),)
    assert [entry.path for entry in closure.files] == ["main.yaml", "steps.py"]


def test_a_third_party_import_is_pinned_under_its_distribution_name(tmp_path: Path) -> None:
    recipe = project(tmp_path, "import json\n\nimport yaml\n")
    closure = resolve_closure(recipe)
    assert closure.requirements == (F0, pinned("PyYAML", "import yaml at steps.py:3:1"))
    assert [entry.path for entry in closure.files] == ["main.yaml", "steps.py"]


def test_a_distributions_own_requirements_are_pinned_with_what_required_them(tmp_path: Path) -> None:
    recipe = project(tmp_path, "import httpx\n")
    closure = resolve_closure(recipe)
    assert closure.requirements == (
        pinned("anyio", required_by("httpx")),
        pinned("certifi", required_by("httpx"), required_by("httpcore")),
        F0,
        pinned("h11", required_by("httpcore")),
        pinned("httpcore", required_by("httpx")),
        pinned("httpx", "import httpx at steps.py:1:1"),
        pinned("idna", required_by("httpx"), required_by("anyio")),
        pinned("typing_extensions", required_by("anyio")),
    )


def test_a_dynamic_import_is_reported_at_its_file_line_and_column(tmp_path: Path) -> None:
    steps = "import importlib\n\n\ndef load(name: str) -> object:\n    return importlib.import_module(name)\n"
    closure = resolve_closure(project(tmp_path, steps))
    assert [str(item) for item in closure.unresolved] == [
        "steps.py:5:12: dynamic import importlib.import_module(name) cannot be followed; add what it imports with --add"
    ]
    assert closure.unresolved == (Unresolved("steps.py", 5, 12, closure.unresolved[0].text),)


def test_a_dynamic_import_of_a_constant_name_is_followed(tmp_path: Path) -> None:
    steps = "def load() -> object:\n    return __import__('shared.db')\n"
    recipe = project(tmp_path, steps, {"shared/__init__.py": "", "shared/db.py": "import yaml\n"})
    closure = resolve_closure(recipe)
    assert files_of(closure)[1:3] == [
        ("shared/__init__.py", ("imported at steps.py:2:12",)),
        ("shared/db.py", ("imported at steps.py:2:12",)),
    ]
    assert closure.requirements == (F0, pinned("PyYAML", "import yaml at shared/db.py:1:1"))


def test_an_optional_import_that_cannot_be_found_is_skipped(tmp_path: Path) -> None:
    steps = """\
        try:
            import no_such_module_here
        except ImportError:
            no_such_module_here = None
        """
    closure = resolve_closure(project(tmp_path, steps))
    assert closure.unresolved == ()
    assert [entry.path for entry in closure.files] == ["main.yaml", "steps.py"]


def test_an_import_for_type_checking_only_is_left_out(tmp_path: Path) -> None:
    steps = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import no_such_module_here\n"
    closure = resolve_closure(project(tmp_path, steps))
    assert closure.unresolved == ()


def test_a_module_found_nowhere_is_reported_where_it_is_imported(tmp_path: Path) -> None:
    steps = "def later() -> None:\n    import no_such_module_here\n"
    closure = resolve_closure(project(tmp_path, steps))
    assert [str(item) for item in closure.unresolved] == [
        "steps.py:2:5: cannot find module 'no_such_module_here' (not next to the recipe, nor installed here)"
    ]


def test_a_missing_submodule_of_a_local_package_is_reported(tmp_path: Path) -> None:
    steps = "def later() -> None:\n    import shared.gone\n"
    closure = resolve_closure(project(tmp_path, steps, {"shared/__init__.py": ""}))
    assert [(item.file, item.line, item.col) for item in closure.unresolved] == [("steps.py", 2, 5)]
    assert closure.unresolved[0].text.startswith("cannot find module 'shared.gone' (looked in ")


def test_a_local_module_that_cannot_be_parsed_is_reported(tmp_path: Path) -> None:
    steps = "def later() -> None:\n    import broken\n"
    closure = resolve_closure(project(tmp_path, steps, {"broken.py": "import json\ndef (:\n"}))
    assert [entry.path for entry in closure.files] == ["broken.py", "main.yaml", "steps.py"]
    assert [(item.file, item.line) for item in closure.unresolved] == [("broken.py", 2)]
    assert closure.unresolved[0].text.startswith("cannot read its imports: ")


def test_a_module_outside_the_search_path_and_every_distribution_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere", {"strayling.py": ""})
    sys.path.append(str(tmp_path / "elsewhere"))
    closure = resolve_closure(project(tmp_path / "proj", "def later() -> None:\n    import strayling\n"))
    where = tmp_path / "elsewhere" / "strayling.py"
    assert [str(item) for item in closure.unresolved] == [
        f"steps.py:2:5: module 'strayling' is at {where}, outside the recipe's search path"
        " and in no installed distribution"
    ]


def test_importing_a_submodule_takes_in_the_init_files_of_its_packages(tmp_path: Path) -> None:
    recipe = project(tmp_path, "import a.b.c\n", {"a/__init__.py": "", "a/b/__init__.py": "", "a/b/c.py": ""})
    closure = resolve_closure(recipe)
    assert files_of(closure)[:3] == [
        ("a/__init__.py", ("imported at steps.py:1:1",)),
        ("a/b/__init__.py", ("imported at steps.py:1:1",)),
        ("a/b/c.py", ("imported at steps.py:1:1",)),
    ]


def test_a_relative_import_beyond_the_top_level_package_is_reported(tmp_path: Path) -> None:
    recipe = project(tmp_path, "def later() -> None:\n    from .. import x\n")
    closure = resolve_closure(recipe)
    assert [str(item) for item in closure.unresolved] == ["steps.py:2:5: relative import beyond the top-level package"]


def test_an_include_outside_the_recipe_folder_moves_the_root_up(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    write(tmp_path, {"common.yaml": "defaults:\n  timeout: 5s\n"})
    write(proj, {"main.yaml": "include: [../common.yaml]\n" + RECIPE, "steps.py": WORK})
    closure = resolve_closure(proj / "main.yaml")
    assert (closure.root, closure.entry) == (tmp_path, "proj/main.yaml")
    assert files_of(closure) == [
        ("common.yaml", ("included at proj/main.yaml:1:11",)),
        ("proj/main.yaml", ("the recipe",)),
        ("proj/steps.py", ("module of step 'work' (proj/main.yaml:4:13)",)),
    ]


def test_a_module_found_in_the_working_directory_is_packed_next_to_the_recipe(tmp_path: Path) -> None:
    recipe = project(tmp_path / "proj", "import tools\n")
    write(tmp_path / "work", {"tools.py": "import json\n"})
    closure = resolve_closure(recipe)
    assert files_of(closure) == [
        ("main.yaml", ("the recipe",)),
        ("steps.py", ("module of step 'work' (main.yaml:3:13)",)),
        ("tools.py", ("imported at steps.py:1:1",)),
    ]
    assert closure.files[2].source == tmp_path / "work" / "tools.py"


def test_an_added_data_file_is_packed_at_its_place_under_the_root(tmp_path: Path) -> None:
    recipe = project(tmp_path / "proj", "")
    write(tmp_path, {"data/input.csv": "a,b\n1,2\n"})
    closure = resolve_closure(recipe, add=[tmp_path / "data" / "input.csv"])
    assert (closure.root, closure.entry) == (tmp_path, "proj/main.yaml")
    assert files_of(closure)[0] == ("data/input.csv", ("--add",))


def test_an_added_folder_adds_its_files_without_caches_or_version_control(tmp_path: Path) -> None:
    recipe = project(tmp_path, "")
    write(
        tmp_path,
        {
            "data/a.csv": "",
            "data/deep/b.json": "{}",
            "data/__pycache__/x.cpython-311.pyc": "",
            "data/.git/HEAD": "",
            "data/old.pyc": "",
        },
    )
    closure = resolve_closure(recipe, add=[str(tmp_path / "data")])
    assert files_of(closure)[:2] == [("data/a.csv", ("--add",)), ("data/deep/b.json", ("--add",))]
    assert [entry.path for entry in closure.files] == ["data/a.csv", "data/deep/b.json", "main.yaml", "steps.py"]


def test_an_added_module_next_to_the_recipe_is_read_for_its_imports(tmp_path: Path) -> None:
    recipe = project(tmp_path, "", {"plugins/extra.py": "import yaml\n"})
    closure = resolve_closure(recipe, add=[tmp_path / "plugins"])
    assert closure.requirements == (F0, pinned("PyYAML", "import yaml at plugins/extra.py:1:1"))


def test_an_added_path_that_does_not_exist_raises_package_error_naming_it(tmp_path: Path) -> None:
    recipe = project(tmp_path, "")
    with pytest.raises(PackageError, match=r"^cannot add '.*nothing\.csv': no such file or folder$"):
        resolve_closure(recipe, add=[tmp_path / "nothing.csv"])


def test_two_files_for_one_package_path_raise_package_error_naming_both(tmp_path: Path) -> None:
    # shared/ next to the recipe is no package (no __init__.py): the one in the working directory is
    # imported, and its db.py would land where the added shared/db.py goes.
    proj, work = tmp_path / "proj", tmp_path / "work"
    recipe = project(proj, "from shared import db\n", {"shared/db.py": "# not the one imported\n"})
    write(work, {"shared/__init__.py": "", "shared/db.py": ""})
    with pytest.raises(PackageError) as raised:
        resolve_closure(recipe, add=[proj / "shared" / "db.py"])
    message = f"two files would be packed as shared/db.py: {proj / 'shared/db.py'} and {work / 'shared/db.py'}"
    assert str(raised.value) == message


def test_two_files_whose_paths_differ_only_in_case_raise_package_error(tmp_path: Path) -> None:
    recipe = project(tmp_path, "")
    write(tmp_path, {"data/Notes.txt": "", "data/notes.txt": ""})
    with pytest.raises(PackageError, match=r"^data/Notes.txt \(.*\) and data/notes.txt \(.*\) differ only in case"):
        resolve_closure(recipe, add=[tmp_path / "data"])


def test_a_python_step_takes_in_the_module_of_the_function_it_calls(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.yaml": "steps:\n  - name: call\n    uses: python\n    args:\n      call: tasks:build\n",
            "tasks.py": "import yaml\n\n\ndef build() -> int:\n    return 1\n",
        },
    )
    closure = resolve_closure(tmp_path / "main.yaml")
    assert files_of(closure) == [
        ("main.yaml", ("the recipe",)),
        ("tasks.py", ("called by step 'call' (main.yaml:5:13)",)),
    ]
    assert closure.requirements == (F0, pinned("PyYAML", "import yaml at tasks.py:1:1"))


def test_an_invalid_recipe_raises_its_recipe_error(tmp_path: Path) -> None:
    write(tmp_path, {"main.yaml": "steps:\n  - name: x\n    uses: no_such_scriptlet\n"})
    with pytest.raises(RecipeError, match="unknown scriptlet 'no_such_scriptlet'"):
        resolve_closure(tmp_path / "main.yaml")


def test_the_closure_is_the_same_each_time(tmp_path: Path) -> None:
    recipe = project(tmp_path, "import httpx\nimport shared\n", {"shared/__init__.py": "import yaml\n"})
    assert resolve_closure(recipe) == resolve_closure(recipe)


EXPECTED_EXAMPLES = {
    "data_pipeline.yaml": [
        ("data_pipeline.yaml", ("the recipe",)),
        (
            "pipeline_steps.py",
            (
                "module of step 'generate' (data_pipeline.yaml:33:13)",
                "module of step 'list' (data_pipeline.yaml:44:13)",
                "module of step 'summarise' (data_pipeline.yaml:52:13)",
                "module of step 'aggregate' (data_pipeline.yaml:61:13)",
            ),
        ),
    ],
    "ops_runbook.yaml": [("ops_runbook.yaml", ("the recipe",))],
    "quickstart.yaml": [("quickstart.yaml", ("the recipe",))],
    "test_campaign.yaml": [("test_campaign.yaml", ("the recipe",))],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_an_example_recipe_has_its_expected_closure(name: str) -> None:
    closure = resolve_closure(EXAMPLES / name)
    assert (closure.root, closure.entry) == (EXAMPLES, name)
    assert files_of(closure) == EXPECTED_EXAMPLES[name]
    assert closure.requirements == (F0,)
    assert closure.unresolved == ()


def test_the_plugin_example_pins_the_plugins_distribution() -> None:
    pytest.importorskip("f0_example_plugin", reason="pip install -e examples/plugin")
    closure = resolve_closure(EXAMPLES / "plugin_recipe.yaml")
    assert files_of(closure) == [("plugin_recipe.yaml", ("the recipe",))]
    assert closure.requirements == (
        pinned(
            "f0-example-plugin",
            "plugin 'word_count' of step 'count_notes' (plugin_recipe.yaml:35:11)",
            "plugin 'word_count' of step 'count_motto' (plugin_recipe.yaml:43:11)",
        ),
        RequirementEntry("framework0", version("framework0"), ("runs the recipe", required_by("f0-example-plugin"))),
    )
