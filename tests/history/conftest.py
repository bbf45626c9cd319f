"""Runs recorded for real (``framework0.run`` into a SQLite store of the test's own), read back
through ``framework0.history``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.history.recording import Recorded, record

import framework0.history
from framework0.history import History


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    monkeypatch.chdir(tmp_path)  # the shell steps' marker file
    url = f"sqlite:///{tmp_path}/runs.db"
    return Recorded(url, record(tmp_path, url, times=2))


@pytest.fixture
def history(recorded: Recorded) -> Iterator[History]:
    with framework0.history.open(recorded.url) as opened:
        yield opened
