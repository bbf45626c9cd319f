"""BaseScriptlet, the @scriptlet decorator and the wrapper that turns a function into a scriptlet."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from framework0.errors import ScriptletError

if TYPE_CHECKING:
    from framework0.context import Context
    from framework0.scriptlets.params import ScriptletParams

F = TypeVar("F", bound=Callable[..., Any])

MARKER = "__framework0_scriptlet__"


class _ScriptletType(abc.ABCMeta):
    # ``BaseScriptlet.Params`` is created on first use so that importing this module (and running
    # steps that take no parameters) does not import pydantic.
    def __getattr__(cls, name: str) -> Any:
        if name == "Params":
            from framework0.scriptlets.params import ScriptletParams

            return ScriptletParams
        raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")


class BaseScriptlet(metaclass=_ScriptletType):
    """A step's code. Subclass it, declare ``Params`` (a pydantic model) and implement ``run``.

    Each attempt gets a fresh instance and goes through ``setup(ctx)``, ``run(ctx, params)`` and
    ``teardown(ctx, error)``; teardown is always called. ``validate(params)`` runs before the first
    attempt, at load time when the step's args hold no templates. ``run``'s return value is the
    step's output and must be JSON-serialisable.

    >>> class Greet(BaseScriptlet):
    ...     class Params(BaseScriptlet.Params):
    ...         name: str = "world"
    ...     def run(self, ctx, params):
    ...         return f"Hello, {params.name}!"
    """

    if TYPE_CHECKING:

        class Params(ScriptletParams):
            """The scriptlet's args; at run time this is created on first use."""

    #: The name recipes use with ``uses:``; defaults to the registry's key.
    name: ClassVar[str | None] = None

    #: Args whose strings (or list of strings) are expressions, evaluated by the runner whether or
    #: not they are wrapped in ``{{ }}`` (the ``assert`` built-in's ``that``).
    expression_args: ClassVar[frozenset[str]] = frozenset()

    #: Set by the runner before ``setup``: the step's name and its args as written in the recipe.
    step_name: str = ""
    raw_args: Mapping[str, Any] = {}
    #: where the recipe's own modules are imported from: its folder, then the working directory
    search_path: tuple[str, ...] = ()

    def validate(self, params: Any) -> None:
        """Check params beyond their types; raise ValueError with a clear message to reject them."""

    def setup(self, ctx: Context) -> None:
        """Prepare for ``run`` (open connections, make folders)."""

    @abc.abstractmethod
    def run(self, ctx: Context, params: Any) -> Any:
        """Do the step's work and return its output (JSON-serialisable)."""

    def teardown(self, ctx: Context, error: BaseException | None) -> None:
        """Release what ``setup`` acquired; ``error`` is what ``run`` raised, or None."""

    @classmethod
    def params_model(cls) -> type[ScriptletParams] | None:
        """The pydantic model of this scriptlet's args, or None when it declares no ``Params``."""
        if not any("Params" in vars(klass) for klass in cls.__mro__):
            return None  # and pydantic need not be imported
        model: type[ScriptletParams] = cls.Params
        return model

    @classmethod
    def parse_params(cls, args: Mapping[str, Any]) -> Any:
        """Validate rendered args into the params object passed to ``run``."""
        model = cls.params_model()
        if model is None:
            if args:
                raise ValueError(f"takes no args, got {sorted(args)}")
            return None
        return model.model_validate(dict(args))

    @classmethod
    def describe(cls) -> str:
        """The first paragraph of the class's own docstring (not an inherited one), for listings."""
        doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
        return doc.split("\n\n", 1)[0].replace("\n", " ")


class FunctionScriptlet(BaseScriptlet):
    """A plain function run as a scriptlet: its parameters are the step's args, ``ctx`` injected."""

    function: ClassVar[Callable[..., Any]]
    takes_ctx: ClassVar[bool]
    has_params: ClassVar[bool]
    _model: ClassVar[type[ScriptletParams] | None] = None

    @classmethod
    def params_model(cls) -> type[ScriptletParams] | None:
        if not cls.has_params:
            return None
        if cls._model is None:
            from framework0.scriptlets.params import model_from_signature

            cls._model = model_from_signature(cls.function, name=cls.__name__, skip=("ctx",))
        return cls._model

    def run(self, ctx: Context, params: Any) -> Any:
        kwargs: dict[str, Any] = dict(params) if params is not None else {}
        if self.takes_ctx:
            kwargs["ctx"] = ctx
        return self.function(**kwargs)

    @classmethod
    def describe(cls) -> str:
        doc = inspect.getdoc(cls.function) or ""
        return doc.split("\n\n", 1)[0].replace("\n", " ")


def function_scriptlet(function: Callable[..., Any], *, name: str | None = None) -> type[FunctionScriptlet]:
    """Wrap a plain function into a FunctionScriptlet subclass."""
    if not callable(function):
        raise ScriptletError(f"{function!r} is not callable", scriptlet=name)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError) as error:
        raise ScriptletError(f"cannot read the signature of {function!r}: {error}", scriptlet=name) from None
    positional = [p.name for p in parameters.values() if p.kind is p.POSITIONAL_ONLY]
    if positional:
        raise ScriptletError(
            f"{function.__name__}() has positional-only parameters ({', '.join(positional)}); "
            "step args are passed by name",
            scriptlet=name,
        )
    declared = getattr(function, MARKER, None)
    scriptlet_name = name or (declared if isinstance(declared, str) else None) or function.__name__
    attributes = {
        "function": staticmethod(function),
        "takes_ctx": "ctx" in parameters,
        "has_params": any(p != "ctx" for p in parameters),
        "name": scriptlet_name,
        "__module__": getattr(function, "__module__", __name__),
        "__doc__": function.__doc__,
    }
    return type(f"{function.__name__}_scriptlet", (FunctionScriptlet,), attributes)


@overload
def scriptlet(function: F, /) -> F: ...
@overload
def scriptlet(*, name: str | None = None) -> Callable[[F], F]: ...
def scriptlet(function: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Mark a plain function as a scriptlet; it stays an ordinary, callable function.

    Its parameters become the step's args (validated from their annotations); a parameter named
    ``ctx`` receives the Context instead.

    >>> @scriptlet(name="add")
    ... def add(a: int, b: int) -> int:
    ...     return a + b
    """

    def mark(target: F) -> F:
        setattr(target, MARKER, name or target.__name__)
        return target

    return mark(function) if function is not None else mark
