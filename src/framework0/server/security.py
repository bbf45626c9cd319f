"""The server's front door: the bearer token, dashboard sessions and CSRF, the Origin allowlist,
body and JSON-depth limits, and the security headers of the dashboard.

``Guard`` is a pure ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streaming bodies
and does not see WebSockets). Wrap the whole app in it::

    token, source = load_or_create_token()
    app = Guard(create_app(...), token=token, allowed_origins=default_origins("127.0.0.1", 8765))

HTTP: every path but the exact ``public_paths`` needs ``Authorization: Bearer TOKEN`` (401
otherwise); bodies over ``max_body`` bytes get a 413, by Content-Length before the app runs, or
counted as the app reads a body sent without one.

WebSocket: a handshake whose Origin is not allowed is refused (HTTP 403, or close code 4403 on a
server without the denial-response extension); a wrong ``Authorization`` header is refused the
same way (401 / 4401). A handshake without the header reaches the app flagged unauthenticated
(``is_authenticated(scope)`` is false): the endpoint must then demand an ``{"op": "auth",
"token": ...}`` first message within its deadline and check it with ``ws_token_ok``.

With ``sessions`` (the dashboard), a valid ``f0_session`` cookie authenticates HTTP requests and
WebSocket handshakes that carry no ``Authorization`` header, like the token does. A POST, PUT,
PATCH or DELETE that only the cookie authenticates must also send the session's CSRF token, in the
``X-CSRF-Token`` header or the ``csrf`` field of a urlencoded form (403 otherwise). ``/login`` and
the files under ``/static/`` are public; a page (``GET /``, ``GET /runs/...``, ``GET /recipes/...``)
asked for without a session is redirected (303) to ``/login?next=PATH`` instead of getting the
401. Every response then carries the dashboard's Content-Security-Policy and the other security
headers (``SECURITY_HEADERS``).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlencode

from framework0.client.token import (
    token_problem,
)
from framework0.errors import BadRequestBody, BodyTooLarge, ServerError
from framework0.server.sessions import SESSION_COOKIE, Session, SessionStore, cookie_values, csrf_matches

try:
    import orjson
except ImportError as error:  # pragma: no cover - the server extra is missing
    raise ModuleNotFoundError(
        "the context server needs orjson: install it with: pip install 'framework0[server]'", name="orjson"
    ) from error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PUBLIC_PATHS = frozenset({"/healthz"})
DEFAULT_MAX_BODY = 1 << 20
DEFAULT_MAX_DEPTH = 64
AUTHENTICATED = "f0.authenticated"
"""The scope key ``Guard`` sets: true when the request carried the right bearer token or a valid session cookie."""
SESSION = "f0.session"
"""The scope key ``Guard`` sets to the ``Session`` whose cookie authenticated the request (None otherwise)."""
SESSIONS = "f0.sessions"
"""The scope key ``Guard`` sets to its ``SessionStore`` on a WebSocket a session opened (to watch it end)."""
LOGIN_PATH = "/login"
STATIC_PREFIX = "/static/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403

_ORIGIN_SETTING = re.compile(r"https?://[^/?#\s@]+")
_DIGITS = re.compile(r"[0-9]+")
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


# --- the token ---------------------------------------------------------------------------------


# --- checks --------------------------------------------------------------------------------------


def bearer_matches(header_value: str | None, token: str) -> bool:
    """Whether an ``Authorization`` value is ``Bearer <token>`` (scheme in any case), compared in constant time."""
    if header_value is None or not token:
        return False
    scheme, _, credentials = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def ws_token_ok(message_token: object, token: str) -> bool:
    """Whether the ``token`` of a WebSocket ``{"op": "auth"}`` message (or of the login form) is the
    server's token (constant time)."""
    if not isinstance(message_token, str) or not token:
        return False
    return hmac.compare_digest(message_token.encode(), token.encode())


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    """Whether a WebSocket handshake's ``Origin`` may connect.

    No Origin (a non-browser client) is allowed; ``null`` (sandboxed frames, ``file:`` pages) never is;
    any other must equal one of ``allowed`` (``scheme://host[:port]``, compared case-insensitively).
    A ``*`` in ``allowed`` matches nothing: ``Guard`` refuses to be configured with it.
    """
    if origin is None:
        return True
    candidate = origin.strip().lower()
    if candidate in ("", "null", "*"):
        return False
    return candidate in {_normalize_origin(entry) for entry in allowed}


