"""The dashboard pages and the report as HTML text: data embedded safely, run values escaped, no inline
script or style on dashboard pages, and a report whose Content-Security-Policy allows exactly its
inline blocks."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from tests.viz.view_samples import SCRIPT, generated_view, small_view

from framework0.viz.pages import STATIC_DIR, embed_json, render_login, render_report, render_run_page, render_runs_page


class Element:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text = ""


class Page(HTMLParser):
    """Every element of a page with its attributes, and the text of script and style elements."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: Element | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag in ("script", "style"):
            self._open = element

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and self._open.tag == tag:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.text += data

    def all(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]

    def by_id(self, name: str) -> Element:
        (element,) = [element for element in self.elements if element.attrs.get("id") == name]
        return element


def executable_scripts(page: Page) -> list[Element]:
    return [script for script in page.all("script") if script.attrs.get("type") != "application/json"]


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def policy_of(page: Page) -> dict[str, list[str]]:
    (meta,) = [meta for meta in page.all("meta") if meta.attrs.get("http-equiv") == "Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in meta.attrs["content"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


# --- embed_json ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        SCRIPT,
        "</script><script>alert(1)</script>",
        "<!-- comment -->",
        "a & b > c",
        "line\u2028separator\u2029paragraph",
        {"<key>": ["</SCRIPT>", 1, 2.5, None, True]},
    ],
    ids=["script-tag", "closing-script", "html-comment", "ampersand", "line-separators", "nested"],
)
def test_embed_json_reads_back_unchanged_and_holds_no_markup_character(value: Any) -> None:
    text = embed_json(value)
    assert json.loads(text) == value
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}


def test_embed_json_writes_non_finite_numbers_as_strings() -> None:
    assert json.loads(embed_json({"a": float("nan"), "b": [float("inf"), -float("inf")], "c": 1.5})) == {
        "a": "NaN",
        "b": ["Infinity", "-Infinity"],
        "c": 1.5,
    }


def test_embed_json_keeps_non_ascii_text_as_is() -> None:
    assert embed_json("✓ succeeded · café") == '"✓ succeeded · café"'


# --- dashboard pages ----------------------------------------------------------------------------------


def dashboard_pages() -> dict[str, str]:
    evil_run = {
        "run_id": "r-evil",
        "test_id": SCRIPT,
        "recipe_path": "<img src=x onerror=alert(1)>.yaml",
        "status": "failed",
        "started_at": 1.0,
        "finished_at": 2.0,
        "duration_s": 1.0,
        "error_type": "ValueError",
        "error_message": SCRIPT,
        "node": "<b>node</b>",
    }
    view = small_view()
    view["run"]["test_id"] = SCRIPT
    return {
        "login": render_login(csrf="csrf-123", next_path="/runs/<x>?a=1&b=2", error=SCRIPT),
        "runs": render_runs_page(runs=[evil_run], csrf="csrf-123"),
        "run": render_run_page(view, csrf="csrf-123"),
    }


@pytest.mark.parametrize("name", ["login", "runs", "run"])
def test_a_dashboard_page_has_no_inline_script_or_style(name: str) -> None:
    html = dashboard_pages()[name]
    page = Page(html)
    assert all(script.attrs.get("src", "").startswith("/static/") for script in executable_scripts(page))
    assert all(script.text == "" for script in executable_scripts(page))
    assert page.all("style") == []
    assert [element.tag for element in page.elements if "style" in element.attrs] == []
    assert [
        (element.tag, attribute)
        for element in page.elements
        for attribute in element.attrs
        if attribute.startswith("on")
    ] == []
    assert "<script>alert" not in html


@pytest.mark.parametrize("name", ["login", "runs", "run"])
def test_a_dashboard_page_links_its_assets_under_static_with_a_version(name: str) -> None:
    page = Page(dashboard_pages()[name])
    links = [link.attrs["href"] for link in page.all("link") if link.attrs.get("rel") == "stylesheet"]
    assert links and all(re.fullmatch(r"/static/[\w.]+\.css\?v=[0-9a-f]{12}", href) for href in links)
    assert any(href.startswith("/static/f0.css?") for href in links)
    sources = [script.attrs["src"] for script in executable_scripts(page)]
    assert all(re.fullmatch(r"/static/[\w./-]+\.js\?v=[0-9a-f]{12}", source) for source in sources)


