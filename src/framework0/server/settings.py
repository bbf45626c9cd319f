"""How a server is configured, and what its routes share while it runs."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework0.events import EventBus
    from framework0.server.contexts import ContextService
    from framework0.server.hub import Hub
    from framework0.store.database import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class Settings:
    """A server's settings; every limit has a default a user would pick."""

    token: str
    store_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: browser origins allowed to open a WebSocket (non-browser clients send none)
    allowed_origins: tuple[str, ...] = ()
    max_body: int = 1 << 20  # bytes of a request body
    max_message: int = 1 << 20  # bytes of a WebSocket message
    max_depth: int = 64  # nesting of JSON arrays and objects
    queue_limit: int = 10_000  # changes waiting for a slow WebSocket subscriber before it is dropped
    auth_deadline_s: float = 5.0  # a WebSocket must authenticate within this
    idle_s: float = 300.0  # a WebSocket that sends nothing for this long is closed
    keep_history: int | None = None  # versions of history kept per context (None: all)
    # slow and greedy clients (framework0.server.limits)
    head_timeout_s: float = 20.0  # a request's head must arrive within this
    body_timeout_s: float = 30.0  # a body must arrive within this, plus 1 s per body_min_rate bytes
    body_min_rate: int = 1000  # bytes per second
    max_connections: int = 10_000  # in all (fewer if the open-file limit is lower)
    max_connections_per_client: int = 256  # from one address (an IPv6 /64); 0: no cap
    metrics_public: bool = False  # /metrics without the token (for a Prometheus on a trusted network)
    node: str = field(default_factory=socket.gethostname)


@dataclass
class ServerState:
    """What the routes share: the store, the bus, the contexts and the WebSocket hub."""

    settings: Settings
    store: Store
    bus: EventBus
    contexts: ContextService
    hub: Hub
    loop: asyncio.AbstractEventLoop
    closers: list[Any] = field(default_factory=list)