def default_origins(host: str, port: int) -> tuple[str, ...]:
    """The origins of pages served by this server on loopback, plus ``http://HOST:PORT``."""
    hosts = ["127.0.0.1", "localhost", "::1"]
    if host not in ("", "0.0.0.0", "::"):  # a wildcard bind address is no page's origin
        hosts.append(host)
    origins = [_origin("http", name, port) for name in hosts]
    return tuple(dict.fromkeys(origins))


def _origin(scheme: str, host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host.lower()}" if port == default_port else f"{scheme}://{host.lower()}:{port}"


def _normalize_origin(origin: str) -> str:
    origin = origin.strip().lower().rstrip("/")
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if origin.startswith(f"{scheme}://") and origin.endswith(port):
            return origin.removesuffix(port)
    return origin


def _check_origin_setting(origin: str) -> str:
    normalized = _normalize_origin(origin)
    if normalized == "*":
        raise ServerError("allowed origins cannot be '*': list each origin, e.g. 'http://localhost:8765'")
    if not _ORIGIN_SETTING.fullmatch(normalized):
        raise ServerError(f"allowed origin {origin!r} is not scheme://host[:port], e.g. 'http://localhost:8765'")
    return normalized


def is_authenticated(scope: Mapping[str, Any]) -> bool:
    """Whether ``Guard`` saw the right bearer token or a valid session cookie on this request or WebSocket handshake."""
    return scope.get(AUTHENTICATED) is True


def session_of(scope: Mapping[str, Any]) -> Session | None:
    """The session whose cookie authenticated this request (None: the token did, or nothing did)."""
    session = scope.get(SESSION)
    return session if isinstance(session, Session) else None


def is_static(scope: Mapping[str, Any]) -> bool:
    """Whether a request is a GET or HEAD of a file under ``/static/``, named plainly: sent without
    percent-encoding, and no segment empty, ``.``, ``..`` or with characters other than letters,
    digits, ``.``, ``_`` and ``-``."""
    path = scope.get("path")
    if scope.get("method", "GET") not in ("GET", "HEAD") or not isinstance(path, str):
        return False
    if not path.startswith(STATIC_PREFIX) or not _sent_as_is(scope):
        return False
    return all(_STATIC_NAME.fullmatch(part) for part in path[len(STATIC_PREFIX) :].split("/"))


def is_page(scope: Mapping[str, Any]) -> bool:
    """Whether a request is for a dashboard page (``GET /``, ``GET /runs/...``, ``GET /recipes/...``)
    or the logout form: without a session it is sent to the login form, not given a 401."""
    method, path = scope.get("method"), str(scope.get("path", ""))
    if method in ("GET", "HEAD"):
        return path == "/" or path.startswith(("/runs/", "/recipes/"))
    return method == "POST" and path == "/logout"


def _sent_as_is(scope: Mapping[str, Any]) -> bool:
    raw_path = scope.get("raw_path")
    return raw_path is None or raw_path == b"" or bool(raw_path == str(scope.get("path")).encode())


# --- JSON ----------------------------------------------------------------------------------------


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value``: 0 for a scalar, 1 for ``[]`` or ``{"a": 1}``.

    Iterative, so any depth can be measured without hitting the recursion limit.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
    return deepest