def test_the_login_page_escapes_the_error_and_carries_the_form_fields() -> None:
    html = dashboard_pages()["login"]
    page = Page(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    (form,) = page.all("form")
    assert form.attrs == {"method": "post", "action": "/login", "class": "f0-login-form"}
    fields = {element.attrs.get("name"): element.attrs for element in page.all("input")}
    assert fields["csrf"]["value"] == "csrf-123"
    assert fields["next"]["value"] == "/runs/<x>?a=1&b=2"  # the parser unescaped what the template escaped
    assert fields["token"]["type"] == "password"
    assert "/runs/&lt;x&gt;?a=1&amp;b=2" in html


def test_the_runs_page_embeds_the_runs_as_data_and_has_a_logout_form() -> None:
    page = Page(dashboard_pages()["runs"])
    runs = json.loads(page.by_id("f0-runs").text)
    assert runs[0]["test_id"] == SCRIPT
    assert runs[0]["node"] == "<b>node</b>"
    sources = [script.attrs["src"] for script in executable_scripts(page)]
    assert [source.split("?v=")[0] for source in sources] == ["/static/f0.js", "/static/runs.js"]  # f0.js first
    logout = [form for form in page.all("form") if form.attrs.get("action") == "/logout"]
    assert [form.attrs.get("method") for form in logout] == ["post"]
    assert {"type": "hidden", "name": "csrf", "value": "csrf-123"} in [element.attrs for element in page.all("input")]


def test_the_run_page_is_live_and_embeds_the_view_model_as_data() -> None:
    html = dashboard_pages()["run"]
    page = Page(html)
    (body,) = page.all("body")
    assert body.attrs["data-live"] == "1"
    expected = small_view()
    expected["run"]["test_id"] = SCRIPT
    assert json.loads(page.by_id("f0-view").text) == expected
    assert [meta.attrs["content"] for meta in page.all("meta") if meta.attrs.get("name") == "f0-csrf"] == ["csrf-123"]
    sources = [script.attrs["src"] for script in executable_scripts(page)]
    assert [source.split("?")[0] for source in sources] == [
        "/static/vendor/svg-pan-zoom.min.js",
        "/static/f0.js",
        "/static/run.js",
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; · run r-20251124-7f3a9c" in html  # the <title>


# --- the report ---------------------------------------------------------------------------------------


def test_the_report_allows_exactly_its_inline_blocks_by_hash() -> None:
    page = Page(render_report(small_view()))
    policy = policy_of(page)
    scripts = executable_scripts(page)
    styles = page.all("style")
    assert [script.attrs for script in scripts] == [{}, {}, {}]  # inline, no src
    assert len(styles) == (2 if (STATIC_DIR / "graph.css").exists() else 1)
    assert sorted(policy["script-src"]) == sorted(sha256(script.text) for script in scripts)
    assert sorted(policy["style-src"]) == sorted(sha256(style.text) for style in styles)
    assert policy["default-src"] == ["'none'"]
    assert policy["img-src"] == ["data:"]
    assert "connect-src" not in policy  # default-src 'none': no fetch, no WebSocket


def test_the_report_inlines_the_static_files_unchanged() -> None:
    page = Page(render_report(small_view()))
    scripts = [script.text for script in executable_scripts(page)]
    # in the run page's order: run.js uses what f0.js defines
    assert scripts == [
        (STATIC_DIR / name).read_text(encoding="utf-8") for name in ("vendor/svg-pan-zoom.min.js", "f0.js", "run.js")
    ]
    assert (STATIC_DIR / "f0.css").read_text(encoding="utf-8") in [style.text for style in page.all("style")]


def test_the_report_sets_its_policy_before_any_script_or_style_and_loads_nothing() -> None:
    page = Page(render_report(small_view()))
    tags = [element.tag if element.tag != "meta" else element.attrs.get("http-equiv") for element in page.elements]
    assert tags.index("Content-Security-Policy") < min(tags.index("style"), tags.index("script"))
    assert [element.tag for element in page.elements if element.attrs.get("src")] == []
    hrefs = [
        element.attrs["href"] for element in page.elements if element.tag in ("link", "a") and element.attrs.get("href")
    ]
    assert all(href.startswith(("data:", "#")) for href in hrefs), hrefs
    assert page.all("form") == []  # no logout form: a file has no session


def test_the_report_is_not_live_and_escapes_run_values() -> None:
    view = small_view()
    view["run"]["test_id"] = SCRIPT
    html = render_report(view)
    page = Page(html)
    (body,) = page.all("body")
    assert body.attrs["data-live"] == "0"
    assert "<script>alert" not in html
    assert json.loads(page.by_id("f0-view").text)["context"]["values"]["banner"] == SCRIPT


def test_a_big_report_stays_one_file_of_reasonable_size() -> None:
    html = render_report(generated_view(500))
    assert len(html) < 3_000_000
    assert Page(html).by_id("f0-view").text.count('"name":"step_') == 500
