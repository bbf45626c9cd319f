"""Steps that change the context atomically, for the executor contract suite."""

from __future__ import annotations

from typing import Any

from framework0 import Context
from framework0.errors import ContextConflict


def count(item: int, ctx: Context) -> int:
    """Remember ``item`` in the set ``seen`` and count it in ``n``; the count after this one."""
    ctx.add("seen", item)
    return int(ctx.increment("n"))


def elect(item: int, ctx: Context) -> str:
    """Become ``leader`` only if nobody is yet (compare-and-set against version 0)."""
    try:
        ctx.compare_and_set("leader", item, 0)
    except ContextConflict:
        return "lost"
    return "won"


def read(names: list[str], ctx: Context) -> dict[str, Any]:
    return {name: ctx.get(name) for name in names}


def set_then_swap(ctx: Context) -> list[Any]:
    """A plain write, then a compare-and-set against that write's version, then an increment."""
    ctx.set("phase", "one")
    version = ctx.key_version("phase")
    ctx.compare_and_set("phase", "two", version)
    return [ctx.get("phase"), ctx.increment("n", 10)]
