"""``ContextClient``: the context server's HTTP API from Python (sync, one keep-alive connection).

    with ContextClient("http://127.0.0.1:8765") as client:   # token: $F0_TOKEN or the token file
        version = client.change("jobs", increment={"done": 1})
        version, data = client.read("jobs")

Errors: a stale compare-and-set write raises ``ContextConflict`` (its ``conflicts`` name each stale
key's expected and current version); history the server no longer holds raises ``HistoryGone``
(HTTP 410; both are ``ContextError``, as in the server); anything else the server refuses, and a
server that cannot be reached, raises ``ServerError`` with the HTTP ``status`` (None when there was
no answer).

Retries: a request that fails on the way (connection refused or reset, a restarting server) is
retried with backoff (0.05 s doubling up to 1 s) for up to ``retry_for`` seconds when retrying is
safe: reads always; ``put`` and ``change`` always too, because they carry a ``write_id`` (a fresh
``uuid4().hex`` unless given) with which the server acknowledges a repeated write without writing
it twice. Other writes are retried only when the request cannot have reached the server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from framework0.context.merge import ChangeRequest
from framework0.errors import ContextConflict, HistoryGone, ServerError, UsageError

__all__ = ["ContextClient"]

API = "/api/v1"
FIRST_DELAY = 0.05  # seconds before the first retry; doubles up to MAX_DELAY
MAX_DELAY = 1.0


def default_token() -> str | None:
    """``$F0_TOKEN``, else the token file's; ``None`` when neither exists."""
    from framework0.client.token import read_token

    return read_token()


def check_url(url: str) -> str:
    """``url`` without a trailing slash; ServerError unless it is an http(s) URL."""
    if not url.startswith(("http://", "https://")):
        raise ServerError(
            f"context server URL {url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8765)"
        )
    return url.rstrip("/")


def refused_token(url: str, token: str | None) -> ServerError:
    if token is None:
        message = f"the context server at {url} needs a token and none was found: set F0_TOKEN or pass token="
    else:
        message = (
            f"the context server at {url} refused the token: set F0_TOKEN (or pass token=) to the token "
            "`f0 serve` uses (printed when it starts)"
        )
    return ServerError(message, status=401)


