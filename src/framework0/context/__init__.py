"""The run's shared, versioned key-value context and its change history."""

from framework0.context.cancel import CancelToken
from framework0.context.changes import Change, ChangeSource, Operation
from framework0.context.context import Context
from framework0.context.state import ContextState

__all__ = ["CancelToken", "Change", "ChangeSource", "Context", "ContextState", "Operation"]
