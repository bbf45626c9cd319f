"""``/metrics`` of ``f0 serve``: Prometheus' text format, parsed by prometheus_client's own parser,
counting the runs that runners report to the server, their steps, retries and context writes, and
the requests the server answers; behind the token unless ``--metrics-public``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.server.servers import Server, server_thread

RECIPE = textwrap.dedent(
    """\
    test_meta: {test_id: METRICS-1}
    steps:
      - {name: greet, uses: hello_world}
      - name: flaky
        uses: shell
        args: {cmd: "test -e marker || { touch marker; exit 1; }"}
        retry: {attempts: 2}
      - {name: note, uses: set_context, args: {values: {a: 1, b: 2}}, depends_on: [flaky]}
    """
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the page: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def run_on(server: Server, folder: Path) -> None:
    recipe = folder / "metrics.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "framework0", "run", str(recipe), "--context-server", server.url],
        capture_output=True,
        text=True,
        env={**os.environ, "F0_TOKEN": server.token, "F0_STORE": "none"},
        cwd=folder,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_metrics_count_a_reported_run_its_steps_retries_context_writes_and_the_requests(tmp_path: Path) -> None:
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        run_on(server, tmp_path)
        with server.client() as client:
            client.get("/api/v1/runs")
            page = client.get("/metrics")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)
    assert found[("framework0_runs_started_total", ())] == 1
    assert found[("framework0_runs_finished_total", (("status", "succeeded"),))] == 1
    assert found[("framework0_runs_running", ())] == 0
    assert found[("framework0_steps_finished_total", (("status", "succeeded"),))] == 3
    assert found[("framework0_step_duration_seconds_count", (("status", "succeeded"),))] == 3
    assert found[("framework0_step_retries_total", ())] == 1
    assert found[("framework0_context_writes_total", (("kind", "named"),))] >= 2  # greet's, then note's batch
    runs_route = (("method", "GET"), ("route", "/api/v1/runs"), ("status", "200"))
    assert found[("framework0_http_requests_total", runs_route)] == 1
    events_route = [
        labels
        for name, labels in found
        if name == "framework0_http_requests_total" and ("route", "/api/v1/runs/{run_id}/events") in labels
    ]
    assert events_route, "the runner's posted events are counted under their route's template"


def test_metrics_need_the_token(tmp_path: Path) -> None:
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}") as server:
        answer = httpx.get(server.url + "/metrics", timeout=30)

    assert answer.status_code == 401


def test_metrics_public_serves_them_without_the_token(tmp_path: Path) -> None:
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}", metrics_public=True) as server:
        answer = httpx.get(server.url + "/metrics", timeout=30)
        other = httpx.get(server.url + "/api/v1/runs", timeout=30)

    assert answer.status_code == 200
    assert ("framework0_runs_started_total", ()) in samples(answer.text)
    assert other.status_code == 401  # only /metrics is public


def test_invented_request_methods_share_one_label(tmp_path: Path) -> None:
    with server_thread(f"sqlite:///{tmp_path / 'server.db'}", metrics_public=True) as server:
        for number in range(5):
            httpx.request(f"X{number}", server.url + "/healthz", timeout=30)
        page = httpx.get(server.url + "/metrics", timeout=30).text

    methods = {labels for name, labels in samples(page) if name == "framework0_http_requests_total"}
    assert {dict(labels)["method"] for labels in methods} <= {"GET", "other"}
