"""Config: every setting in one value, read from the environment only by Config.from_environ, and no
module below the composition root reading the environment itself."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from tests.helpers import invoke

import framework0
from framework0.config import DEFAULT_MAX_LOG_BYTES, ENVIRONMENT, Config, this_node
from framework0.errors import UsageError

PACKAGE = Path(framework0.__file__).resolve().parent


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    config = Config.from_environ({})
    assert config == Config()
    assert (config.store, config.durability, config.snapshot_every, config.max_log_bytes) == (
        "",
        "full",
        100,
        DEFAULT_MAX_LOG_BYTES,
    )
    assert config.source("store") == "default"


def test_each_variable_sets_its_field_and_says_where_it_came_from() -> None:
    environ = {
        "F0_STORE": "sqlite:///runs.db",
        "F0_STORE_DURABILITY": "FAST",
        "F0_SNAPSHOT_EVERY": "7",
        "F0_CONTEXT_SERVER": "http://127.0.0.1:8765",
        "F0_CONTEXT_SERVER_RETRY": "2.5",
        "F0_MAX_LOG_BYTES": "1_000",
        "F0_MAX_RECIPE_BYTES": "2048",
        "F0_DASK_SCHEDULER": "tcp://10.0.0.5:8786",
        "F0_RECIPE_CACHE": "/var/cache/f0",
        "F0_PACKAGE_ENVS": "/var/cache/f0-envs",
        "F0_PACKAGE": '{"path": "/p/etl.f0.zip", "digest": "abc", "entry": "etl.yaml"}',
    }
    config = Config.from_environ(environ)
    assert config == Config(
        store="sqlite:///runs.db",
        durability="fast",
        snapshot_every=7,
        context_server="http://127.0.0.1:8765",
        context_server_retry_s=2.5,
        max_log_bytes=1000,
        max_recipe_bytes=2048,
        dask_scheduler="tcp://10.0.0.5:8786",
        recipe_cache="/var/cache/f0",
        package_envs="/var/cache/f0-envs",
        package={"path": "/p/etl.f0.zip", "digest": "abc", "entry": "etl.yaml"},
    )
    assert {config.source(field) for field in ENVIRONMENT.values()} == set(ENVIRONMENT)


@pytest.mark.parametrize("value", ["off", "none", "0", "OFF"])
def test_f0_recipe_cache_off_reads_every_recipe_from_its_text(value: str) -> None:
    assert Config.from_environ({"F0_RECIPE_CACHE": value}).recipe_cache_folder() is None


def test_compiled_recipes_go_to_the_users_cache_folder_by_default(tmp_path: Path) -> None:
    assert Config().recipe_cache_folder() == os.path.join(os.path.expanduser("~"), ".cache", "framework0", "recipes")
    xdg = Config.from_environ({"XDG_CACHE_HOME": str(tmp_path)})
    assert xdg.recipe_cache_folder() == os.path.join(str(tmp_path), "framework0", "recipes")


def test_package_environments_go_to_the_users_cache_folder_by_default(tmp_path: Path) -> None:
    assert Config().package_envs_folder() == os.path.join(os.path.expanduser("~"), ".cache", "framework0", "envs")
    xdg = Config.from_environ({"XDG_CACHE_HOME": str(tmp_path)})
    assert xdg.package_envs_folder() == os.path.join(str(tmp_path), "framework0", "envs")
    assert Config.from_environ({"F0_PACKAGE_ENVS": "/e", "XDG_CACHE_HOME": str(tmp_path)}).package_envs_folder() == "/e"


@pytest.mark.parametrize(
    "value",
    ["not json", "[1]", '{"path": "/p.zip", "digest": "d"}', '{"path": "/p.zip", "digest": "d", "entry": 3}'],
)
def test_a_malformed_f0_package_is_refused_naming_what_sets_it(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        Config.from_environ({"F0_PACKAGE": value})
    assert str(caught.value) == (
        f"F0_PACKAGE={value!r}: f0 run PKG sets it for the run it starts, as a JSON object of "
        '"path", "digest" and "entry"; unset it'
    )


def test_f0_store_none_keeps_runs_in_memory() -> None:
    assert Config.from_environ({"F0_STORE": "none"}).store is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("F0_STORE_DURABILITY", "sometimes", "F0_STORE_DURABILITY='sometimes': use full (the default) or fast"),
        ("F0_SNAPSHOT_EVERY", "0", "F0_SNAPSHOT_EVERY='0': give a whole number of versions, 1 or more (default 100)"),
        (
            "F0_CONTEXT_SERVER_RETRY",
            "soon",
            "F0_CONTEXT_SERVER_RETRY='soon': give the seconds to retry an unreachable server",
        ),
        (
            "F0_MAX_LOG_BYTES",
            "lots",
            f"F0_MAX_LOG_BYTES='lots': give a whole number of bytes (default {DEFAULT_MAX_LOG_BYTES})",
        ),
        ("F0_MAX_RECIPE_BYTES", "-1", "F0_MAX_RECIPE_BYTES='-1': give a whole number of bytes (default 10485760)"),
    ],
)
def test_a_malformed_variable_is_a_one_line_usage_error_naming_it(name: str, value: str, message: str) -> None:
    with pytest.raises(UsageError) as error:
        Config.from_environ({name: value})
    assert str(error.value) == message


def test_replace_records_the_source_of_a_flag_and_leaves_the_original_alone() -> None:
    config = Config.from_environ({"F0_STORE": "sqlite:///env.db"})
    flagged = config.replace(store=("sqlite:///flag.db", "--store"), max_parallel=3)
    assert (flagged.store, flagged.source("store"), flagged.max_parallel) == ("sqlite:///flag.db", "--store", 3)
    assert (config.store, config.source("store")) == ("sqlite:///env.db", "F0_STORE")
    with pytest.raises(AttributeError):
        config.store = "x"  # type: ignore[misc]


def test_describe_lists_every_setting_with_its_source() -> None:
    rows = Config.from_environ({"F0_SNAPSHOT_EVERY": "5"}).describe()
    assert ("snapshot_every", 5, "F0_SNAPSHOT_EVERY") in rows
    assert ("store", "", "default") in rows
    assert "sources" not in {name for name, _, _ in rows}


# -- who reads the environment ---------------------------------------------------------------------

PURE_LAYERS = ("engine", "store", "recipe", "context", "scriptlets", "graph", "events")
# A step's child process inherits the environment plus what the step adds: that is the child's
# environment, not a setting of Framework0.
PASSES_THE_ENVIRONMENT_ON = {"scriptlets/builtin/shell.py"}


def environment_reads(path: Path) -> list[int]:
    """Lines of ``path`` that touch ``os.environ`` or call ``os.getenv``/``getenv``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ("environ", "getenv") for alias in node.names):
                lines.append(node.lineno)
    return lines


