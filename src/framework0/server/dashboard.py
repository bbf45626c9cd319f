"""The dashboard's routes: the runs page, a run's page, the token login form, logout, static files.

``install(app, sessions)`` adds them to the server's FastAPI app (out of its OpenAPI document: they
answer HTML). ``Guard`` has already decided who may see what (see ``server.security``): a page
reached here was authenticated by the bearer token or a session cookie, and a POST that only the
cookie authenticated carried the session's CSRF token. The routes do the rest:

- ``GET /login`` serves the form with a login CSRF token (an HMAC of a short-lived ``f0_login``
  cookie, ``SessionStore.login_form``); ``POST /login`` checks it, then the token, and on success
  gives the browser a new session cookie and a 303 to ``next`` (a local path only);
- ``POST /logout`` ends the session and sends the browser to the login form;
- no GET changes anything, and the token never appears in a URL.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from framework0.errors import RunNotFound
from framework0.server.routes_contexts import state_of
from framework0.server.routes_runs import listed_runs
from framework0.server.security import session_of, ws_token_ok
from framework0.server.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SessionStore,
    cookie_values,
    expired_cookie,
    login_cookie,
    session_cookie,
)

if TYPE_CHECKING:
    from framework0.history import RunSummary
    from framework0.store.database import Store

router = APIRouter(include_in_schema=False)

WRONG_TOKEN_DELAY_S = 0.5
"""How long a wrong token waits for its answer: slows guessing down (the token has 256 random bits)."""
MAX_NEXT_LENGTH = 2000
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{4,64}")
_STATUSES = ("running", "succeeded", "failed", "cancelled")
RECIPE_DAYS = 90
"""How far back a recipe's page reads its runs."""
RECIPE_RUNS = 1000
"""At most this many of them, the newest."""


def install(app: FastAPI, sessions: SessionStore) -> None:
    """Add the dashboard to ``app``: its routes, and ``/static`` from ``framework0.viz.pages.STATIC_DIR``."""
    from framework0.viz.pages import STATIC_DIR

    app.state.sessions = sessions
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, follow_symlink=False), name="static")


def local_path(candidate: str | None) -> str:
    """``candidate`` if it is a path on this server (one leading ``/``, no scheme, no host, no
    backslash or control character), else ``/``: the login form never sends a browser elsewhere."""
    if not candidate or len(candidate) > MAX_NEXT_LENGTH or not candidate.startswith("/"):
        return "/"
    if candidate.startswith("//") or "\\" in candidate or any(ord(char) < 0x20 or char == "\x7f" for char in candidate):
        return "/"
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return "/"
    return candidate


# --- pages ---------------------------------------------------------------------------------------


@router.get("/")
async def runs_page(
    request: Request,
    recipe: str | None = Query(None, max_length=500),
    status: str | None = Query(None, max_length=20),
    limit: int = Query(500, ge=1, le=10_000),
) -> Response:
    """The runs, newest first (``recipe`` and ``status`` filter them as ``/api/v1/runs`` does)."""
    from framework0.viz.pages import render_runs_page

    store = state_of(request).store
    wanted = status if status in _STATUSES else None
    runs = await run_in_threadpool(_runs, store, recipe or None, wanted, limit)
    return HTMLResponse(render_runs_page(runs=runs, csrf=_csrf(request)))


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    """One run: graph, timeline, steps, logs and context, kept live by ``/static/run.js``."""
    from framework0.viz.pages import render_run_page
    from framework0.viz.run_view import run_view

    if not _RUN_ID.fullmatch(run_id):
        return _not_found(f"{run_id!r} is not a run id")
    store = state_of(request).store
    try:
        view = await run_in_threadpool(run_view, store, run_id)
    except RunNotFound as error:
        return _not_found(str(error))
    links = await run_in_threadpool(_run_links, store, view["run"])
    return HTMLResponse(render_run_page(view, csrf=_csrf(request), links=links))


@router.get("/recipes/{recipe:path}")
async def recipe_page(request: Request, recipe: str) -> Response:
    """One recipe's run history (``recipe``: its test id, else its path): a status strip of its last
    runs, charts of each step's duration and memory over them with the findings of ``f0 analyze``
    marked, its flaky steps."""
    store = state_of(request).store
    try:
        page = await run_in_threadpool(_recipe_page, store, recipe, _csrf(request))
    except ImportError as error:
        return _not_found(
            f"the run history page needs {error.name}: pip install 'framework0[analysis]' where f0 serve runs",
            title="Run history unavailable",
            status_code=501,
        )
    if page is None:
        return _not_found(f"no runs of recipe {recipe!r} in the last {RECIPE_DAYS} days", title="Recipe not found")
    return HTMLResponse(page)


def _recipe_runs(store: Store, key: str, **where: Any) -> list[RunSummary]:
    """The runs of the recipe whose key (test id, else path) is ``key``, newest first."""
    from framework0.analysis.series import recipe_key
    from framework0.history import History

    runs = History(store).list_runs(recipe=key, step_counts=False, **where)
    return [run for run in runs if recipe_key(run.test_id, run.recipe_path) == key]


