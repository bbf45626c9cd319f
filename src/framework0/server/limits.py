"""Connection limits in front of uvicorn's HTTP protocol: slow or greedy clients cannot hold the server.

uvicorn bounds the connections it serves (``limit_concurrency``) but not the time a client takes to
send a request: a few thousand connections that send half a request head and stop would hold their
places for ever, and every other request, ``/healthz`` included, would get a 503. ``LimitedHTTP``
wraps uvicorn's own protocol (httptools, or h11 without it) and adds, per connection:

* the head deadline: a request's head (request line and headers) must arrive within
  ``head_timeout_s`` of the connection opening, or of its first byte on a kept-alive connection
  (the idle time between requests is uvicorn's keep-alive timeout). A late head gets a 408 if any of
  it came, and the connection is closed;
* the body deadline: a body must arrive within ``body_timeout_s`` plus one second for every
  ``body_min_rate`` bytes received (Apache's ``mod_reqtimeout`` rule); the clock stops while the
  server itself does not read (the app is busy, or the client waits for ``100 Continue``);

and, per server:

* at most ``max_per_client`` connections from one client address (an IPv6 client's /64 counts as
  one address); the next one gets a 429 and is closed at once, while other addresses are served;
* at most ``max_connections`` connections in all: when full, a new connection closes the one that
  has waited longest for a request head (an idle keep-alive connection or a slow client), or, if
  every connection is busy with a request or a WebSocket, is refused with a 503.

A connection upgraded to a WebSocket leaves the HTTP deadlines behind (the WebSocket endpoint has
its own authentication and idle deadlines) but keeps counting against both caps until it closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

DEFAULT_RESERVED_FILES = 256  # file descriptors kept for the store, logs and the thread pool


@dataclass(frozen=True)
class Limits:
    """How long a client may take to send a request, and how many connections it may hold."""

    head_timeout_s: float = 20.0
    body_timeout_s: float = 30.0
    body_min_rate: int = 1000  # bytes per second that extend the body deadline by one second each
    max_connections: int = 10_000
    max_per_client: int = 256  # 0: no cap

    def __post_init__(self) -> None:
        if self.head_timeout_s <= 0 or self.body_timeout_s <= 0:
            raise ValueError("the head and body timeouts must be positive")
        if self.body_min_rate < 0 or self.max_connections < 1 or self.max_per_client < 0:
            raise ValueError("body_min_rate and max_per_client must be 0 or more, max_connections 1 or more")


def client_key(peername: object) -> str | None:
    """The address a connection is counted under: the IP address, an IPv6 address's /64, or None
    (a Unix socket: not capped per client)."""
    if not isinstance(peername, tuple) or not peername or not isinstance(peername[0], str):
        return None
    host = peername[0].partition("%")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Connections:
    """The connections of one server: how many in all and per client address, and the ones waiting
    for a request head, longest waiting first."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.per_client: dict[str, int] = {}
        self.waiting: dict[LimitedHTTP, None] = {}  # insertion order: longest waiting first

    def admit(self, connection: LimitedHTTP, key: str | None) -> bytes | None:
        """Count a new connection in, or the answer that refuses it."""
        if key is not None and self.limits.max_per_client and self.per_client.get(key, 0) >= self.limits.max_per_client:
            return refusal(429, f"too many connections from {key} (at most {self.limits.max_per_client})")
        if self.total >= self.limits.max_connections:
            if not self.waiting:
                return refusal(503, "the server has too many connections; try again later")
            oldest = next(iter(self.waiting))
            self.release(oldest)
            oldest.evict()
        self.total += 1
        if key is not None:
            self.per_client[key] = self.per_client.get(key, 0) + 1
        connection.counted = True
        return None

    def release(self, connection: LimitedHTTP) -> None:
        """Count a connection out (once, however often it is called)."""
        self.waiting.pop(connection, None)
        if not connection.counted:
            return
        connection.counted = False
        self.total -= 1
        key = connection.key
        if key is not None:
            left = self.per_client.get(key, 1) - 1
            if left > 0:
                self.per_client[key] = left
            else:
                self.per_client.pop(key, None)

    def wait(self, connection: LimitedHTTP) -> None:
        self.waiting.pop(connection, None)
        self.waiting[connection] = None

    def busy(self, connection: LimitedHTTP) -> None:
        self.waiting.pop(connection, None)


def refusal(status: int, message: str) -> bytes:
    """A whole HTTP response that ends the connection."""
    phrase = {408: "Request Timeout", 429: "Too Many Requests", 503: "Service Unavailable"}[status]
    body = message.encode() + b"\n"
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


HEAD_TIMEOUT = refusal(408, "the request head did not arrive in time")
BODY_TIMEOUT = refusal(408, "the request body arrived too slowly")


