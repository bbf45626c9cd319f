"""The one exception hierarchy of Framework0.

Every intentional error derives from ``Framework0Error``; the CLI maps each class's ``exit_code``
to the process exit status and prints ``str(error)`` as one line (``--debug`` adds the traceback).

    Framework0Error                 exit 1
    ├── UsageError                  exit 2   bad command-line arguments
    │   └── ParamError              exit 2   a param override that is unknown or of the wrong type
    ├── RecipeError                 exit 2   one or more FILE:LINE:COL diagnostics; nothing ran
    ├── ScriptletError              exit 2   a scriptlet that cannot be found, imported or used
    ├── TemplateError               exit 1   a template that fails while a step is prepared
    │   └── TemplateSecurityError   exit 1   a template refused by the sandbox or its limits
    ├── StepFailed                  exit 1   the user's step failed (its error is attached)
    │   └── StepTimeout             exit 1   ... because it ran past its timeout
    ├── OutputError                 exit 1   a step returned a value that is not JSON
    ├── ContextError                exit 1   a context key or value that is not allowed
    │   ├── ContextConflict         exit 1   a compare-and-set write that read a stale version
    │   ├── ContextExists           exit 1   a context created again with other rules
    │   ├── UnknownVersion          exit 1   a version after the context's current one
    │   ├── HistoryGone             exit 1   history from before the oldest version still held
    │   └── WaitTimeout             exit 1   wait_for or barrier ran out of time
    ├── EngineError                 exit 1   the framework could not run a step (not the step's fault)
    │   └── ExecutorError           exit 1   an executor failed: a worker died, a task was lost
    │       └── WorkerLost          exit 1   the worker running an attempt went away (it is retried)
    ├── ServerError                 exit 1   the context server refused a request or cannot be reached
    │   └── BadRequestBody          exit 1   (server side; also a ValueError) a body not JSON or too deep
    │       └── BodyTooLarge        exit 1   (server side) a body past the size limit
    ├── StoreError                  exit 1   the run store cannot be opened, read or written
    │   ├── StoreNotFound           exit 2   a reading command found no store where it looked
    │   ├── RunNotFound             exit 2   no stored run has that id
    │   └── ResumeRefused           exit 2   the run cannot be resumed (finished, or its recipe changed)
    ├── PackageError                exit 2   a recipe package cannot be built or read
    │   └── PackageRefused          exit 2   a package that fails verification (names the member)
    └── RunInterrupted              exit 130 Ctrl-C, or cancelled from outside

    StepCancelled                            (a BaseException) the runner stops a running step

    RuntimeError                             the step's own failure, raised by a built-in scriptlet
    ├── CommandFailed                        shell: the command exited with a non-zero code
    └── UnexpectedStatus                     http: the server answered another status than expected

``StepCancelled`` is not a ``Framework0Error``: it derives from ``BaseException`` so that user code's
``except Exception`` cannot swallow it when the runner stops a step (timeout, Ctrl-C).

``CommandFailed`` and ``UnexpectedStatus`` do not derive from ``Framework0Error`` either: like a
function step's own ``ValueError``, they are the step's failure, which a run reports inside
``StepFailed`` and a recipe's ``retry_on`` matches by class name (theirs or ``RuntimeError``), so
their names and bases are part of the recipe contract.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Span:
    """A position in a source file: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{one_line_name(self.file)}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a recipe, at the place it was found."""

    span: Span
    message: str

    def __str__(self) -> str:
        message = self.message
        if len(message) > _LONGEST_MESSAGE:
            message = message[: _LONGEST_MESSAGE - 3] + "..."
        return f"{self.span}: {message}"


_LONGEST_MESSAGE = 1000  # values in messages are cut (short_repr); this bounds whatever else a message holds


class Framework0Error(Exception):
    """Base of every error Framework0 raises on purpose."""

    exit_code: ClassVar[int] = 1


class UsageError(Framework0Error):
    """The command line or an API call was used wrongly."""

    exit_code: ClassVar[int] = 2


class ParamError(UsageError):
    """A run parameter is unknown, missing or of the wrong type."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class RecipeError(Framework0Error):
    """A recipe is invalid; ``diagnostics`` lists every problem found, in file order."""

    exit_code: ClassVar[int] = 2

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.span.file, d.span.line, d.span.col, d.message))
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @classmethod
    def at(cls, span: Span, message: str) -> RecipeError:
        return cls([Diagnostic(span, message)])


class ScriptletError(Framework0Error):
    """A scriptlet cannot be found, imported or registered."""

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, scriptlet: str | None = None) -> None:
        super().__init__(message)
        self.scriptlet = scriptlet


