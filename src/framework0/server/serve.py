"""Running the server on uvicorn: ``f0 serve`` and the tests start it through ``serve``."""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable

from framework0.server.settings import Settings

#: what the ``server`` extra brings that the server imports (httptools and uvloop are optional: uvicorn
#: falls back to h11 and asyncio)
SERVER_EXTRA = ("fastapi", "starlette", "uvicorn", "websockets", "orjson")


def require_server_extra() -> None:
    """Import everything the server needs, so that a missing module shows before anything starts.

    Raises ``ModuleNotFoundError`` whose ``name`` is the module that could not be imported.
    """
    for name in (*SERVER_EXTRA, "framework0.server.app", "framework0.client"):
        try:
            importlib.import_module(name)
        except ImportError as error:
            missing = missing_module(error) or name
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing) from error


def missing_module(error: BaseException) -> str | None:
    """The module an ``ImportError`` (or the one it was raised from) could not import."""
    seen: BaseException | None = error
    for _ in range(10):  # a chain of causes, never a long one
        if seen is None:
            break
        name = getattr(seen, "name", None)
        if isinstance(seen, ImportError) and name:
            return str(name).partition(".")[0]
        seen = seen.__cause__ or seen.__context__
    return None


def uvicorn_server(settings: Settings, *, sock: socket.socket | None = None, log_level: str = "warning") -> object:
    """A configured ``uvicorn.Server`` for ``settings`` (call ``.run(sockets=[sock])`` or ``.run()``)."""
    import uvicorn

    from framework0.server.app import create_app
    from framework0.server.limits import Limits, file_budget, limited_protocol

    limits = Limits(
        head_timeout_s=settings.head_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        body_min_rate=settings.body_min_rate,
        max_connections=file_budget(settings.max_connections),
        max_per_client=settings.max_connections_per_client,
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_level=log_level,
        access_log=False,
        http=limited_protocol(limits),
        ws="websockets-sansio",
        ws_max_size=settings.max_message,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_keep_alive=30,
        server_header=False,
        # the limited protocol caps the connections (HTTP and WebSocket), and each runs one request
        # at a time: uvicorn's own cap would count slow clients and answer 503 to everyone else
        limit_concurrency=None,
    )
    return uvicorn.Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port; see ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, *, on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM: uvicorn stops gracefully)."""
    import threading

    from framework0.server.limits import raise_file_limit

    raise_file_limit(settings.max_connections)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    server = uvicorn_server(Settings(**{**settings.__dict__, "port": port}), sock=sock)
    if on_ready is not None:

        def announce() -> None:
            while not getattr(server, "started", False) and not getattr(server, "should_exit", False):
                threading.Event().wait(0.02)
            if getattr(server, "started", False):
                on_ready(port)

        threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])  # type: ignore[attr-defined]