def loads_bounded(body: bytes | bytearray | memoryview | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse a JSON body; ``BadRequestBody`` (400) when it is not JSON, (422) when nested deeper than ``max_depth``."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth" in error.msg.lower() or "recursion" in error.msg.lower():  # orjson's own limit (1024)
            raise BadRequestBody(f"JSON body nests deeper than {max_depth} levels", status=422) from None
        raise BadRequestBody(f"request body is not valid JSON: {error}") from None
    if json_depth(value) > max_depth:
        raise BadRequestBody(f"JSON body nests deeper than {max_depth} levels", status=422)
    return value


# --- the middleware ------------------------------------------------------------------------------


class Guard:
    """ASGI middleware that enforces the bearer token, the Origin allowlist and the body limit.

    ``public_paths`` are compared with the exact request path (a path that only decodes to one, such
    as ``/%68ealthz``, is not public). A body that goes past ``max_body`` while the app reads it gets a
    413 and the app's ``receive()`` raises ``BodyTooLarge``; whatever the app sends after that is
    dropped. If the app had already started its response, a 413 is impossible: the ``BodyTooLarge``
    then propagates out of ``Guard`` and the server aborts the connection.

    ``public_paths`` apply to HTTP only: a WebSocket always needs the token, in its handshake's
    ``Authorization`` header or (browsers cannot set headers) in its first message, or a session
    cookie when ``sessions`` is given.

    ``sessions`` turns the dashboard on (see the module's docstring): session cookies, CSRF
    checks, ``/login`` and ``/static/`` public, redirects to the login form, security headers.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        public_paths: frozenset[str] = DEFAULT_PUBLIC_PATHS,
        max_body: int = DEFAULT_MAX_BODY,
        allowed_origins: Collection[str] = (),
        sessions: SessionStore | None = None,
    ) -> None:
        problem = token_problem(token)
        if problem:
            raise ServerError(f"the server token {problem}")
        for path in public_paths:
            if not path.startswith("/"):
                raise ServerError(f"public path {path!r} must start with '/'")
        if max_body < 0:
            raise ServerError(f"max_body must be 0 or more bytes, not {max_body}")
        if isinstance(allowed_origins, str):
            raise ServerError(f"allowed_origins must be a collection of origins, not the string {allowed_origins!r}")
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.max_body = max_body
        self.allowed_origins = frozenset(_check_origin_setting(origin) for origin in allowed_origins)
        self.sessions = sessions
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:  # lifespan, and anything newer
            await self.app(scope, receive, send)

    def is_public(self, scope: Scope) -> bool:
        """Whether the request's path is exactly a public path, as sent (no encoding, no normalising);
        with the dashboard, also ``/login`` and a plainly named file under ``/static/``."""
        path = scope.get("path")
        if self.sessions is not None and (path == LOGIN_PATH and _sent_as_is(scope) or is_static(scope)):
            return True
        if path not in self.public_paths:
            return False
        return _sent_as_is(scope)

    def _session(self, scope: Scope) -> Session | None:
        """The session of the request's ``f0_session`` cookie, if it is valid (the first valid one)."""
        assert self.sessions is not None
        for value in cookie_values(_header_values(scope, b"cookie"), SESSION_COOKIE):
            session = self.sessions.find(value)
            if session is not None:
                return session
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = _header_values(scope, b"authorization")
        authenticated = len(authorization) == 1 and bearer_matches(authorization[0], self._token)
        session = None
        if self.sessions is not None:
            send = _with_security_headers(send, static=is_static(scope))
            if not authorization:  # a wrong token is refused even with a valid cookie
                session = self._session(scope)
        public = self.is_public(scope)
        if not authenticated and session is None and not public:
            if self.sessions is not None and is_page(scope):
                await _redirect_to_login(scope, send)
                return
            message = "missing or wrong bearer token: send 'Authorization: Bearer TOKEN'"
            await _send_json(send, 401, "Unauthorized", message, _CHALLENGE)
            return
        lengths = _header_values(scope, b"content-length")
        if lengths:
            if not all(_DIGITS.fullmatch(value.strip()) for value in lengths):
                await _send_json(send, 400, "BadRequestBody", f"invalid Content-Length {lengths[0]!r}", _CLOSE)
                return
            if max(int(value) for value in lengths) > self.max_body:
                await _send_json(send, 413, "BodyTooLarge", str(BodyTooLarge(self.max_body)), _CLOSE)
                return
        body = _CountedBody(receive, send, self.max_body)
        app_receive: Receive | None = body.receive
        if session is not None and not authenticated and not public and scope.get("method") in UNSAFE_METHODS:
            try:
                app_receive = await _check_csrf(scope, session, body)
            except BodyTooLarge:
                return  # answered with the 413
            if app_receive is None:
                message = (
                    "missing or wrong CSRF token: a request the session cookie authenticates must send "
                    "the session's token in the X-CSRF-Token header or the csrf form field"
                )
                await _send_json(send, 403, "Forbidden", message)
                return
        assert app_receive is not None
        inner = {**scope, AUTHENTICATED: authenticated or session is not None, SESSION: session}
        try:
            await self.app(inner, app_receive, body.send)
        except BodyTooLarge:
            if not body.refused:
                raise  # the response had started: let the server abort the connection

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        origins = _header_values(scope, b"origin")
        origin = origins[0] if origins else None
        if len(origins) > 1 or not origin_allowed(origin, self.allowed_origins):
            message = f"origin {origin!r} may not open a WebSocket here"
            await _deny_websocket(scope, receive, send, 403, "Forbidden", message, WS_CLOSE_FORBIDDEN)
            return
        authorization = _header_values(scope, b"authorization")
        if authorization and not (len(authorization) == 1 and bearer_matches(authorization[0], self._token)):
            message = "wrong bearer token"
            await _deny_websocket(scope, receive, send, 401, "Unauthorized", message, WS_CLOSE_UNAUTHORIZED)
            return
        # no valid cookie: the endpoint asks for an auth message, as it does of any client without a header
        session = self._session(scope) if self.sessions is not None and not authorization else None
        inner = {**scope, AUTHENTICATED: bool(authorization) or session is not None, SESSION: session}
        if session is not None:
            inner[SESSIONS] = self.sessions
        await self.app(inner, receive, send)


_CLOSE = [(b"connection", b"close")]
_CHALLENGE = [(b"www-authenticate", b'Bearer realm="framework0"')]


async def _check_csrf(scope: Scope, session: Session, body: _CountedBody) -> Receive | None:
    """The ``receive`` the app gets when the request carries the session's CSRF token; None when it
    does not. A urlencoded form is read here to find its ``csrf`` field, then replayed to the app."""
    header = _header_values(scope, CSRF_HEADER)
    if header:
        return body.receive if len(header) == 1 and csrf_matches(session, header[0].strip()) else None
    content_types = _header_values(scope, b"content-type")
    if len(content_types) != 1 or content_types[0].partition(";")[0].strip().lower() != _FORM:
        return None
    chunks = []
    while True:
        message = await body.receive()
        if message["type"] != "http.request":
            return None  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    data = b"".join(chunks)
    values = parse_qs(data.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD, [])
    if len(values) != 1 or not csrf_matches(session, values[0]):
        return None
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await body.receive()
        replayed = True
        return {"type": "http.request", "body": data, "more_body": False}

    return replay


_FORM = "application/x-www-form-urlencoded"


def _with_security_headers(send: Send, *, static: bool) -> Send:
    """``send`` adding the dashboard's security headers to the response (replacing the app's own);
    pages and API answers are never cached, static files are revalidated."""
    extra = [*SECURITY_HEADERS, (b"cache-control", b"no-cache" if static else b"no-store")]
    names = {name for name, _ in extra}

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(name, value) for name, value in message.get("headers", ()) if name.lower() not in names]
            message = {**message, "headers": [*kept, *extra]}
        await send(message)

    return send_with_headers


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    """303 to the login form, which sends the browser back to the page it asked for (GET only)."""
    location = LOGIN_PATH
    if scope.get("method") in ("GET", "HEAD"):
        target = str(scope.get("path", "/"))
        query = scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        location += "?" + urlencode({"next": target})
    headers = [(b"location", location.encode("latin-1", "replace")), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class _CountedBody:
    """The app's ``receive`` and ``send``, counting request body bytes against ``limit``."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.response_started = False
        self.refused = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                if not self.response_started and not self.refused:
                    self.refused = True
                    await _send_json(self._send, 413, "BodyTooLarge", str(BodyTooLarge(self.limit)), _CLOSE)
                raise BodyTooLarge(self.limit)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 is the answer: drop whatever the app answers to its failed read
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", ()) if key.lower() == name]


def _error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"error": {"type": error_type, "message": message}})


def _json_headers(body: bytes, extra: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]


async def _send_json(
    send: Send, status: int, error_type: str, message: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = _error_body(error_type, message)
    await send({"type": "http.response.start", "status": status, "headers": _json_headers(body, headers)})
    await send({"type": "http.response.body", "body": body})


async def _deny_websocket(
    scope: Scope, receive: Receive, send: Send, status: int, error_type: str, message: str, close_code: int
) -> None:
    """Refuse a handshake: an HTTP answer where the server has the denial-response extension, else a close."""
    if (await receive())["type"] != "websocket.connect":
        return  # the client has gone already
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = _error_body(error_type, message)
        headers = _json_headers(body, _CHALLENGE if status == 401 else [])
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": close_code})