class ContextClient:
    """A client of one context server. Thread-safe; ``close()`` it (or use ``with``) when done.

    ``token`` defaults to ``$F0_TOKEN`` or the token file (see ``f0 serve``). ``timeout`` bounds each
    request; ``retry_for`` bounds how long a request that cannot reach the server is retried (0: never).
    ``transport`` replaces httpx's (tests pass an ``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry_for: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = check_url(url)
        self.token = token if token is not None else default_token()
        self.retry_for = retry_for
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ContextClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ContextClient({self.url!r})"

    # -- the server -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "store": dialect}``, or ``{"status": "unavailable", "store": why}`` (no token needed)."""
        response = self._send("GET", "/healthz", retry=True)
        if response.status_code == 503:
            return dict(response.json())
        return dict(self._answer(response))

    # -- contexts ---------------------------------------------------------------------------------

    def contexts(self) -> list[dict[str, Any]]:
        """Every named context: ``{"name", "version", "oldest", "strategies", "created_at"}``."""
        return list(self._call("GET", f"{API}/contexts")["contexts"])

    def create(self, name: str, strategies: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Create ``name`` with its merge rules (``{pattern: strategy}``); the same rules again is no error.

        A context of that name with other rules raises ServerError (409): see ``set_strategies``.
        """
        body = {"name": name, "strategies": dict(strategies or {})}
        return dict(self._call("POST", f"{API}/contexts", json=body, retry=True))

    def set_strategies(self, name: str, strategies: Mapping[str, str]) -> dict[str, Any]:
        """Replace the merge rules of ``name`` (creating it if needed); later writes merge by them."""
        body = {"strategies": dict(strategies)}
        return dict(self._call("PUT", f"{_context(name)}/strategies", json=body, retry=True))

    def read(self, name: str, *, at: int | None = None) -> tuple[int, dict[str, Any]]:
        """The context's version and data (``at``: as it was at that version; HistoryGone if too old).

        A context never written reads as version 0, empty.
        """
        params = {"at": at} if at is not None else None
        answer = self._call("GET", _context(name), params=params)
        return int(answer["version"]), dict(answer["data"])

    def get(self, name: str, key: str) -> tuple[Any, int] | None:
        """``(value, version)`` of one key (the version of the change that last wrote it); None if absent."""
        response = self._send("GET", f"{_context(name)}/keys/{_part(key)}", retry=True)
        if response.status_code == 404 and _error_type(response) == "KeyNotFound":
            return None
        answer = self._answer(response)
        return answer["value"], int(answer["version"])

    def put(
        self,
        name: str,
        key: str,
        value: Any,
        *,
        expected_version: int | None = None,
        source: Mapping[str, Any] | None = None,
        write_id: str | None = None,
    ) -> int:
        """Write one key; the new context version. With ``expected_version`` (0: the key must not
        exist), only if the key is still at that version, else ContextConflict and nothing is written.

        ``write_id`` (default: a fresh one) makes a retry of this write harmless: see the module docs.
        """
        body: dict[str, Any] = {"value": value, "write_id": write_id or uuid.uuid4().hex}
        if expected_version is not None:
            body["expected_version"] = expected_version
        if source is not None:
            body["source"] = dict(source)
        return int(self._call("PUT", f"{_context(name)}/keys/{_part(key)}", json=body, retry=True)["version"])

    def delete(self, name: str, key: str, *, expected_version: int | None = None) -> int:
        """Remove one key; the context version after it (removing an absent key changes nothing).

        With ``expected_version``, only if the key is still at that version, else ContextConflict.
        Such a compare-and-set delete is not retried once it may have reached the server (its retry
        could report a conflict with itself); a plain delete is.
        """
        params = {"expected_version": expected_version} if expected_version is not None else None
        path = f"{_context(name)}/keys/{_part(key)}"
        return int(self._call("DELETE", path, params=params, retry=expected_version is None)["version"])

    def change(
        self,
        name: str,
        request: ChangeRequest | None = None,
        *,
        set: Mapping[str, Any] | None = None,
        delete: list[str] | tuple[str, ...] | None = None,
        increment: Mapping[str, int | float] | None = None,
        add: Mapping[str, list[Any]] | None = None,
        remove: Mapping[str, list[Any]] | None = None,
        expected: Mapping[str, int] | None = None,
        source: Mapping[str, Any] | None = None,
        write_id: str | None = None,
    ) -> int:
        """One atomic change (all of it or nothing); the new context version.

        Pass a ``ChangeRequest``, or its fields as keywords. ``expected`` maps keys to the versions
        read (0: must not exist); a stale one raises ContextConflict unless the key's merge strategy
        ignores it. ``write_id`` (default: a fresh one) makes a retry of this write harmless.
        """
        body: dict[str, Any] = {}
        for field, value in (("set", set), ("increment", increment), ("add", add), ("remove", remove)):
            if value is not None:
                body[field] = dict(value)
        if delete is not None:
            body["delete"] = list(delete)
        if expected is not None:
            body["expected"] = dict(expected)
        if request is not None and body:
            raise UsageError(f"change(): pass a ChangeRequest or keywords ({', '.join(body)}), not both")
        if request is None:
            request = ChangeRequest.from_json(body)
        body = {**request.to_json(), "write_id": write_id or uuid.uuid4().hex}
        if source is not None:
            body["source"] = dict(source)
        return int(self._call("POST", f"{_context(name)}/changes", json=body, retry=True)["version"])

    def history(
        self, name: str, *, since: int = 0, key: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Each key's change after version ``since``, oldest first: ``{"version", "key", "op", "old",
        "new", "at", "source"}`` (only ``key``'s, at most ``limit`` changes). HistoryGone when the
        server no longer holds version ``since``."""
        params: dict[str, Any] = {"since": since}
        if key is not None:
            params["key"] = key
        if limit is not None:
            params["limit"] = limit
        return list(self._call("GET", f"{_context(name)}/history", params=params)["changes"])

    def diff(self, name: str, start: int, end: int | None = None) -> dict[str, Any]:
        """What changed from version ``start`` to ``end`` (default: the current one):
        ``{"added": {key: value}, "removed": {key: value}, "changed": {key: {"old", "new"}}}``."""
        params: dict[str, Any] = {"from": start}
        if end is not None:
            params["to"] = end
        return dict(self._call("GET", f"{_context(name)}/diff", params=params))

    # -- runs -------------------------------------------------------------------------------------

    def runs(self, *, recipe: str | None = None, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The server's runs, newest first (``recipe``: a test id or the end of a recipe path)."""
        params: dict[str, Any] = {"limit": limit}
        if recipe is not None:
            params["recipe"] = recipe
        if status is not None:
            params["status"] = status
        return list(self._call("GET", f"{API}/runs", params=params)["runs"])

    def run(self, run_id: str) -> dict[str, Any]:
        """A run's result document (as ``f0 runs show RUN --json``); ServerError (404) if unknown."""
        return dict(self._call("GET", f"{API}/runs/{_part(run_id)}"))

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        """A run's events as recorded, oldest first (their JSON form, see framework0.events.wire)."""
        return list(self._call("GET", f"{API}/runs/{_part(run_id)}/events")["events"])

    def post_events(self, run_id: str, events: list[dict[str, Any]]) -> int:
        """Publish a runner's events (JSON form, in order) on the server; how many it received.

        Not retried once the request may have reached the server (the events would be posted twice).
        """
        body = {"events": events}
        return int(self._call("POST", f"{API}/runs/{_part(run_id)}/events", json=body, retry=False)["received"])

    # -- the wire ---------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
    ) -> Any:
        """The JSON answer of a request; ``retry`` (default: for GET) allows retrying it after any
        transport error, not only one that happened before the request was sent."""
        response = self._send(method, path, params=params, json=json, retry=method == "GET" if retry is None else retry)
        return self._answer(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool,
    ) -> httpx.Response:
        deadline = time.monotonic() + self.retry_for
        delay = FIRST_DELAY
        while True:
            try:
                return self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as error:
                # a connection that was never made carried nothing: any request may go again
                unsent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
                if not (retry or unsent) or time.monotonic() + delay > deadline:
                    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                    raise ServerError(
                        f"cannot reach the context server at {self.url}: {reason}; is `f0 serve` running there?"
                    ) from None
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    def _answer(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            try:
                return response.json()
            except ValueError:
                raise ServerError(
                    f"the context server at {self.url} answered {response.request.method} "
                    f"{response.request.url.path} with something that is not JSON",
                    status=status,
                ) from None
        if status == 401:
            raise refused_token(self.url, self.token)
        body = _json_or_none(response)
        message = _message(body, response)
        if status == 409 and isinstance(body, dict) and isinstance(body.get("conflicts"), dict) and body["conflicts"]:
            raise ContextConflict(
                {key: (int(entry["expected"]), int(entry["current"])) for key, entry in body["conflicts"].items()}
            )
        if status == 410:
            oldest = body.get("oldest") if isinstance(body, dict) else None
            raise HistoryGone(message, oldest=oldest if isinstance(oldest, int) else None)
        raise ServerError(message, status=status)


def _context(name: str) -> str:
    return f"{API}/contexts/{_part(name)}"


def _part(value: str) -> str:
    """``value`` as one URL path segment ("/" and the like percent-encoded)."""
    return quote(value, safe="")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_type(response: httpx.Response) -> str | None:
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _message(body: Any, response: httpx.Response) -> str:
    """The server's one-line message for a refused request, or a description of what came back."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str) and message:
        return message.splitlines()[0]
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else "no message"
    request = response.request
    return f"the context server answered {request.method} {request.url.path} with HTTP {response.status_code}: {text}"