def test_no_module_below_the_composition_root_reads_the_environment() -> None:
    found = {
        f"{path.relative_to(PACKAGE)}:{line}"
        for layer in PURE_LAYERS
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in PASSES_THE_ENVIRONMENT_ON
        for line in environment_reads(path)
    }
    assert found == set(), "read settings through framework0.config.Config instead"


def test_the_environment_check_sees_a_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom os import getenv\nvalue = os.environ.get('X')\n")
    assert environment_reads(sample) == [2, 3]


def test_this_node_is_f0_node_else_the_host_name() -> None:
    assert this_node({"F0_NODE": "builder-1"}) == "builder-1"
    assert this_node({}) not in ("", "builder-1")


@pytest.mark.parametrize("command", [["validate"], ["graph"], ["run"]])
def test_f0_max_recipe_bytes_reaches_every_command_that_loads_a_recipe(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: hello, uses: hello_world}\n")
    shown = invoke(*command, "r.yaml", cwd=tmp_path, env={"F0_MAX_RECIPE_BYTES": "10"})
    assert shown.returncode == 2
    assert "the limit is 10 bytes (set F0_MAX_RECIPE_BYTES to raise it)" in shown.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["runs", "list", "--store", "none"], {}, "--store none keeps runs in memory only"),
        (["logs", "abcd"], {"F0_STORE": "none"}, "F0_STORE=none keeps runs in memory only"),
    ],
)
def test_a_reading_command_told_to_keep_no_store_says_there_is_nothing_to_read(
    tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    shown = invoke(*args, cwd=tmp_path, env=env)
    assert shown.returncode == 2
    assert shown.stderr.startswith(f"error: {said}: there is no store to read; pass --store URL")
    assert not (tmp_path / ".framework0").exists()
