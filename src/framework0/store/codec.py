"""The JSON text the store keeps in its JSON columns, written in one way everywhere (runs, steps,
attempts, context changes, the cache and the context server's shared contexts): compact, ASCII
only, anything JSON has no type for written as its ``str()``. Any reader's ``json.loads`` reads it.
"""

from __future__ import annotations

import json
from typing import Any

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def dumps(value: Any) -> str:
    """``value`` as stored JSON text (``None``, a step without output, is the common case)."""
    return "null" if value is None else _encode(value)


__all__ = ["dumps"]
