"""The JSON text the store keeps in its JSON columns, written in one way everywhere (runs, steps,
attempts, context changes, the cache and the context server's shared contexts): compact, ASCII
only, anything JSON has no type for written as its ``str()``. Any reader's ``json.loads`` reads it.

It writes what ``json.dumps(value, separators=(",", ":"), default=str)`` writes, byte for byte (a
test checks it), at a third of the cost, which matters because the writer threads call it for every
step, attempt and context write: ``json.dumps`` builds its C encoder afresh on every call, this
builds it once. (Without the per-call table of the containers being written, a value that contains
itself fails with RecursionError rather than ValueError.)
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any

_SEPARATORS = (",", ":")


def _encoder() -> Callable[[Any], str]:
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # CPython's C accelerator (not typed)
    if make is None:  # (PyPy) the encoder json.dumps would use
        return json.JSONEncoder(separators=_SEPARATORS, default=str).encode
    encode = make(None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


_encode = _encoder()


def dumps(value: Any) -> str:
    """``value`` as stored JSON text (``None``, a step without output, is the common case)."""
    return "null" if value is None else _encode(value)


__all__ = ["dumps"]
