"""Waiting, in the event loop, for the context writer thread to answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from framework0.server.contexts import ContextService, Done, LoopDone


async def committed(submit: Callable[[Done], None]) -> Any:
    """Queue a request with the context writer and wait until it is committed (or refused)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(answer: Any) -> None:
        if not future.done():
            future.set_result(answer)

    submit(LoopDone(loop, settle))
    answer = await future
    if isinstance(answer, BaseException):
        raise answer
    return answer


async def loaded(contexts: ContextService, name: str) -> bool:
    """Whether the context exists (loading it into the writer's memory first if needed, or
    catching the copy up when another server committed a newer version: what is read from memory
    next is then at least as new as the store when this was called)."""
    if contexts.cached(name) and (contexts.only_writer or not await run_in_threadpool(contexts.behind, name)):
        return True
    found: bool = await committed(lambda done: contexts.submit_load(name, done))
    return found