class TemplateError(Framework0Error):
    """A template cannot be parsed or rendered. ``line`` is 1-based within the template."""

    def __init__(self, message: str, *, source: str = "", line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.col = col


class TemplateSecurityError(TemplateError):
    """A template tried something the sandbox forbids or went past a limit."""


class StepFailed(Framework0Error):
    """A step failed; ``error_type`` and ``message`` describe the step's own error."""

    def __init__(self, step: str, error_type: str, message: str) -> None:
        super().__init__(f"step {step!r} failed: {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.error_message = message


class StepTimeout(StepFailed):
    """A step ran past its timeout and was stopped."""

    def __init__(self, step: str, seconds: float) -> None:
        super().__init__(step, "StepTimeout", f"timed out after {seconds:g}s")
        self.seconds = seconds


class OutputError(Framework0Error):
    """A step returned a value that cannot be stored as JSON."""


class ContextError(Framework0Error):
    """A context key or value is not allowed (keys are non-empty strings, values are JSON)."""


class ContextConflict(ContextError):
    """A compare-and-set write read a version that is no longer current: nothing was written.

    ``conflicts`` maps each stale key to ``(expected, current)`` versions; read again and retry.
    """

    def __init__(self, conflicts: dict[str, tuple[int, int]]) -> None:
        self.conflicts = dict(conflicts)
        stale = ", ".join(f"{key!r} is at version {cur}, not {exp}" for key, (exp, cur) in self.conflicts.items())
        super().__init__(f"stale write, nothing written: {stale}")


class ContextExists(ContextError):
    """A context of that name already exists with other rules."""


class UnknownVersion(ContextError):
    """A version after the context's current one."""


class HistoryGone(ContextError):
    """The history asked for starts before the oldest version still held; ``oldest`` is that
    version (None when a server did not say). Read the whole context and continue from its version."""

    def __init__(self, message: str, *, oldest: int | None = None) -> None:
        super().__init__(message)
        self.oldest = oldest

    @classmethod
    def since(cls, name: str, since: int, oldest: int) -> HistoryGone:
        """The error for history of context ``name`` asked from version ``since``."""
        return cls(
            f"context {name!r}: history before version {oldest} is no longer held (asked from {since}); "
            f"read the whole context and continue from its version",
            oldest=oldest,
        )


class WaitTimeout(ContextError):
    """``wait_for`` or ``barrier`` gave up: the context did not reach the condition in time."""


class EngineError(Framework0Error):
    """The framework could not run a step; not the step's own fault."""


class ExecutorError(EngineError):
    """An executor failed: a worker process died or a task could not be shipped."""


class WorkerLost(ExecutorError):
    """The worker running an attempt died or went away; the runner tries the attempt again elsewhere."""


class ServerError(Framework0Error):
    """The context server cannot be reached, or refused a request (``status`` is its HTTP status)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadRequestBody(ServerError, ValueError):
    """A request body the server refuses: not JSON (400), too large (413) or nested too deep (422)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message, status=status)


class BodyTooLarge(BadRequestBody):
    """A request body went past the server's limit while it was read (raised into the app)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", status=413)
        self.limit = limit


class StoreError(Framework0Error):
    """The run store cannot be opened, read or written (read-only, full, locked, unreachable)."""


class StoreNotFound(StoreError):
    """A command that only reads runs found no store at the URL or path it was given (it never creates one)."""

    exit_code: ClassVar[int] = 2


class RunNotFound(StoreError):
    """No stored run has the id asked for."""

    exit_code: ClassVar[int] = 2


class ResumeRefused(StoreError):
    """A run cannot be resumed as asked: it succeeded, or its recipe changed since."""

    exit_code: ClassVar[int] = 2


class PackageError(Framework0Error):
    """A recipe package (``f0 isolate``) cannot be built or read: a file it needs is missing, the
    output cannot be written, an import cannot be resolved."""

    exit_code: ClassVar[int] = 2


class PackageRefused(PackageError):
    """A package fails verification: a digest that does not match, a member that is not a regular
    file or folder, a path that could escape, more than the caps allow. The message names the member."""

    exit_code: ClassVar[int] = 2


class RunInterrupted(Framework0Error):
    """The run was interrupted (Ctrl-C) or cancelled; finished work is kept."""

    exit_code: ClassVar[int] = 130


class StepCancelled(BaseException):
    """Raised inside a running step to stop it (timeout, Ctrl-C); user code should not catch it."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class CommandFailed(RuntimeError):
    """A ``shell`` step's command exited with a non-zero code and ``check`` was true."""


class UnexpectedStatus(RuntimeError):
    """An ``http`` step's server answered with a status the step did not expect."""


def one_line_name(name: str) -> str:
    """A file name or title as shown in a one-line message: quoted (``repr``) when it holds a newline
    or another control character, so that the line stays one line."""
    return name if name.isprintable() else repr(name)


def short_repr(value: object, width: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``width`` characters with ``...``: never a huge value whole.

    Containers are shown a few items and levels deep, and an integer too long for Python to print
    by its number of digits (``an integer of 100001 digits``).
    """
    if isinstance(value, int) and value.bit_length() > _PRINTABLE_INT_BITS:
        return _integer_size(value)
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


_PRINTABLE_INT_BITS = 14_000  # about 4,200 digits: fewer than the 4,300 Python prints by default


def _integer_size(value: int) -> str:
    import math

    size = abs(value)
    digits = int(math.log10(size)) + 1
    digits += 1 if 10**digits <= size else -1 if 10 ** (digits - 1) > size else 0
    return f"an integer of {digits} digits"


def _make_short_repr() -> reprlib.Repr:
    class ShortRepr(reprlib.Repr):
        def repr_int(self, x: int, level: int) -> str:
            return _integer_size(x) if x.bit_length() > _PRINTABLE_INT_BITS else super().repr_int(x, level)

    short = ShortRepr()
    short.maxstring = short.maxlong = short.maxother = 200  # cut to the width afterwards
    short.maxlevel = 4
    return short


_SHORT_REPR = _make_short_repr()


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists among ``choices``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