class LimitedHTTP(asyncio.Protocol):
    """uvicorn's HTTP protocol for one connection, with the deadlines and caps above.

    Use ``limited_protocol(limits)`` to get a class bound to one server's ``Connections`` and pass it
    to ``uvicorn.Config(http=...)``.
    """

    inner_class: ClassVar[Callable[..., asyncio.Protocol]]
    book: ClassVar[Connections]

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        self.loop: asyncio.AbstractEventLoop = _loop or asyncio.get_event_loop()
        self.inner: Any = cast(
            Any, self.inner_class(config=config, server_state=server_state, app_state=app_state, _loop=_loop)
        )
        response_complete = self.inner.on_response_complete

        def on_response_complete() -> None:  # the request cycles call back through the instance
            before = self.inner.cycle
            response_complete()
            self._after_parse(before, 0)

        self.inner.on_response_complete = on_response_complete
        self.transport: asyncio.Transport | None = None
        self.key: str | None = None
        self.counted = False
        self.admitted = False
        self.timer: asyncio.TimerHandle | None = None
        self.head_started = False  # bytes of a request head came since the last request
        self.body_cycle: Any = None  # the request whose body is being received
        self.body_clock = 0.0
        self.body_bytes = 0

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport = transport
        self.key = client_key(transport.get_extra_info("peername"))
        refused = self.book.admit(self, self.key)
        if refused is not None:
            transport.write(refused)
            transport.close()
            return
        self.admitted = True
        self.inner.connection_made(transport)
        self.book.wait(self)
        self._arm(self.book.limits.head_timeout_s, self._head_timeout)

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        inner = self.inner
        before = inner.cycle
        if self._idle() and not self.head_started:
            self.head_started = True
            if self.timer is None:  # a kept-alive connection's next request begins
                self._arm(self.book.limits.head_timeout_s, self._head_timeout)
        inner.data_received(data)
        self._after_parse(before, len(data))

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.book.release(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    # --- what the limits need ------------------------------------------------------------------

    def evict(self) -> None:
        """Close this connection (idle or slow) to make room for a new one."""
        self._disarm()
        if self.transport is not None:
            self.transport.close()

    def _idle(self) -> bool:
        """No request is in progress: the next bytes are a request head."""
        cycle = self.inner.cycle
        return cycle is None or bool(cycle.response_complete)

    def _after_parse(self, before: Any, received: int) -> None:
        transport = self.transport
        if transport is None:
            return
        if transport.get_protocol() is not self:  # upgraded to a WebSocket (which may have closed already)
            self._upgraded(transport.get_protocol())
            return
        if transport.is_closing():
            return
        cycle = self.inner.cycle
        if cycle is not before:  # a request head arrived
            self.head_started = False
            self._disarm()
            self.book.busy(self)
            self.body_cycle = None
            if cycle.more_body and not cycle.response_complete:
                self.body_cycle = cycle
                self.body_clock = self.loop.time()
                self.body_bytes = 0
                self._arm(self.book.limits.body_timeout_s, self._body_check)
        elif self.body_cycle is not None:
            if self.body_cycle.more_body and not self.body_cycle.response_complete:
                self.body_bytes += received
            else:
                self.body_cycle = None
                self._disarm()
        if self._idle() and not self.head_started:
            self.body_cycle = None
            self._disarm()
            self.book.wait(self)

    def _upgraded(self, websocket: Any) -> None:
        """A WebSocket now owns the connection: no more HTTP deadlines, but it still counts until it closes."""
        self._disarm()
        self.book.busy(self)
        self.admitted = False
        lost = websocket.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            self.book.release(self)
            lost(exc)

        websocket.connection_lost = connection_lost

    def _head_timeout(self) -> None:
        self.timer = None
        if self.transport is None or not self._idle():
            return
        if self.head_started:
            self.transport.write(HEAD_TIMEOUT)
        self.transport.close()

    def _body_check(self) -> None:
        self.timer = None
        cycle = self.body_cycle
        if cycle is None or self.transport is None or not cycle.more_body or cycle.response_complete:
            return
        limits = self.book.limits
        now = self.loop.time()
        if self._server_not_reading(cycle):  # not the client's fault: start the clock again
            self.body_clock, self.body_bytes = now, 0
            self._arm(limits.body_timeout_s, self._body_check)
            return
        extra = self.body_bytes / limits.body_min_rate if limits.body_min_rate else 0.0
        deadline = self.body_clock + limits.body_timeout_s + extra
        if now < deadline:
            self._arm(deadline - now, self._body_check)
            return
        if not cycle.response_started:
            self.transport.write(BODY_TIMEOUT)
        self.transport.close()

    def _server_not_reading(self, cycle: Any) -> bool:
        flow = getattr(self.inner, "flow", None)
        if flow is not None and flow.read_paused:
            return True
        if getattr(cycle, "waiting_for_100_continue", False):  # httptools
            return True
        conn = getattr(self.inner, "conn", None)  # h11
        return bool(getattr(conn, "client_is_waiting_for_100_continue", False))

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self.timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def http_protocol_class() -> Callable[..., asyncio.Protocol]:
    """uvicorn's fastest HTTP/1.1 protocol here: httptools when installed, h11 otherwise."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def limited_protocol(limits: Limits, inner: Callable[..., asyncio.Protocol] | None = None) -> type[LimitedHTTP]:
    """A protocol class for ``uvicorn.Config(http=...)``: one server's connections under ``limits``."""
    attributes = {"inner_class": inner or http_protocol_class(), "book": Connections(limits)}
    return type("LimitedHTTP", (LimitedHTTP,), attributes)


def file_budget(wanted: int) -> int:
    """How many connections the process's open-file limit leaves room for (at most ``wanted``): a
    server past it could not accept anyone, ``/healthz`` included."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return wanted
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - min(DEFAULT_RESERVED_FILES, soft // 2)))


def raise_file_limit(wanted: int) -> None:
    """Raise this process's soft open-file limit towards ``wanted`` connections (never above the
    hard limit, never lower)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + DEFAULT_RESERVED_FILES
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # pragma: no cover - the system said no: file_budget copes
            pass
