"""Every setting of Framework0 in one typed, immutable value, read from the environment only here.

The edges (the command line, ``framework0.run`` called without a ``config``, a worker process
starting) build a ``Config`` with ``Config.from_environ(os.environ)`` and override it with flags
(``config.replace(store=...)``); everything below them takes the values it needs as arguments.

>>> config = Config.from_environ({"F0_STORE": "sqlite:///runs.db", "F0_SNAPSHOT_EVERY": "10"})
>>> config.store, config.snapshot_every, config.durability
('sqlite:///runs.db', 10, 'full')
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from framework0.errors import UsageError

Durability = Literal["full", "fast"]

DEFAULT_SNAPSHOT_EVERY = 100
DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_RECIPE_BYTES = 10 * 1024 * 1024
DEFAULT_CONTEXT_SERVER_RETRY_S = 30.0
DEFAULT_GRACE_S = 2.0

ENVIRONMENT: dict[str, str] = {
    "F0_STORE": "store",
    "F0_STORE_DURABILITY": "durability",
    "F0_SNAPSHOT_EVERY": "snapshot_every",
    "F0_CONTEXT_SERVER": "context_server",
    "F0_CONTEXT_SERVER_RETRY": "context_server_retry_s",
    "F0_MAX_LOG_BYTES": "max_log_bytes",
    "F0_MAX_RECIPE_BYTES": "max_recipe_bytes",
    "F0_DASK_SCHEDULER": "dask_scheduler",
    "F0_RECIPE_CACHE": "recipe_cache",
    "F0_PACKAGE_ENVS": "package_envs",
    "F0_PACKAGE": "package",
}
"""The environment variables a run's settings come from, and the ``Config`` field each one sets.
Two more are read where they apply, as each process starts: ``F0_NODE`` (``this_node``: a worker
on another machine names itself) and ``F0_DEBUG`` (the command line's tracebacks)."""


@dataclass(frozen=True, slots=True)
class Config:
    """The settings of a run and of the commands that read runs; the defaults are the documented ones.

    ``store``: a store URL (SQLite or PostgreSQL), ``""`` for ``.framework0/framework0.db`` under
    the working directory, or ``None`` to keep runs in memory only (``F0_STORE=none``).
    ``recipe_cache``: the folder of compiled recipes, ``""`` for ``framework0/recipes`` in the
    user's cache folder (``recipe_cache_folder``), or ``None`` to read every recipe's YAML each time.
    ``package_envs``: the folder of the virtual environments ``f0 run PKG`` builds, ``""`` for
    ``framework0/envs`` in the user's cache folder (``package_envs_folder``).
    ``package``: the recipe package this run comes from (``{"path", "digest", "entry"}``), set by
    ``f0 run PKG`` for the run it starts (``F0_PACKAGE``) and recorded with the run; None otherwise.
    ``sources`` says where each field set from outside came from (``"F0_STORE"``, ``"--store"``),
    for messages that must name what to fix.
    """

    store: str | None = ""
    durability: Durability = "full"
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    context_server: str | None = None
    context_server_retry_s: float = DEFAULT_CONTEXT_SERVER_RETRY_S
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    max_recipe_bytes: int = DEFAULT_MAX_RECIPE_BYTES
    executor: str = "local"
    dask_scheduler: str | None = None
    max_parallel: int | None = None
    grace_s: float = DEFAULT_GRACE_S
    use_cache: bool = True
    recipe_cache: str | None = ""
    package_envs: str = ""
    package: Mapping[str, str] | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        """The settings the ``F0_*`` variables of ``environ`` give; a malformed value is a
        UsageError naming the variable and what it takes."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}

        def text(name: str) -> str | None:
            value = environ.get(name, "").strip()
            if value:
                sources[ENVIRONMENT[name]] = name
            return value or None

        store = text("F0_STORE")
        if store is not None:
            values["store"] = None if store.lower() == "none" else store
        durability = text("F0_STORE_DURABILITY")
        if durability is not None:
            if durability.lower() not in ("full", "fast"):
                raise UsageError(f"F0_STORE_DURABILITY={durability!r}: use full (the default) or fast")
            values["durability"] = durability.lower()
        every = text("F0_SNAPSHOT_EVERY")
        if every is not None:
            if not every.isdigit() or int(every) < 1:
                raise UsageError(
                    f"F0_SNAPSHOT_EVERY={every!r}: give a whole number of versions, 1 or more "
                    f"(default {DEFAULT_SNAPSHOT_EVERY})"
                )
            values["snapshot_every"] = int(every)
        values["context_server"] = text("F0_CONTEXT_SERVER")
        retry = text("F0_CONTEXT_SERVER_RETRY")
        if retry is not None:
            values["context_server_retry_s"] = _seconds("F0_CONTEXT_SERVER_RETRY", retry)
        max_log = text("F0_MAX_LOG_BYTES")
        if max_log is not None:
            values["max_log_bytes"] = _bytes("F0_MAX_LOG_BYTES", max_log, DEFAULT_MAX_LOG_BYTES)
        max_recipe = text("F0_MAX_RECIPE_BYTES")
        if max_recipe is not None:
            values["max_recipe_bytes"] = _bytes("F0_MAX_RECIPE_BYTES", max_recipe, DEFAULT_MAX_RECIPE_BYTES)
        values["dask_scheduler"] = text("F0_DASK_SCHEDULER")
        recipe_cache = text("F0_RECIPE_CACHE")
        if recipe_cache is not None:
            values["recipe_cache"] = None if recipe_cache.lower() in ("off", "none", "0") else recipe_cache
        elif environ.get("XDG_CACHE_HOME", "").strip():
            values["recipe_cache"] = os.path.join(environ["XDG_CACHE_HOME"].strip(), "framework0", "recipes")
        package_envs = text("F0_PACKAGE_ENVS")
        if package_envs is not None:
            values["package_envs"] = package_envs
        elif environ.get("XDG_CACHE_HOME", "").strip():
            values["package_envs"] = os.path.join(environ["XDG_CACHE_HOME"].strip(), "framework0", "envs")
        package = text("F0_PACKAGE")
        if package is not None:
            values["package"] = _package(package)
        return cls(**values, sources=sources)

    def recipe_cache_folder(self) -> str | None:
        """The folder compiled recipes are kept in, or None when they are not kept."""
        if self.recipe_cache is None:
            return None
        return self.recipe_cache or os.path.join(os.path.expanduser("~"), ".cache", "framework0", "recipes")

    def package_envs_folder(self) -> str:
        """The folder the virtual environments of recipe packages are kept in (one per set of
        requirements, built once, used again)."""
        return self.package_envs or os.path.join(os.path.expanduser("~"), ".cache", "framework0", "envs")

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes``; a change given as ``(value, source)`` records where it came from
        (``config.replace(store=(url, "--store"))``)."""
        sources = dict(self.sources)
        plain: dict[str, Any] = {}
        for name, change in changes.items():
            if isinstance(change, tuple) and len(change) == 2 and isinstance(change[1], str) and name != "sources":
                plain[name], sources[name] = change
            else:
                plain[name] = change
                sources.pop(name, None)
        return dataclasses.replace(self, **plain, sources=sources)

    def source(self, name: str) -> str:
        """Where field ``name`` came from: a flag, an environment variable, or ``"default"``."""
        return self.sources.get(name, "default")

    def describe(self) -> list[tuple[str, Any, str]]:
        """Every setting as (name, value, where it came from), for ``f0 doctor`` and bug reports."""
        return [
            (field.name, getattr(self, field.name), self.source(field.name))
            for field in dataclasses.fields(self)
            if field.name != "sources"
        ]


def this_node(environ: Mapping[str, str] | None = None) -> str:
    """The name recorded with every attempt and change made on this machine: ``F0_NODE`` (a name of
    one's own choosing: containers get random host names), else the host name."""
    chosen = (os.environ if environ is None else environ).get("F0_NODE", "").strip()
    if chosen:
        return chosen
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # Windows

    return socket.gethostname()


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise UsageError(f"{name}={value!r}: give the seconds to retry an unreachable server")
    return seconds


#: the keys of ``F0_PACKAGE``: the package's absolute path, its manifest digest, its recipe inside
PACKAGE_KEYS = ("path", "digest", "entry")


def _package(value: str) -> dict[str, str]:
    import json

    try:
        package = json.loads(value)
    except ValueError:
        package = None
    if not (
        isinstance(package, dict)
        and sorted(package) == sorted(PACKAGE_KEYS)
        and all(isinstance(package[key], str) and package[key] for key in PACKAGE_KEYS)
    ):
        raise UsageError(
            f"F0_PACKAGE={value[:80]!r}: f0 run PKG sets it for the run it starts, as a JSON object of "
            '"path", "digest" and "entry"; unset it'
        )
    return {key: package[key] for key in PACKAGE_KEYS}


def _bytes(name: str, value: str, default: int) -> int:
    try:
        limit = int(value.replace("_", ""))
    except ValueError:
        limit = -1
    if limit < 0:
        raise UsageError(f"{name}={value!r}: give a whole number of bytes (default {default})")
    return limit
