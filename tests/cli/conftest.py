"""The CLI tests use the store tests' databases (tests/store/store_backends.py) and the server
tests' real servers (tests/server/servers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_TESTS / "store"))
sys.path.insert(0, str(_TESTS / "server"))
