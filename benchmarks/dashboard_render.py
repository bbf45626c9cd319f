"""First render of a real 500-step run's page on the dashboard: the run recorded by ``f0 run``, served
by ``f0 serve`` on loopback, opened in headless chromium after logging in.

Printed: the time the server takes to answer ``GET /runs/RUN`` (the view model read from the store,
the graph laid out, the page rendered), and the time from navigation start to the mark run.js sets
once the page is drawn and painted, median of --repeat fresh page loads in one signed-in browser.

    python benchmarks/dashboard_render.py [--steps 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = os.environ.get("F0_CHROMIUM", "/usr/bin/chromium")


def recipe(steps: int) -> str:
    """A layered DAG: every step waits on one or two of the ten before it; one in ten prints a few
    lines, one in fifty runs three foreach items, one in a hundred fails once and is retried."""
    lines = ["test_meta: {test_id: DASHBOARD-BENCH}", "steps:"]
    for index in range(steps):
        lines.append(f"  - name: step_{index:04d}")
        if index % 100 == 7:
            lines.append("    uses: shell")
            lines.append(f'    args: {{cmd: "test -f m{index} || {{ touch m{index}; exit 1; }}"}}')
            lines.append("    retry: {attempts: 2, delay: 0}")
        elif index % 50 == 3:
            lines.append("    uses: shell")
            lines.append('    foreach: "{{ [1, 2, 3] }}"')
            lines.append('    args: {cmd: "echo item {{ item }}"}')
        elif index % 10 == 5:
            lines.append("    uses: shell")
            lines.append('    args: {cmd: "for i in 1 2 3 4 5; do echo line $i; done"}')
        else:
            lines.append("    uses: hello_world")
        ups = sorted({index - 1 - (index * 7) % 10, index - 1 - (index * 3) % 10} - {index}) if index >= 10 else []
        ups = [up for up in ups if up >= 0] or ([index - 1] if index else [])
        if ups:
            lines.append("    depends_on: [" + ", ".join(f"step_{up:04d}" for up in ups) + "]")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="f0-dashboard-render-"))
    store = f"sqlite:///{folder}/runs.db"
    (folder / "big.yaml").write_text(recipe(args.steps), encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("F0_")}
    ran = subprocess.run(
        [sys.executable, "-m", "framework0", "run", "big.yaml", "--json", "--store", store],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    run = json.loads(ran.stdout)
    token = secrets.token_urlsafe(32)
    server = subprocess.Popen(
        [sys.executable, "-m", "framework0", "serve", "--port", "0", "--store", store],
        cwd=folder,
        env={**environment, "F0_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        url = ""
        while not url:
            line = server.stderr.readline()
            if not line:
                raise SystemExit("f0 serve did not start")
            found = re.search(r"serving on (http://\S+)", line)
            url = found.group(1) if found else ""
        page_url = f"{url}/runs/{run['run_id']}"
        answers: list[float] = []
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            for _ in range(args.repeat):
                started = time.perf_counter()
                client.get(page_url).raise_for_status()
                answers.append((time.perf_counter() - started) * 1000)
        totals: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(url + "/login?checked=1")
                page.fill("#token", token)
                page.click("button[type=submit]")
                page.locator("body[data-rendered]").wait_for(state="attached")
                page.goto(page_url)  # warm-up: the static files into the browser's cache
                page.locator("body[data-rendered]").wait_for(state="attached")
                for _ in range(args.repeat):
                    page.goto(page_url)
                    page.locator("body[data-rendered]").wait_for(state="attached")
                    totals.append(float(page.evaluate("Number(document.body.dataset.rendered)")))
            finally:
                browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    attempts = sum(step["attempts"] for step in run["steps"].values())
    print(f"run of {len(run['steps'])} steps ({attempts} attempts), page {page_url.rsplit('/', 1)[-1]}")
    print(f"server answer (GET /runs/RUN), median of {args.repeat}: {statistics.median(answers):.0f} ms")
    first = statistics.median(totals)
    print(f"first render (navigation start -> drawn and painted), median of {args.repeat}: {first:.0f} ms")
    print("  runs: " + ", ".join(f"{value:.0f}" for value in totals) + " ms")


if __name__ == "__main__":
    main()