def _recipe_page(store: Store, key: str, csrf: str) -> str | None:
    from framework0.analysis.analyze import analyze
    from framework0.history import History
    from framework0.viz.analysis_page import render_recipe_page

    runs = _recipe_runs(store, key, since=time.time() - RECIPE_DAYS * 86400, limit=RECIPE_RUNS)
    if not runs:
        return None
    ids = {run.run_id for run in runs}
    steps = [step for step in History(store).step_runs(recipe=key, since=runs[-1].started_at) if step.run_id in ids]
    return render_recipe_page(analyze(runs, steps), runs, csrf=csrf)


def _run_links(store: Store, run: dict[str, Any]) -> dict[str, str | None]:
    """The run page's links: its recipe's run history, and the run of the same recipe before it."""
    from framework0.analysis.series import recipe_key
    from framework0.viz.analysis_page import recipe_url

    key = recipe_key(run["test_id"], run["recipe_path"])
    if not key:
        return {"recipe": None, "previous": None}
    earlier = _recipe_runs(store, key, until=run["started_at"], limit=20)
    return {
        "recipe": recipe_url(run["test_id"], run["recipe_path"]),
        "previous": earlier[0].run_id if earlier else None,
    }


def _runs(store: Store, recipe: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    runs = listed_runs(store, recipe, status, limit)
    for run in runs:
        finished = run["finished_at"]
        run["duration_s"] = None if finished is None else max(0.0, finished - run["started_at"])
    return runs


def _csrf(request: Request) -> str:
    """The CSRF token the page carries for its forms and scripts ("" when the bearer token got it)."""
    session = session_of(request.scope)
    return session.csrf if session is not None else ""


def _not_found(message: str, *, title: str = "Run not found", status_code: int = 404) -> Response:
    text, heading = html.escape(message), html.escape(title)
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{heading} · Framework0</title><link rel="stylesheet" href="/static/f0.css"></head>'
        f'<body><main class="f0-not-found"><h1>{heading}</h1><p>{text}</p>'
        '<p><a href="/">All runs</a></p></main></body></html>\n'
    )
    return HTMLResponse(body, status_code=status_code)


# --- login and logout ----------------------------------------------------------------------------


@router.get("/login")
async def login_form(
    request: Request,
    next_path: str | None = Query(None, alias="next"),
    checked: str | None = Query(None),
) -> Response:
    """The token form (a browser that has a session goes straight to ``next``).

    A link from another site (a CI log, a chat) to a run page arrives without the SameSite=Strict
    session cookie, so it lands here even for a signed-in browser. Unless already ``checked``, the
    form moves on at once to ``/login?checked=1&next=...``: a navigation from this page is same-site,
    so the browser sends its cookie and one with a session goes on to ``next``."""
    target = local_path(next_path)
    if session_of(request.scope) is not None:
        return RedirectResponse(target, status_code=303)
    recheck = None if checked else "/login?" + urlencode({"checked": "1", "next": target})
    return _login_page(request, target, recheck=recheck)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the form's CSRF token, then the server token: a session cookie and a 303 to ``next``."""
    sessions = _sessions(request)
    fields = parse_qs((await request.body()).decode("latin-1"), keep_blank_values=True)

    def field(name: str) -> str | None:
        values = fields.get(name, [])
        return values[0] if len(values) == 1 else None

    target = local_path(field("next"))
    form_cookies = cookie_values(request.headers.getlist("cookie"), LOGIN_COOKIE)
    if not any(sessions.login_form_ok(cookie, field("csrf")) for cookie in form_cookies):
        return _login_page(request, target, "the login form expired or came from another page: try again", 403)
    if not ws_token_ok(field("token"), state_of(request).settings.token):
        await asyncio.sleep(WRONG_TOKEN_DELAY_S)
        return _login_page(request, target, "wrong token", 401)
    for old in cookie_values(request.headers.getlist("cookie"), SESSION_COOKIE):
        sessions.end(old)  # a new id at each login: a cookie planted before it is worth nothing
    session_id, _ = sessions.create()
    secure = request.url.scheme == "https"
    response = RedirectResponse(target, status_code=303)
    response.headers.append("set-cookie", session_cookie(session_id, max_age=sessions.lifetime_s, secure=secure))
    response.headers.append("set-cookie", expired_cookie(LOGIN_COOKIE, path="/login", secure=secure))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (Guard checked its CSRF token) and go to the login form."""
    sessions = _sessions(request)
    for value in cookie_values(request.headers.getlist("cookie"), SESSION_COOKIE):
        sessions.end(value)
    response = RedirectResponse("/login?checked=1", status_code=303)  # signed out: no cookie to look for
    secure = request.url.scheme == "https"
    response.headers.append("set-cookie", expired_cookie(SESSION_COOKIE, path="/", secure=secure))
    return response


def _login_page(
    request: Request, target: str, error: str | None = None, status: int = 200, *, recheck: str | None = None
) -> Response:
    from framework0.viz.pages import render_login

    cookie, csrf = _sessions(request).login_form()
    page = render_login(csrf=csrf, next_path=target, error=error, recheck=recheck)
    response = HTMLResponse(page, status_code=status)
    response.headers.append("set-cookie", login_cookie(cookie, secure=request.url.scheme == "https"))
    return response


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions
