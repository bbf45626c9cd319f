"""Framework0: YAML recipes of Python scriptlets, run as a parallel DAG with retries and timeouts.

>>> import framework0
>>> result = framework0.run("examples/quickstart.yaml")
>>> result.status
'succeeded'
"""

from framework0.context import Change, Context
from framework0.engine.result import RunResult, StepResult
from framework0.engine.runner import run
from framework0.errors import (
    ContextError,
    EngineError,
    ExecutorError,
    Framework0Error,
    OutputError,
    ParamError,
    RecipeError,
    RunInterrupted,
    ScriptletError,
    StepCancelled,
    StepFailed,
    StepTimeout,
    TemplateError,
    TemplateSecurityError,
    UsageError,
)
from framework0.events import EventBus
from framework0.recipe.loader import load_recipe, load_recipe_text
from framework0.recipe.model import Recipe, Step
from framework0.scriptlets.base import BaseScriptlet, scriptlet

__version__ = "0.1.0"

__all__ = [
    "BaseScriptlet",
    "Change",
    "Context",
    "ContextError",
    "EngineError",
    "EventBus",
    "ExecutorError",
    "Framework0Error",
    "OutputError",
    "ParamError",
    "Recipe",
    "RecipeError",
    "RunInterrupted",
    "RunResult",
    "ScriptletError",
    "Step",
    "StepCancelled",
    "StepFailed",
    "StepResult",
    "StepTimeout",
    "TemplateError",
    "TemplateSecurityError",
    "UsageError",
    "load_recipe",
    "load_recipe_text",
    "run",
    "scriptlet",
]
