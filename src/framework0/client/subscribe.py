"""Live subscriptions over the context server's WebSocket (``/api/v1/ws``), each in a background thread.

    with Subscription("http://127.0.0.1:8765", "jobs", since=0) as sub:
        for change in sub:          # {"version", "at", "source", "changes": [{"key", "op", "old", "new"}]}
            print(change["version"], change["changes"])

A ``Subscription`` delivers every change of one context exactly once, in version order: each is
checked to follow the one before it (version + 1). When the connection drops (a server restart, the
network) it reconnects with backoff and subscribes again from the last version it delivered, so
nothing is missed or repeated. History the server no longer holds ends it with ``HistoryGone``; a
refused token or origin ends it with ``ServerError``: those are not retried. It sends a ping every
``ping_interval`` seconds so that the server never closes it as idle.

A ``RunSubscription`` delivers the events of one run (or of every run: ``"*"``) as their JSON form.
Events published while it was disconnected are not replayed: ``ContextClient.run_events`` has the
record.
"""

from __future__ import annotations

import abc
import collections
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from framework0.client.http import FIRST_DELAY, MAX_DELAY, check_url, default_token, refused_token
from framework0.errors import HistoryGone, ServerError, UsageError
from framework0.events.wire import EVENT_TYPES

try:
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
    from websockets.sync.client import ClientConnection, connect
    from websockets.typing import Origin
except ImportError as error:  # pragma: no cover - the extra is missing
    # a ModuleNotFoundError naming the module: f0 serve and --context-server print their install hint
    raise ModuleNotFoundError(
        "live subscriptions need websockets: pip install 'framework0[server]'", name="websockets"
    ) from error

__all__ = ["RunSubscription", "Subscription"]

PING_INTERVAL = 30.0  # seconds between pings (the server closes a WebSocket idle for 300 s by default)
OPEN_TIMEOUT = 10.0  # seconds for the TCP connection and the WebSocket handshake
CLOSE_TIMEOUT = 1.0  # seconds to wait for the server's answer to a close
JOIN_TIMEOUT = 5.0  # seconds close() waits for the background thread

# close codes that mean "do not come back" (the server's CLOSE_UNAUTHENTICATED and the guard's forbidden)
_CLOSE_UNAUTHENTICATED = 4401
_CLOSE_FORBIDDEN = 4403


