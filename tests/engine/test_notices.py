"""What a run has to say besides its steps' progress (a risky setting, a failed store, Ctrl-C) is a
Notice event on the bus: a library caller's stderr stays quiet, and f0 shows each one on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers import invoke

import framework0
from framework0.config import Config
from framework0.events import EventBus, Notice

HELLO = "steps:\n  - {name: hello, uses: hello_world}\n"


def notices_of(bus: EventBus) -> list[Notice]:
    seen: list[Notice] = []
    bus.subscribe(lambda event: seen.append(event) if type(event) is Notice else None)
    return seen


def test_fast_durability_is_a_note_on_the_bus_not_a_print(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    bus = EventBus()
    seen = notices_of(bus)
    config = Config(store=f"sqlite:///{tmp_path}/s.db", durability="fast")

    result = framework0.run(tmp_path / "hello.yaml", config=config, bus=bus)

    assert result.ok
    assert [(n.run_id, n.level) for n in seen] == [(result.run_id, "note")]
    assert "may lose the last steps recorded" in seen[0].text
    assert capfd.readouterr().err == ""


def test_a_store_that_fails_at_the_end_is_an_error_notice_and_fails_the_run(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    bus = EventBus()
    seen = notices_of(bus)

    class Broken:
        """A store that records the run's start and then cannot be written any more."""

        url = "broken://"
        writes = 0

        def write(self, batch: dict[str, list[object]]) -> None:
            self.writes += 1
            if self.writes > 1:
                raise framework0.StoreError("disk full")

        def cache_get(self, key: str) -> None:
            return None

        def cache_candidates(self, step: str) -> list[dict[str, object]]:
            return []

        def cache_writes(self, run_id: str, step: str, created_at: float) -> None:
            return None

        def close(self) -> None:
            pass

    result = framework0.run(tmp_path / "hello.yaml", bus=bus, store=Broken())

    assert result.status == "failed"
    assert result.error is not None and result.error.type == "StoreError"
    assert [n.level for n in seen] == ["error"] and "disk full" in seen[0].text
    assert capfd.readouterr().err == ""


def test_f0_run_shows_a_notice_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    shown = invoke("run", "hello.yaml", cwd=tmp_path, env={"F0_STORE_DURABILITY": "fast"})
    assert shown.returncode == 0, shown.stderr
    assert "note: F0_STORE_DURABILITY=fast: a crash of this machine may lose the last steps recorded\n" in shown.stderr
