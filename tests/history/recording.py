"""A recipe with a step of every outcome, recorded for real (``framework0.run``) into a store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import framework0

RECIPE = """\
test_meta:
  test_id: HISTORY-001
params:
  who: world
steps:
  - name: greet
    uses: hello_world
    args: {name: "{{ params.who }}"}
  - name: boom
    uses: shell
    args: {cmd: "echo bad >&2; exit 3"}
    continue_on_error: true
  - name: never
    uses: hello_world
    when: "{{ steps.boom.status == 'succeeded' }}"
  - name: each
    uses: shell
    foreach: "{{ [1, 2] }}"
    args: {cmd: "echo line {{ item }}"}
  - name: flaky
    uses: shell
    args: {cmd: "test -f marker || { touch marker; exit 1; }"}
    retry: {attempts: 2, delay: 0}
  - name: mark
    uses: set_context
    args: {values: {done: true, count: 3}}
    depends_on: [greet]
  - name: remark
    uses: set_context
    args: {values: {count: 4}}
    depends_on: [mark]
"""


@dataclass(frozen=True)
class Recorded:
    """A store with runs in it: ``runs`` is every result, oldest first."""

    url: str
    runs: list[framework0.RunResult]


def record(folder: Path, url: str, text: str = RECIPE, *, times: int = 1, **params: str) -> list[framework0.RunResult]:
    recipe = folder / "recipe.yaml"
    recipe.write_text(text, encoding="utf-8")
    results = []
    for _ in range(times):
        (folder / "marker").unlink(missing_ok=True)
        results.append(framework0.run(str(recipe), params or None, store=url))
    return results