class _Fatal(Exception):
    """Stop for good, with ``error`` for the user."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Lost(Exception):
    """Reconnect: the connection broke or the server asked us to come back."""


class _Stream(abc.ABC):
    """A WebSocket to the server in a background thread: connects, subscribes, pings, reconnects.

    Subclasses say what to subscribe to and what a frame delivers; items are handed to ``callback``
    or queued for ``get()`` and iteration.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        callback: Callable[[dict[str, Any]], None] | None,
        reconnect: bool,
        origin: str | None,
        ping_interval: float,
        name: str,
    ) -> None:
        self.url = check_url(url)
        scheme, rest = self.url.split("://", 1)
        self.ws_url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/v1/ws"
        self.token = token if token is not None else default_token()
        self.origin = origin
        self.reconnect = reconnect
        self.ping_interval = ping_interval
        #: how many times a connection was opened and subscribed (1 + the reconnects)
        self.connections = 0
        self._callback = callback
        self._items: collections.deque[dict[str, Any]] = collections.deque()
        self._condition = threading.Condition()
        self._error: BaseException | None = None
        self._closed = False
        self._subscribed = False
        self._stop = threading.Event()
        self._websocket: ClientConnection | None = None
        self._subscribed_this_time = False  # the current connection got as far as "subscribed"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _start(self) -> None:
        self._thread.start()

    # -- the public surface -----------------------------------------------------------------------

    @property
    def error(self) -> BaseException | None:
        """Why the subscription stopped (HistoryGone, a refused token, a callback's error), or None."""
        return self._error

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called or an error stopped the subscription."""
        return self._closed or self._error is not None

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Wait until the server confirmed the first subscription; False on timeout. Raises the error
        that stopped the subscription, if any."""
        with self._condition:
            self._condition.wait_for(lambda: self._subscribed or self.closed, timeout)
            if self._subscribed:
                return True
            if self._error is not None:
                raise self._error
            return False

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next item, waiting up to ``timeout`` seconds (None: until one comes or ``close()``);
        None on timeout or once closed. Raises the error that stopped the subscription, after the
        items received before it."""
        if self._callback is not None:
            raise UsageError(f"{type(self).__name__} was given a callback: its items go there, not to get()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._items:
                if self._error is not None:
                    raise self._error
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._condition.wait(remaining)
            return self._items.popleft()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Each item as it comes, until ``close()`` (or the error that stopped the subscription)."""
        while True:
            item = self.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Stop: close the WebSocket and wait (a few seconds at most) for the background thread."""
        self._stop.set()
        with self._condition:
            self._closed = True
            websocket = self._websocket
            self._condition.notify_all()
        if websocket is not None:
            websocket.close()
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT)

    # -- the background thread --------------------------------------------------------------------

    @abc.abstractmethod
    def _subscribe_message(self) -> dict[str, Any]:
        """The message that (re)subscribes, from where the last delivery left off."""

    @abc.abstractmethod
    def _frame(self, frame: dict[str, Any]) -> None:
        """Handle one frame the server sent."""

    def _deliver(self, item: dict[str, Any], after: Callable[[], None] | None = None) -> None:
        """Hand ``item`` over (callback or queue), then run ``after`` under the lock and wake waiters."""
        if self._callback is not None:
            try:
                self._callback(item)
            except Exception as error:
                raise _Fatal(error) from error
            with self._condition:
                if after is not None:
                    after()
                self._condition.notify_all()
            return
        with self._condition:
            self._items.append(item)
            if after is not None:
                after()
            self._condition.notify_all()

    def _run(self) -> None:
        try:
            self._reconnecting()
        except Exception as error:  # a bug here must reach the user, not die with the thread
            self._fail(error)

    def _reconnecting(self) -> None:
        delay = FIRST_DELAY
        while not self._stop.is_set():
            try:
                self._connect_and_listen()
            except _Fatal as fatal:
                self._fail(fatal.error)
                return
            except _Lost as lost:
                if self._stop.is_set():
                    return
                if not self.reconnect:
                    self._fail(ServerError(f"lost the WebSocket to the context server at {self.url}: {lost}"))
                    return
            if self._subscribed_this_time:
                delay = FIRST_DELAY  # it worked for a while: come back quickly
            self._stop.wait(delay)
            delay = min(delay * 2, MAX_DELAY)

    def _connect_and_listen(self) -> None:
        self._subscribed_this_time = False
        websocket = self._open()
        try:
            with self._condition:
                if self._stop.is_set():
                    return
                self._websocket = websocket
            self._listen(websocket)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            if code == _CLOSE_UNAUTHENTICATED:
                raise _Fatal(refused_token(self.url, self.token)) from None
            if code == _CLOSE_FORBIDDEN:
                raise _Fatal(self._forbidden()) from None
            raise _Lost(str(closed)) from None
        except (OSError, TimeoutError) as error:
            raise _Lost(str(error) or type(error).__name__) from None
        finally:
            with self._condition:
                self._websocket = None
            websocket.close()

    def _open(self) -> ClientConnection:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            return connect(
                self.ws_url,
                additional_headers=headers,
                origin=Origin(self.origin) if self.origin is not None else None,
                open_timeout=OPEN_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=None,  # a catch-up after a reconnect comes as one frame of every missed change
                legacy=True,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            if status == 401:
                raise _Fatal(refused_token(self.url, self.token)) from None
            if status == 403:
                raise _Fatal(self._forbidden()) from None
            if status == 404:
                raise _Fatal(
                    ServerError(f"no WebSocket at {self.ws_url}: is {self.url} a context server?", status=404)
                ) from None
            raise _Lost(f"the handshake was answered with HTTP {status}") from None
        except InvalidURI as error:
            raise _Fatal(ServerError(f"cannot open a WebSocket to {self.ws_url}: {error}")) from None
        except (OSError, TimeoutError, InvalidHandshake) as error:
            raise _Lost(str(error) or type(error).__name__) from None

    def _forbidden(self) -> ServerError:
        return ServerError(
            f"the context server at {self.url} refused a WebSocket from origin {self.origin!r}: "
            "start it with --allow-origin for that origin, or send none",
            status=403,
        )

    def _listen(self, websocket: ClientConnection) -> None:
        websocket.send(json.dumps(self._subscribe_message()))
        next_ping = time.monotonic() + self.ping_interval
        while not self._stop.is_set():
            try:
                raw = websocket.recv(timeout=max(0.0, next_ping - time.monotonic()))
            except TimeoutError:
                websocket.send('{"op": "ping"}')
                next_ping = time.monotonic() + self.ping_interval
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                raise _Fatal(ServerError(f"the context server at {self.url} sent a frame that is not a JSON object"))
            if frame.get("type") == "error":
                self._server_error(frame)
            else:
                self._frame(frame)

    def _subscribed_now(self) -> None:
        self._subscribed_this_time = True
        with self._condition:
            self.connections += 1
            self._subscribed = True
            self._condition.notify_all()

    def _server_error(self, frame: dict[str, Any]) -> None:
        error = frame.get("error")
        if not isinstance(error, dict):
            error = {}
        kind, message = error.get("type"), str(error.get("message") or "no message")
        if kind == "HistoryGone":
            oldest = frame.get("oldest")
            raise _Fatal(HistoryGone(message, oldest=oldest if isinstance(oldest, int) else None))
        if kind == "StoreError":  # the server's store failed for a moment: come back later
            raise _Lost(message)
        raise _Fatal(ServerError(f"the context server at {self.url} refused the subscription: {message}"))

    def _fail(self, error: BaseException) -> None:
        with self._condition:
            if not self._closed:
                self._error = error
            self._condition.notify_all()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Subscription(_Stream):
    """Every change of one context, in version order, live (see the module docs).

    ``since``: deliver the changes after that version first (0: the whole history; None: only
    changes from now on). Changes go to ``on_change`` (called in the background thread; an
    exception from it stops the subscription) or, without it, to ``get()`` and iteration.
    ``origin`` is sent as the handshake's Origin (browsers' origin rules; leave None from Python).
    """

    def __init__(
        self,
        url: str,
        context: str,
        *,
        token: str | None = None,
        since: int | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        reconnect: bool = True,
        origin: str | None = None,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        super().__init__(
            url,
            token=token,
            callback=on_change,
            reconnect=reconnect,
            origin=origin,
            ping_interval=ping_interval,
            name=f"f0-subscription-{context}",
        )
        self.context = context
        self._since = since
        self._version: int | None = since
        self._start()

    def __enter__(self) -> Subscription:
        return self

    @property
    def version(self) -> int | None:
        """The last version delivered (or ``since``, or the version subscribed at); None until the
        first subscription is confirmed when ``since`` was None."""
        return self._version

    def wait_for_version(self, version: int, timeout: float | None = None) -> bool:
        """Wait until ``version`` was delivered; False on timeout or close. Raises the error that
        stopped the subscription (the version can then never come)."""
        with self._condition:
            self._condition.wait_for(lambda: (self._version or 0) >= version or self.closed, timeout)
            if (self._version or 0) >= version:
                return True
            if self._error is not None:
                raise self._error
            return False

    def _subscribe_message(self) -> dict[str, Any]:
        return {"op": "subscribe", "context": self.context, "since": self._version}

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "subscribed" and frame.get("context") == self.context:
            start = frame.get("since")
            if not isinstance(start, int):
                raise _Fatal(ServerError(f"the context server at {self.url} confirmed no version: {frame}"))
            with self._condition:
                if self._version is None:
                    self._version = start
                elif start != self._version:
                    raise _Fatal(self._out_of_order(start, "subscribed from"))
            self._subscribed_now()
        elif kind == "changes" and frame.get("context") == self.context:
            for change in frame.get("changes") or ():
                version = change.get("version")
                last = self._version
                if last is None or version != last + 1:
                    raise _Fatal(self._out_of_order(version, "sent version"))
                self._deliver(change, after=functools.partial(self._advance, version))

    def _advance(self, version: int) -> None:
        self._version = version

    def _out_of_order(self, version: Any, what: str) -> ServerError:
        return ServerError(
            f"the context server at {self.url} {what} {version!r} of context {self.context!r} after version "
            f"{self._version}: versions must follow one by one (a server bug); subscribe again from "
            f"{self._version}"
        )


class RunSubscription(_Stream):
    """The events of one run (``"*"``: of every run), live, as their JSON form (framework0.events.wire).

    Events go to ``on_event`` (called in the background thread) or to ``get()`` and iteration.
    Events published while the connection was down are not replayed.
    """

    def __init__(
        self,
        url: str,
        run: str = "*",
        *,
        token: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        reconnect: bool = True,
        origin: str | None = None,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        super().__init__(
            url,
            token=token,
            callback=on_event,
            reconnect=reconnect,
            origin=origin,
            ping_interval=ping_interval,
            name=f"f0-run-subscription-{run}",
        )
        self.run = run
        self._start()

    def __enter__(self) -> RunSubscription:
        return self

    def _subscribe_message(self) -> dict[str, Any]:
        return {"op": "subscribe", "run": self.run}

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "subscribed" and frame.get("run") == self.run:
            self._subscribed_now()
        elif kind == "event" and isinstance(frame.get("event"), dict):
            self._deliver(frame["event"])
        elif kind in EVENT_TYPES:  # the hub sends an event as it is, not in an "event" frame
            self._deliver(frame)
