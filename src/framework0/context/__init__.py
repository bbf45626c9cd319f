"""The run's shared, versioned key-value context and its change history."""

from framework0.context.changes import Change, ChangeSource, Operation
from framework0.context.context import Context
from framework0.context.state import ContextState

__all__ = ["Change", "ChangeSource", "Context", "ContextState", "Operation"]
