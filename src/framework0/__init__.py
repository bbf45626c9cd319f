"""Framework0: YAML recipes of Python scriptlets, run as a parallel DAG with retries and timeouts.

>>> import framework0
>>> result = framework0.run("examples/quickstart.yaml")
>>> result.status
'succeeded'

The names below are imported on first use, so that ``f0 validate`` does not pay for the engine
and ``import framework0`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework0.api import resume, run
    from framework0.config import Config
    from framework0.context import Change, Context
    from framework0.context.merge import ChangeRequest, Strategies
    from framework0.engine.executors.dask import DaskExecutor
    from framework0.engine.result import RunResult, StepResult
    from framework0.errors import (
        ContextConflict,
        ContextError,
        EngineError,
        ExecutorError,
        Framework0Error,
        OutputError,
        PackageError,
        PackageRefused,
        ParamError,
        RecipeError,
        ResumeRefused,
        RunInterrupted,
        RunNotFound,
        ScriptletError,
        ServerError,
        StepCancelled,
        StepFailed,
        StepTimeout,
        StoreError,
        TemplateError,
        TemplateSecurityError,
        UsageError,
        WaitTimeout,
        WorkerLost,
    )
    from framework0.events import EventBus
    from framework0.history import History
    from framework0.isolation.build import Package, isolate
    from framework0.isolation.signing import generate_key
    from framework0.isolation.verify import VerifiedPackage, read_verified_package, verify_package
    from framework0.recipe.loader import load_recipe, load_recipe_text
    from framework0.recipe.model import Recipe, Step
    from framework0.scriptlets.base import BaseScriptlet, scriptlet

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "BaseScriptlet": "framework0.scriptlets.base",
    "Change": "framework0.context",
    "ChangeRequest": "framework0.context.merge",
    "Config": "framework0.config",
    "Context": "framework0.context",
    "ContextConflict": "framework0.errors",
    "ContextError": "framework0.errors",
    "DaskExecutor": "framework0.engine.executors.dask",
    "EngineError": "framework0.errors",
    "EventBus": "framework0.events",
    "ExecutorError": "framework0.errors",
    "Framework0Error": "framework0.errors",
    "generate_key": "framework0.isolation.signing",
    "History": "framework0.history",
    "isolate": "framework0.isolation.build",
    "load_recipe": "framework0.recipe.loader",
    "load_recipe_text": "framework0.recipe.loader",
    "OutputError": "framework0.errors",
    "Package": "framework0.isolation.build",
    "PackageError": "framework0.errors",
    "PackageRefused": "framework0.errors",
    "ParamError": "framework0.errors",
    "read_verified_package": "framework0.isolation.verify",
    "Recipe": "framework0.recipe.model",
    "RecipeError": "framework0.errors",
    "resume": "framework0.api",
    "ResumeRefused": "framework0.errors",
    "run": "framework0.api",
    "RunInterrupted": "framework0.errors",
    "RunNotFound": "framework0.errors",
    "RunResult": "framework0.engine.result",
    "scriptlet": "framework0.scriptlets.base",
    "ScriptletError": "framework0.errors",
    "ServerError": "framework0.errors",
    "Step": "framework0.recipe.model",
    "StepCancelled": "framework0.errors",
    "StepFailed": "framework0.errors",
    "StepResult": "framework0.engine.result",
    "StepTimeout": "framework0.errors",
    "StoreError": "framework0.errors",
    "Strategies": "framework0.context.merge",
    "TemplateError": "framework0.errors",
    "TemplateSecurityError": "framework0.errors",
    "UsageError": "framework0.errors",
    "VerifiedPackage": "framework0.isolation.verify",
    "verify_package": "framework0.isolation.verify",
    "WaitTimeout": "framework0.errors",
    "WorkerLost": "framework0.errors",
}

__all__ = [
    "BaseScriptlet",
    "Change",
    "ChangeRequest",
    "Config",
    "Context",
    "ContextConflict",
    "ContextError",
    "DaskExecutor",
    "EngineError",
    "EventBus",
    "ExecutorError",
    "Framework0Error",
    "History",
    "OutputError",
    "Package",
    "PackageError",
    "PackageRefused",
    "ParamError",
    "Recipe",
    "RecipeError",
    "ResumeRefused",
    "RunInterrupted",
    "RunNotFound",
    "RunResult",
    "ScriptletError",
    "ServerError",
    "Step",
    "StepCancelled",
    "StepFailed",
    "StepResult",
    "StepTimeout",
    "StoreError",
    "Strategies",
    "TemplateError",
    "TemplateSecurityError",
    "UsageError",
    "VerifiedPackage",
    "WaitTimeout",
    "WorkerLost",
    "generate_key",
    "isolate",
    "load_recipe",
    "load_recipe_text",
    "read_verified_package",
    "resume",
    "run",
    "scriptlet",
    "verify_package",
]
assert sorted(_EXPORTS) == __all__


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'framework0' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("_"))})
