"""Dashboard sessions: browsers that logged in with the server's token, kept in memory.

The login form (``/login``) trades the token for a session: a random id the browser keeps in the
``f0_session`` cookie (HttpOnly, SameSite=Strict, Path=/) and a CSRF token the pages carry, which
every state-changing request the cookie authenticates must send back (``X-CSRF-Token`` or the
``csrf`` form field)::

    sessions = SessionStore()
    session_id, session = sessions.create()        # after the right token was typed
    cookie = session_cookie(session_id, max_age=sessions.lifetime_s, secure=False)  # a Set-Cookie value
    sessions.find(session_id)                      # the Session, or None once it expired or ended

Sessions live in this process only: a restart (or another server sharing the store) knows none of
them, and the browser is sent to the login form again. A session ends ``lifetime_s`` after the
login whatever happens, ``idle_s`` after the last request it authenticated, or when the store
already holds ``max_sessions`` newer ones.

The login form has a CSRF token of its own before any session exists: ``login_form()`` gives a
short-lived cookie value (``f0_login``) and the form field that goes with it, an HMAC of the cookie
value under a key that never leaves the process, so a page of another site can neither read the
pair nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SESSION_COOKIE = "f0_session"
LOGIN_COOKIE = "f0_login"
DEFAULT_LIFETIME_S = 12 * 3600.0
DEFAULT_IDLE_S = 2 * 3600.0
DEFAULT_MAX_SESSIONS = 1000
LOGIN_FORM_LIFETIME_S = 15 * 60.0


@dataclass
class Session:
    """One logged-in browser: its CSRF token, and when it logged in and was last seen (clock seconds)."""

    csrf: str
    created_at: float
    seen_at: float
    ended: bool = False  # logged out, or found expired


class SessionStore:
    """Sessions by id, thread-safe and bounded; ids are looked up by their SHA-256.

    A lookup compares digests of what the client sent, never the stored ids themselves, so its
    timing says nothing about them; CSRF tokens are compared with ``hmac.compare_digest``.
    """

    def __init__(
        self,
        *,
        lifetime_s: float = DEFAULT_LIFETIME_S,
        idle_s: float = DEFAULT_IDLE_S,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lifetime_s <= 0 or idle_s <= 0:
            raise ValueError(f"session lifetimes must be positive, not {lifetime_s!r} and {idle_s!r}")
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be 1 or more, not {max_sessions!r}")
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()  # least recently seen first
        self._lock = threading.Lock()
        self._form_key = secrets.token_bytes(32)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def create(self) -> tuple[str, Session]:
        """A new session: its id (for the cookie only) and the session. Makes room by dropping the
        expired sessions, then the least recently seen ones."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(csrf=secrets.token_urlsafe(32), created_at=now, seen_at=now)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._drop_expired(now)
            while len(self._sessions) >= self.max_sessions:
                self._sessions.popitem(last=False)[1].ended = True
            self._sessions[_digest(session_id)] = session
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        """The live session with this id (and it counts as seen now); None if there is none, or it
        expired (it is then forgotten)."""
        if not session_id:
            return None
        key = _digest(session_id)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[key]
                session.ended = True
                return None
            session.seen_at = now
            self._sessions.move_to_end(key)
            return session

    def end(self, session_id: str | None) -> bool:
        """Forget a session (logout); whether there was one."""
        if not session_id:
            return False
        with self._lock:
            session = self._sessions.pop(_digest(session_id), None)
        if session is None:
            return False
        session.ended = True
        return True

    def alive(self, session: Session) -> bool:
        """Whether a session found earlier still holds: not logged out, not expired (an open
        WebSocket asks this, so that signing out closes it)."""
        return not session.ended and not self._expired(session, self._clock())

    def login_form(self) -> tuple[str, str]:
        """A new login form's ``f0_login`` cookie value and the ``csrf`` field that must come back with it."""
        cookie = f"{secrets.token_urlsafe(24)}.{int(self._clock())}"
        return cookie, self._form_signature(cookie)

    def login_form_ok(self, cookie: str | None, csrf: str | None) -> bool:
        """Whether a posted login form's ``csrf`` field goes with its ``f0_login`` cookie, issued by
        this process less than ``LOGIN_FORM_LIFETIME_S`` ago."""
        if not cookie or not csrf:
            return False
        _, _, issued = cookie.rpartition(".")
        if not issued.isdigit() or not 0 <= self._clock() - int(issued) <= LOGIN_FORM_LIFETIME_S:
            return False
        return hmac.compare_digest(csrf.encode(), self._form_signature(cookie).encode())

    def _form_signature(self, cookie: str) -> str:
        return hmac.new(self._form_key, b"f0-login-form\0" + cookie.encode(), hashlib.sha256).hexdigest()

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.created_at > self.lifetime_s or now - session.seen_at > self.idle_s

    def _drop_expired(self, now: float) -> None:
        for key in [key for key, session in self._sessions.items() if self._expired(session, now)]:
            self._sessions.pop(key).ended = True


def csrf_matches(session: Session, candidate: str | None) -> bool:
    """Whether ``candidate`` is the session's CSRF token (constant time)."""
    if not candidate:
        return False
    return hmac.compare_digest(candidate.encode(), session.csrf.encode())


def cookie_values(headers: Iterable[str], name: str) -> list[str]:
    """Every value of the cookie ``name`` in ``Cookie`` header values, in order (a browser may send
    two cookies of one name when their paths differ)."""
    values = []
    for header in headers:
        for pair in header.split(";"):
            key, sep, value = pair.partition("=")
            if sep and key.strip() == name:
                values.append(value.strip().strip('"'))
    return values


def session_cookie(session_id: str, *, max_age: float, secure: bool) -> str:
    """The ``Set-Cookie`` value that gives a browser its session (kept ``max_age`` seconds at most)."""
    return _cookie(SESSION_COOKIE, session_id, max_age=int(max_age), path="/", secure=secure)


def login_cookie(value: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` value of a login form's pre-session cookie (sent back to ``/login`` only)."""
    return _cookie(LOGIN_COOKIE, value, max_age=int(LOGIN_FORM_LIFETIME_S), path="/login", secure=secure)


def expired_cookie(name: str, *, path: str, secure: bool) -> str:
    """The ``Set-Cookie`` value that makes a browser drop the cookie ``name``."""
    return _cookie(name, "", max_age=0, path=path, secure=secure)


def _cookie(name: str, value: str, *, max_age: int, path: str, secure: bool) -> str:
    attributes = [f"{name}={value}", f"Max-Age={max_age}", f"Path={path}", "HttpOnly", "SameSite=Strict"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).digest()
