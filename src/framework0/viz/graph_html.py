"""A recipe's DAG as one self-contained HTML page: pan, zoom and find a step, offline.

Everything is inline (the SVG, graph.css, svg-pan-zoom and a small script) and a Content-Security-Policy
``<meta>`` allows exactly those inline blocks by their SHA-256 hashes, with ``default-src 'none'``: the
page makes no network request, and a step name cannot inject markup or script.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from framework0.viz.graph_svg import GRAPH_CSS, graph_svg, recipe_graph
from framework0.viz.pages import STATIC_DIR, csp_hash

if TYPE_CHECKING:
    from framework0.recipe.model import Recipe

PAN_ZOOM_JS = STATIC_DIR / "vendor" / "svg-pan-zoom.min.js"
PAN_ZOOM_LICENSE = STATIC_DIR / "vendor" / "svg-pan-zoom.LICENSE"

PAGE_CSS = """
html, body { height: 100%; margin: 0; }
body.f0-graph-page {
  display: flex; flex-direction: column; color: #111827; background: #f8fafc;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 14px;
}
.f0-graph-bar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 8px 16px;
  background: #ffffff; border-bottom: 1px solid #cbd5e1;
}
.f0-graph-bar h1 { margin: 0; font-size: 16px; font-weight: 600; overflow-wrap: anywhere; }
.f0-graph-meta { color: #4b5563; font-size: 13px; }
.f0-graph-tools { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; margin-left: auto; }
.f0-graph-find, .f0-graph-zoom { display: flex; align-items: center; gap: 8px; }
.f0-graph-find label { font-size: 13px; color: #374151; }
.f0-graph-find input {
  font: inherit; width: 14em; padding: 5px 8px; border: 1px solid #6b7280; border-radius: 6px; background: #fff;
}
.f0-graph-find output { min-width: 6.5em; font-size: 13px; color: #4b5563; }
.f0-graph-zoom button {
  font: inherit; min-width: 36px; height: 32px; padding: 0 10px; color: #111827; background: #ffffff;
  border: 1px solid #6b7280; border-radius: 6px; cursor: pointer;
}
.f0-graph-zoom button:hover { background: #eef2f7; }
:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
.f0-graph-view { position: relative; flex: 1; min-height: 0; }
.f0-graph-view > svg.f0-graph { display: block; width: 100%; height: 100%; cursor: grab; }
.f0-graph-hint { position: absolute; left: 12px; bottom: 8px; margin: 0; font-size: 12px; color: #4b5563; }
@media (max-width: 640px) {
  .f0-graph-tools { margin-left: 0; width: 100%; }
  .f0-graph-find { flex: 1; }
  .f0-graph-find input { flex: 1; width: auto; min-width: 6em; }
  .f0-graph-find output { min-width: 0; }
  .f0-graph-hint { display: none; }
}
"""

PAGE_JS = """
(function () {
  "use strict";
  var svg = document.querySelector("svg.f0-graph");
  // svg-pan-zoom writes style="overflow: hidden" unless the style attribute names overflow already; the
  // CSP forbids that attribute but not the CSSOM, so set it here first
  svg.style.overflow = "hidden";
  var panZoom = svgPanZoom(svg, {
    controlIconsEnabled: false, zoomScaleSensitivity: 0.25, minZoom: 0.5, maxZoom: 10, fit: true, center: true
  });
  panZoom.setMaxZoom(Math.max(10, 4 / panZoom.getSizes().realZoom));

  // Start with the whole graph if its text is legible so; else legibly at its sources (the left edge),
  // centred vertically: the Fit button shows the whole graph.
  function start() {
    panZoom.fit();
    panZoom.center();
    var sizes = panZoom.getSizes();
    if (sizes.realZoom >= 0.5) { return; }
    var box = sizes.viewBox;
    var real = Math.min(1, Math.max(0.75, sizes.height / box.height));
    panZoom.zoom(panZoom.getZoom() * real / sizes.realZoom);
    panZoom.pan({ x: -box.x * real, y: sizes.height / 2 - (box.y + box.height / 2) * real });
  }
  start();

  var nodes = Array.prototype.slice.call(svg.querySelectorAll(".f0-node"));
  var edges = {};
  Array.prototype.forEach.call(svg.querySelectorAll(".f0-edge"), function (edge) {
    [edge.getAttribute("data-from"), edge.getAttribute("data-to")].forEach(function (name) {
      (edges[name] = edges[name] || []).push(edge);
    });
  });
  function activate(node, on) {
    (edges[node.getAttribute("data-step")] || []).forEach(function (edge) { edge.classList.toggle("f0-active", on); });
  }

  function centre(node) {
    var box = node.getBBox();
    var matrix = node.transform.baseVal.consolidate().matrix;
    return { x: matrix.e + box.x + box.width / 2, y: matrix.f + box.y + box.height / 2 };
  }
  function show(node, zoomIn) {
    var point = centre(node);
    if (zoomIn) {
      var real = panZoom.getSizes().realZoom;
      if (real < 1) { panZoom.zoom(panZoom.getZoom() / real); }
    }
    var sizes = panZoom.getSizes();
    panZoom.pan({ x: sizes.width / 2 - point.x * sizes.realZoom, y: sizes.height / 2 - point.y * sizes.realZoom });
  }
  function visible(node) {
    var box = node.getBoundingClientRect();
    var view = svg.getBoundingClientRect();
    return box.left >= view.left && box.right <= view.right && box.top >= view.top && box.bottom <= view.bottom;
  }

  nodes.forEach(function (node) {
    node.addEventListener("mouseenter", function () { activate(node, true); });
    node.addEventListener("mouseleave", function () { activate(node, false); });
    node.addEventListener("focus", function () { activate(node, true); if (!visible(node)) { show(node, false); } });
    node.addEventListener("blur", function () { activate(node, false); });
  });

  document.getElementById("f0-zoom-in").addEventListener("click", function () { panZoom.zoomIn(); });
  document.getElementById("f0-zoom-out").addEventListener("click", function () { panZoom.zoomOut(); });
  document.getElementById("f0-zoom-fit").addEventListener("click", function () { panZoom.fit(); panZoom.center(); });
  window.addEventListener("resize", function () { panZoom.resize(); });

  var input = document.getElementById("f0-find");
  var found = document.getElementById("f0-found");
  var matches = [];
  var current = -1;
  function search() {
    var query = input.value.trim().toLowerCase();
    matches = [];
    current = -1;
    nodes.forEach(function (node) {
      var name = node.getAttribute("data-step");
      var hit = query !== "" && name.toLowerCase().indexOf(query) !== -1;
      node.classList.toggle("f0-match", hit);
      if (hit) { if (name.toLowerCase() === query) { matches.unshift(node); } else { matches.push(node); } }
    });
    svg.classList.toggle("f0-searching", query !== "");
    found.textContent = query === "" ? "" : matches.length === 0 ? "no step matches"
      : matches.length === 1 ? "1 step" : matches.length + " steps";
  }
  function next() {
    if (matches.length === 0) { return; }
    current = (current + 1) % matches.length;
    show(matches[current], true);
    if (matches.length > 1) { found.textContent = (current + 1) + " of " + matches.length + " steps"; }
  }
  input.addEventListener("input", function () { search(); if (matches.length === 1) { next(); } });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); next(); }
    if (event.key === "Escape") { input.value = ""; search(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); }
  });
})();
"""


def graph_html(recipe: Recipe) -> str:
    """The page: a bar with the recipe's name, a step finder and zoom buttons, over the pannable graph."""
    nodes = recipe_graph(recipe)
    title = recipe.test_id or (recipe.path.name if recipe.path is not None else "recipe")
    where = str(recipe.path) if recipe.path is not None else ""
    svg = graph_svg(nodes, standalone=False, title=title)
    css = PAGE_CSS + GRAPH_CSS.read_text(encoding="utf-8")
    licence = PAN_ZOOM_LICENSE.read_text(encoding="utf-8").replace("*/", "* /")
    library = f"/* svg-pan-zoom 3.6.2, https://github.com/bumbu/svg-pan-zoom\n{licence}*/\n" + PAN_ZOOM_JS.read_text(
        encoding="utf-8"
    )
    for code in (library, PAGE_JS):
        if "</script" in code.lower():  # cannot happen with the shipped files; guards an update of them
            raise ValueError("an inline script contains '</script'")
    policy = (
        f"default-src 'none'; script-src {csp_hash(library)} {csp_hash(PAGE_JS)}; style-src {csp_hash(css)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    count = len(nodes)
    edges = sum(len(node.upstream) for node in nodes)
    options = "".join(f'<option value="{escape(node.name, quote=True)}">' for node in nodes)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}: step graph</title>\n"
        f"<style>{css}</style>\n"
        "</head>\n"
        '<body class="f0-graph-page">\n'
        '<header class="f0-graph-bar">\n'
        f'<h1 title="{escape(where, quote=True)}">{escape(title)}</h1>\n'
        f'<span class="f0-graph-meta">{count} step{"s" if count != 1 else ""}, '
        f"{edges} dependenc{'ies' if edges != 1 else 'y'}</span>\n"
        '<div class="f0-graph-tools">\n'
        '<div class="f0-graph-find" role="search">\n'
        '<label for="f0-find">Find a step</label>\n'
        '<input id="f0-find" type="search" list="f0-steps" autocomplete="off" spellcheck="false" '
        'placeholder="name (press /)">\n'
        '<output id="f0-found" for="f0-find" aria-live="polite"></output>\n'
        "</div>\n"
        '<div class="f0-graph-zoom" role="group" aria-label="Zoom">\n'
        '<button type="button" id="f0-zoom-in" aria-label="Zoom in" title="Zoom in">+</button>\n'
        '<button type="button" id="f0-zoom-out" aria-label="Zoom out" title="Zoom out">&#8722;</button>\n'
        '<button type="button" id="f0-zoom-fit" title="Show the whole graph">Fit</button>\n'
        "</div>\n"
        "</div>\n"
        "</header>\n"
        f'<main class="f0-graph-view">\n{svg}\n'
        '<p class="f0-graph-hint">Scroll or pinch to zoom, drag to pan, Tab through the steps.</p>\n'
        "</main>\n"
        f'<datalist id="f0-steps">{options}</datalist>\n'
        f"<script>{library}</script>\n"
        f"<script>{PAGE_JS}</script>\n"
        "</body>\n</html>\n"
    )
