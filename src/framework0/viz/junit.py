"""A run result as JUnit XML: one test case per step, so a test campaign plugs into any CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from framework0.engine.result import RunResult, iso
from framework0.recipe.model import Recipe


def junit_xml(result: RunResult, recipe: Recipe | None = None) -> str:
    """``<testsuites>`` with one ``<testsuite>`` (the recipe) and a ``<testcase>`` per step."""
    name = result.test_id or result.recipe_path or "recipe"
    counts = {"failures": 0, "skipped": 0, "errors": 0}
    suite = ET.Element("testsuite", name=name, timestamp=iso(result.started_at) or "", time=f"{result.duration_s:.3f}")
    for step_name, step in result.steps.items():
        case = ET.SubElement(suite, "testcase", classname=name, name=step_name, time=f"{step.duration_s or 0.0:.3f}")
        if recipe is not None:
            description = recipe.step(step_name).description
            if description:
                properties = ET.SubElement(case, "properties")
                ET.SubElement(properties, "property", name="description", value=description)
        if step.status == "failed":
            counts["failures"] += 1
            error = step.error
            failure = ET.SubElement(
                case, "failure", type=error.type if error else "StepFailed", message=error.message if error else ""
            )
            failure.text = f"{error.type}: {error.message}" if error else "failed"
        elif step.status in ("skipped", "pending", "cancelled"):
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=step.reason or step.status)
        if step.output is not None:
            ET.SubElement(case, "system-out").text = json.dumps(step.output, indent=2, default=str)
    suite.set("tests", str(len(result.steps)))
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites", name=name, tests=str(len(result.steps)), failures=str(counts["failures"]))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
