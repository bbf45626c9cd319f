"""First render of a big run's report in a real browser: a 500-step run (with retries, foreach items,
logs and context history) written by ``render_report``, opened from disk in headless chromium.

The figure is the time from navigation start to the mark run.js sets once the page is drawn and
painted (``document.body.dataset.rendered``, taken one frame after the first render), median of
--repeat fresh pages. Also printed, the median of each part: load (reading and parsing the file up
to run.js), then each section as run.js draws it (detail: choosing the failed step, which centres
the graph on it), and paint (layout and the first frame).

    python benchmarks/page_render.py [--steps 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from framework0.viz.pages import render_report

if TYPE_CHECKING:
    from tests.viz.view_samples import generated_view
else:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "viz"))
    from view_samples import generated_view

CHROMIUM = os.environ.get("F0_CHROMIUM", "/usr/bin/chromium")
# marks run.js sets while it draws (performance.mark), in order
PARTS = ("f0-start", "f0-parsed", "f0-graph", "f0-timeline", "f0-table", "f0-detail", "f0-context")
MEASURE = """() => {
  const marks = Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name, m.startTime]));
  return {rendered: Number(document.body.dataset.rendered), marks};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="f0-page-render-"))
    report = folder / "report.html"
    view = generated_view(args.steps)
    report.write_text(render_report(view), encoding="utf-8")
    print(
        f"report of {args.steps} steps, {len(view['attempts'])} attempts, "
        f"{sum(len(log['lines']) for log in view['logs'].values())} log lines: "
        f"{report.stat().st_size / 1024:.0f} KiB"
    )
    totals: list[float] = []
    parts: dict[str, list[float]] = {name: [] for name in ("load", *PARTS[1:], "paint")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(report.as_uri())  # warm-up: the OS file cache and chromium's own start
            page.wait_for_function("document.body.dataset.rendered")
            page.close()
            for _ in range(args.repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(report.as_uri())
                page.wait_for_function("document.body.dataset.rendered")
                result = page.evaluate(MEASURE)
                page.close()
                totals.append(result["rendered"])
                marks = result["marks"]
                parts["load"].append(marks[PARTS[0]])
                for before, after in zip(PARTS, PARTS[1:], strict=False):
                    parts[after].append(marks[after] - marks[before])
                parts["paint"].append(result["rendered"] - marks[PARTS[-1]])
        finally:
            browser.close()
    median = statistics.median(totals)
    print(f"first render (navigation start -> drawn and painted), median of {args.repeat}: {median:.0f} ms")
    print("  runs: " + ", ".join(f"{value:.0f}" for value in totals) + " ms")
    for name, values in parts.items():
        print(f"  {name.removeprefix('f0-'):<9} {statistics.median(values):6.1f} ms")


if __name__ == "__main__":
    main()
