"""The exception hierarchy: every error class lives in ``errors.py``, and the tree its docstring
draws is the real one."""

from __future__ import annotations

import importlib
import pkgutil
import re

import framework0
from framework0 import errors

#: ``    ├── Name  ...``: a name drawn in the docstring's tree; four columns per level
TREE_LINE = re.compile(r"^    (?P<branch>[│├└─ ]*)(?P<name>[A-Z]\w*)")


def drawn_tree() -> dict[str, str | None]:
    """Each class the docstring draws -> the class drawn as its parent (None for a root)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        match = TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["branch"]) // 4
        del path[depth:]
        parents[match["name"]] = path[-1] if path else None
        path.append(match["name"])
    return parents


def real_tree() -> dict[str, str | None]:
    """Each exception class of ``errors.py`` -> its parent; ``Exception`` and ``BaseException``
    are not drawn (their children are roots), another built-in parent is drawn as a root."""
    parents: dict[str, str | None] = {}
    for value in vars(errors).values():
        if not (isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == errors.__name__):
            continue
        base = value.__bases__[0]
        if base in (Exception, BaseException):
            parents[value.__name__] = None
            continue
        parents[value.__name__] = base.__name__
        if base.__module__ == "builtins":
            parents[base.__name__] = None
    return parents


def test_the_docstring_draws_every_error_class_under_its_real_parent() -> None:
    assert drawn_tree() == real_tree()


def test_the_tree_reading_sees_nesting_and_roots() -> None:
    drawn = drawn_tree()
    assert drawn["Framework0Error"] is None
    assert drawn["WorkerLost"] == "ExecutorError"
    assert drawn["ExecutorError"] == "EngineError"
    assert drawn["CommandFailed"] == "RuntimeError"


#: Exception classes that may live outside errors.py besides those named ``_Private``: control flow
#: inside one module that never reaches a user (a ``_Private`` one must not either).
PRIVATE_EXCEPTIONS = {
    "framework0.recipe.template_limits.Refused",  # the sandbox's limit, turned into TemplateSecurityError
    "framework0.engine.interrupt.CancelSignal",  # a StepCancelled the runner raises; users see StepCancelled
}


def exception_classes_outside_errors() -> set[str]:
    found: set[str] = set()
    for module_info in pkgutil.walk_packages(framework0.__path__, "framework0."):
        if module_info.name == errors.__name__ or ".migrations." in module_info.name:
            continue
        try:
            module = importlib.import_module(module_info.name)
        except ImportError as error:  # an optional extra's adapter, without the extra
            assert "framework0[" in str(error), error
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not value.__name__.startswith("_")
            ):
                found.add(f"{module.__name__}.{value.__qualname__}")
    return found


def test_every_public_exception_class_lives_in_errors() -> None:
    assert sorted(exception_classes_outside_errors() - PRIVATE_EXCEPTIONS) == []


def test_the_step_errors_of_built_in_scriptlets_keep_their_names_and_bases() -> None:
    # a recipe's retry_on matches a step's error by these names
    assert [cls.__name__ for cls in errors.CommandFailed.__mro__[:3]] == ["CommandFailed", "RuntimeError", "Exception"]
    assert [cls.__name__ for cls in errors.UnexpectedStatus.__mro__[:2]] == ["UnexpectedStatus", "RuntimeError"]


def test_history_gone_is_one_class_for_the_server_and_the_client() -> None:
    gone = errors.HistoryGone.since("jobs", 3, 10)
    assert isinstance(gone, errors.ContextError)
    assert gone.oldest == 10
    assert str(gone) == (
        "context 'jobs': history before version 10 is no longer held (asked from 3); "
        "read the whole context and continue from its version"
    )
