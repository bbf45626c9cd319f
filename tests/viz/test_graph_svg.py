"""The SVG of a step graph: well-formed, escaped, status shown by icon and word as well as colour, styled by
classes only (the dashboard's CSP forbids style attributes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from framework0.recipe.loader import load_recipe_text
from framework0.viz.graph_svg import OTHER_STATUS_ICON, STATUS_ICONS, GraphNode, graph_svg, recipe_graph

SVG = "{http://www.w3.org/2000/svg}"

NODES = [
    GraphNode("extract", "shell", ()),
    GraphNode("transform", "python", ("extract",)),
    GraphNode("load", "http (foreach)", ("transform",)),
    GraphNode("check", "assert", ("extract", "load")),
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def node_elements(root: ET.Element) -> dict[str, ET.Element]:
    return {node.attrib["data-step"]: node for node in root.iter(f"{SVG}g") if node.get("class") == "f0-node"}


def texts(node: ET.Element) -> dict[str, str]:
    return {text.attrib["class"]: text.text or "" for text in node.iter(f"{SVG}text")}


def test_the_svg_is_well_formed_with_a_node_per_step_and_an_edge_per_dependency() -> None:
    root = parse(graph_svg(NODES))

    assert root.tag == f"{SVG}svg"
    assert root.attrib["class"] == "f0-graph"
    assert root.attrib["viewBox"] == f"0 0 {root.attrib['width']} {root.attrib['height']}"
    assert list(node_elements(root)) == ["extract", "transform", "load", "check"]
    edges = [
        (path.attrib["data-from"], path.attrib["data-to"])
        for path in root.iter(f"{SVG}path")
        if path.get("class") == "f0-edge"
    ]
    assert edges == [("extract", "transform"), ("transform", "load"), ("extract", "check"), ("load", "check")]


def test_every_edge_ends_in_the_arrow_marker() -> None:
    root = parse(graph_svg(NODES))

    assert [marker.attrib["id"] for marker in root.iter(f"{SVG}marker")] == ["f0-arrow"]
    edges = [path for path in root.iter(f"{SVG}path") if path.get("class") == "f0-edge"]
    assert {path.attrib["marker-end"] for path in edges} == {"url(#f0-arrow)"}


def test_every_node_is_focusable_and_titled_with_its_name_and_caption() -> None:
    nodes = node_elements(parse(graph_svg(NODES)))

    assert {node.attrib["tabindex"] for node in nodes.values()} == {"0"}
    assert nodes["load"].findtext(f"{SVG}title") == "load: http (foreach)"
    assert texts(nodes["load"]) == {"f0-node-name": "load", "f0-node-caption": "http (foreach)"}


@pytest.mark.parametrize("name", ["a<b>&\"c'", "</svg><script>alert(1)</script>", "&amp;"])
def test_markup_in_names_and_captions_is_escaped_in_text_and_attributes(name: str) -> None:
    svg = graph_svg([GraphNode(name, name, ()), GraphNode("after", "<i>", (name,))], statuses={name: name}, title=name)
    root = parse(svg)

    (node, _) = node_elements(root).values()
    assert node.attrib["data-step"] == name
    assert node.attrib["data-status"] == name
    assert node.findtext(f"{SVG}title") == f"{name}: {name} ({name})"
    assert texts(node)["f0-node-status"] == name
    assert root.findtext(f"{SVG}title") == name
    (edge,) = [path for path in root.iter(f"{SVG}path") if path.get("class") == "f0-edge"]
    assert edge.attrib["data-from"] == name
    assert "<script>" not in svg and "<i>" not in svg


def test_characters_xml_cannot_hold_are_replaced() -> None:
    root = parse(graph_svg([GraphNode("bell\x07", "tab\tand\x00nul", ())]))

    assert list(node_elements(root)) == ["bell\ufffd"]


@pytest.mark.parametrize("status", [*STATUS_ICONS, "exploded"])
def test_a_status_shows_as_data_status_an_icon_and_a_word(status: str) -> None:
    nodes = node_elements(parse(graph_svg(NODES, statuses={"load": status})))

    assert nodes["load"].attrib["data-status"] == status
    assert texts(nodes["load"])["f0-node-icon"] == STATUS_ICONS.get(status, OTHER_STATUS_ICON)
    assert texts(nodes["load"])["f0-node-status"] == status
    assert nodes["load"].findtext(f"{SVG}title") == f"load: http (foreach) ({status})"


def test_every_status_has_its_own_icon() -> None:
    icons = [*STATUS_ICONS.values(), OTHER_STATUS_ICON]

    assert len(set(icons)) == len(icons)


def test_a_step_missing_from_statuses_is_pending() -> None:
    nodes = node_elements(parse(graph_svg(NODES, statuses={"load": "running"})))

    assert {name: node.attrib["data-status"] for name, node in nodes.items()} == {
        "extract": "pending",
        "transform": "pending",
        "load": "running",
        "check": "pending",
    }


def test_without_statuses_a_node_has_no_status_attribute_icon_or_word() -> None:
    nodes = node_elements(parse(graph_svg(NODES)))

    assert all("data-status" not in node.attrib for node in nodes.values())
    assert all(set(texts(node)) == {"f0-node-name", "f0-node-caption"} for node in nodes.values())


@pytest.mark.parametrize("standalone", [True, False], ids=["standalone", "in-a-page"])
def test_no_element_has_a_style_attribute(standalone: bool) -> None:
    root = parse(graph_svg(NODES, statuses={"load": "failed"}, standalone=standalone))

    assert [element.tag for element in root.iter() if "style" in element.attrib] == []


def test_standalone_embeds_graph_css_and_a_title() -> None:
    root = parse(graph_svg(NODES, title="nightly ETL"))

    (style,) = root.iter(f"{SVG}style")
    assert '.f0-node[data-status="failed"] .f0-node-box' in (style.text or "")
    assert root.findtext(f"{SVG}title") == "nightly ETL"
    assert root.attrib["aria-label"] == "nightly ETL: 4 steps, dependencies point right"


def test_in_a_page_the_svg_has_no_style_element_and_no_title_tooltip() -> None:
    root = parse(graph_svg(NODES, standalone=False, title="nightly ETL"))

    assert list(root.iter(f"{SVG}style")) == []
    assert root.find(f"{SVG}title") is None
    assert root.attrib["aria-label"].startswith("nightly ETL: ")


def test_a_long_name_is_ellipsised_in_the_box_and_whole_in_the_title() -> None:
    name = "load_every_customer_order_from_the_warehouse_and_deduplicate"
    (node,) = node_elements(parse(graph_svg([GraphNode(name, "python", ())]))).values()

    shown = texts(node)["f0-node-name"]
    assert shown.endswith("…") and name.startswith(shown[:-1])
    assert node.findtext(f"{SVG}title") == f"{name}: python"


def test_recipe_graph_has_each_step_with_its_scriptlet_and_upstream(tmp_path) -> None:
    recipe = load_recipe_text(
        "steps:\n"
        "  - {name: hello, uses: hello_world}\n"
        "  - {name: nap, uses: sleep, args: {seconds: 0}, depends_on: [hello]}\n"
        "  - name: each\n"
        "    uses: hello_world\n"
        '    foreach: "{{ [1, 2] }}"\n'
        "    depends_on: [hello, nap]\n",
        base_dir=tmp_path,
    )

    assert recipe_graph(recipe) == [
        GraphNode("hello", "hello_world", ()),
        GraphNode("nap", "sleep", ("hello",)),
        GraphNode("each", "hello_world (foreach)", ("hello", "nap")),
    ]
