"""Where attempts run: the executors, by the name ``--executor`` knows them by."""

from __future__ import annotations

import importlib

from framework0.engine.executors.base import Executor
from framework0.errors import UsageError

EXECUTORS: dict[str, str] = {
    "inline": "framework0.engine.executors.inline:InlineExecutor",
    "local": "framework0.engine.executors.local:LocalExecutor",
    "process": "framework0.engine.executors.process:ProcessExecutor",
    "dask": "framework0.engine.executors.dask:DaskExecutor",
}


def make_executor(name: str) -> Executor:
    """An executor by its ``--executor`` name."""

    if name not in EXECUTORS:
        raise UsageError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    module, _, attr = EXECUTORS[name].partition(":")
    executor: Executor = getattr(importlib.import_module(module), attr)()
    return executor
