"""The dashboard's HTML pages and the self-contained run report, rendered from Jinja2 templates.

Every page is a skeleton plus data: the run page and the report carry the view model (see
``viz.run_view``) in ``<script type="application/json" id="f0-view">`` and ``run.js`` draws the
graph, the timeline, the step table and the context from it; the runs page does the same with
``runs.js``. Both load ``f0.js`` first, the helpers and the live connection they share. Run values
only ever reach the page as JSON data or as autoescaped template text.

Dashboard pages link their assets under ``/static/`` and hold no inline script or style (the server
sends a strict Content-Security-Policy). The report inlines its CSS and JS and carries its own policy
in a ``<meta>`` tag, allowing exactly those inline blocks by their SHA-256 hashes, so the file opens
from disk and makes no network request.

    html = render_report(run_view(store, run_id))       # one offline file
    html = render_run_page(view, csrf=session.csrf)     # the dashboard's live page
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "STATIC_DIR",
    "embed_json",
    "inline_policy",
    "render_login",
    "render_report",
    "render_run_page",
    "render_runs_page",
]

STATIC_DIR: Path = Path(__file__).resolve().parent / "web" / "static"
"""The dashboard's static files, served at ``/static/``."""

TEMPLATES_DIR = STATIC_DIR.parent / "templates"

# the pages' styles and scripts, in order (f0.js before the page's own script, which uses it); the
# report inlines the run page's
_STYLES = ("f0.css", "graph.css")
_RUN_SCRIPTS = ("vendor/svg-pan-zoom.min.js", "f0.js", "run.js")
_RUNS_SCRIPTS = ("f0.js", "runs.js")

# JSON that is safe as the text of a <script> element and in any HTML or JS context
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def embed_json(value: Any) -> str:
    """``value`` as JSON text that can sit inside ``<script type="application/json">``.

    ``<``, ``>``, ``&``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes, so no string in the
    value can close the element or start a comment; ``JSON.parse`` reads them back unchanged.
    Non-finite floats, which JSON cannot carry, become the strings ``"NaN"``, ``"Infinity"`` and
    ``"-Infinity"``.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:  # a NaN or an infinity somewhere
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return text.translate(_JSON_ESCAPES)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["embed_json"] = embed_json
    return environment


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def _asset(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def _static_url(name: str) -> str:
    """``/static/NAME?v=HASH``: a changed file gets a new URL, so a cached old copy is never used."""
    path = STATIC_DIR / name
    stat = path.stat()
    return f"/static/{name}?v={_file_digest(path, stat.st_mtime_ns, stat.st_size)}"


@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _dashboard_assets(*scripts: str) -> dict[str, list[str]]:
    return {"styles": [_static_url(name) for name in _STYLES], "scripts": [_static_url(name) for name in scripts]}


def _run_title(run: dict[str, Any]) -> str:
    return str(run.get("test_id") or run.get("recipe_path") or "run")


def render_login(*, csrf: str, next_path: str, error: str | None = None, recheck: str | None = None) -> str:
    """The token sign-in form; it posts ``token``, ``csrf`` and ``next`` to ``/login``. ``recheck``: a
    local URL the page moves to at once (a same-site navigation, which carries the session cookie)."""
    return _render(
        "login.html",
        csrf=csrf,
        next_path=next_path,
        error=error,
        recheck=recheck,
        assets=_dashboard_assets(),
        report=False,
    )


def render_runs_page(*, runs: list[dict[str, Any]], csrf: str) -> str:
    """The runs list; ``runs`` are ``/api/v1/runs`` items, each with its ``duration_s``."""
    return _render("runs.html", runs=runs, csrf=csrf, assets=_dashboard_assets(*_RUNS_SCRIPTS), report=False)


def render_run_page(view: dict[str, Any], *, csrf: str, links: dict[str, str | None] | None = None) -> str:
    """The live run page of the dashboard for ``view`` (a ``run_view`` document); ``links``: the
    URLs of its recipe's run history (``recipe``) and of the run before it (``previous``)."""
    return _render(
        "run.html",
        view=view,
        csrf=csrf,
        links=links or {"recipe": None, "previous": None},
        title=_run_title(view["run"]),
        run_id=view["run"]["run_id"],
        assets=_dashboard_assets(*_RUN_SCRIPTS),
        live=True,
        report=False,
    )


def render_report(view: dict[str, Any]) -> str:
    """``view`` as one self-contained HTML file: no network, no external file, works offline.

    The styles and scripts are inlined, and a ``<meta>`` Content-Security-Policy allows exactly
    those blocks by their SHA-256 hashes, nothing else (no network, no other script).
    """
    styles = [_asset(name) for name in _STYLES]
    scripts = [_asset(name) for name in _RUN_SCRIPTS]
    policy = inline_policy(styles, scripts)
    return _render(
        "report.html",
        view=view,
        csrf="",
        links={"recipe": None, "previous": None},
        title=_run_title(view["run"]),
        run_id=view["run"]["run_id"],
        inline_styles=styles,
        inline_scripts=scripts,
        policy=policy,
        live=False,
        report=True,
    )


def inline_policy(styles: list[str], scripts: list[str]) -> str:
    """The Content-Security-Policy of a self-contained page: nothing from the network, and exactly
    these inlined styles and scripts, by hash (no script at all when there is none). Refuses a text
    that would end its own ``<style>`` or ``<script>`` block early."""
    for text in styles:
        if "</style" in text.lower():
            raise ValueError("an inlined style sheet contains '</style': it would end its <style> block early")
    for text in scripts:
        if "</script" in text.lower() or "<!--" in text:
            raise ValueError("an inlined script contains '</script' or '<!--': it would end its <script> block early")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + (" ".join(csp_hash(text) for text in scripts) if scripts else "'none'"),
            "style-src " + " ".join(csp_hash(text) for text in styles),
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def csp_hash(text: str) -> str:
    """The CSP source (``'sha256-...'``) that allows exactly this inline script or style."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
