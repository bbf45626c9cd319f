"""The page of ``f0 graph --format html`` in a real browser: a 200-step recipe opened from disk, offline."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import eventually

from framework0.recipe.loader import load_recipe
from framework0.viz.graph_html import graph_html

WORDS = ["load", "fetch", "customers", "orders", "clean", "merge", "report", "validate", "daily", "export"]
KINDS = ["uses: hello_world", "uses: sleep, args: {seconds: 0}", "uses: shell, args: {cmd: 'true'}"]


def random_recipe(size: int, *, seed: int = 6) -> str:
    """``size`` steps, each waiting on up to three of the 30 before it."""
    rng = random.Random(seed)
    names: list[str] = []
    lines = [f"test_meta: {{test_id: GRAPH-{size}}}", "steps:"]
    for i in range(size):
        name = "_".join(rng.sample(WORDS, rng.randint(1, 3))) + f"_{i}"
        ups = sorted(rng.sample(range(max(0, i - 30), i), min(i, rng.randint(0 if i < 8 else 1, 3))))
        depends = f", depends_on: [{', '.join(names[j] for j in ups)}]" if ups else ""
        lines.append(f"  - {{name: {name}, {rng.choice(KINDS)}{depends}}}")
        names.append(name)
    return "\n".join(lines) + "\n"


@pytest.fixture
def graph_page(tmp_path: Path, page: Any) -> tuple[Any, list[str]]:
    """The 200-step page opened from a file, with every URL the page requested."""
    recipe = tmp_path / "big.yaml"
    recipe.write_text(random_recipe(200), encoding="utf-8")
    html = tmp_path / "big.html"
    html.write_text(graph_html(load_recipe(recipe)), encoding="utf-8")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(html.as_uri())
    page.wait_for_selector("svg.f0-graph .f0-node")
    return page, requested


def node_width(page: Any, name: str) -> float:
    box = page.locator(f'.f0-node[data-step="{name}"]').bounding_box()
    assert box is not None
    return float(box["width"])


def inside_view(page: Any, name: str) -> bool:
    return bool(
        page.evaluate(
            """name => {
                const node = document.querySelector(`.f0-node[data-step="${name}"]`).getBoundingClientRect();
                const view = document.querySelector("svg.f0-graph").getBoundingClientRect();
                return node.left >= view.left && node.right <= view.right
                    && node.top >= view.top && node.bottom <= view.bottom;
            }""",
            name,
        )
    )


def test_the_page_requests_nothing_but_its_own_file(graph_page: tuple[Any, list[str]]) -> None:
    page, requested = graph_page
    page.click("#f0-zoom-in")
    page.fill("#f0-find", "merge")

    assert requested
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []


def test_every_step_is_drawn_and_the_first_is_legible_in_view(
    graph_page: tuple[Any, list[str]], artifacts: Path
) -> None:
    page, _ = graph_page
    page.screenshot(path=str(artifacts / "graph-200.png"))

    nodes = page.locator(".f0-node")
    assert nodes.count() == 200
    first = nodes.first
    assert first.is_visible()
    assert inside_view(page, first.get_attribute("data-step"))
    assert float(first.bounding_box()["height"]) >= 30  # 44 units high, not shrunk to a speck


def test_zoom_buttons_zoom_in_out_and_fit_the_whole_graph(graph_page: tuple[Any, list[str]], artifacts: Path) -> None:
    page, _ = graph_page
    name = page.locator(".f0-node").first.get_attribute("data-step")
    start = node_width(page, name)

    page.click("#f0-zoom-in")
    eventually(lambda: node_width(page, name) > start, "the node drawn larger")
    page.click("#f0-zoom-out")
    page.click("#f0-zoom-out")
    eventually(lambda: node_width(page, name) < start, "the node drawn smaller")
    page.click("#f0-zoom-fit")

    names = page.eval_on_selector_all(".f0-node", "nodes => nodes.map(node => node.dataset.step)")
    eventually(lambda: all(inside_view(page, step) for step in names), "every step inside the view")
    page.screenshot(path=str(artifacts / "graph-200-fit.png"))


def test_finding_a_step_highlights_it_and_brings_it_to_the_middle(graph_page: tuple[Any, list[str]]) -> None:
    page, _ = graph_page
    target = page.locator(".f0-node").nth(150).get_attribute("data-step")
    page.click("#f0-zoom-fit")

    page.fill("#f0-find", target)
    page.press("#f0-find", "Enter")

    assert page.locator(".f0-node.f0-match").evaluate_all("nodes => nodes.map(node => node.dataset.step)") == [target]
    assert page.text_content("#f0-found") == "1 step"
    eventually(lambda: inside_view(page, target), f"{target} inside the view")
    box = page.locator(f'.f0-node[data-step="{target}"]').bounding_box()
    view = page.locator("svg.f0-graph").bounding_box()
    assert abs(box["x"] + box["width"] / 2 - (view["x"] + view["width"] / 2)) < 5
    assert box["height"] >= 40  # zoomed to legible


def test_a_focused_step_highlights_its_edges(graph_page: tuple[Any, list[str]]) -> None:
    page, _ = graph_page
    node = page.locator(".f0-node").nth(20)
    name = node.get_attribute("data-step")

    node.focus()

    def active() -> list[list[str]]:
        found: list[list[str]] = page.eval_on_selector_all(
            ".f0-edge.f0-active", "edges => edges.map(e => [e.dataset.from, e.dataset.to])"
        )
        return found

    eventually(lambda: bool(active()), "a step highlighted")
    assert all(name in pair for pair in active())
    eventually(lambda: inside_view(page, name), f"{name} inside the view")
