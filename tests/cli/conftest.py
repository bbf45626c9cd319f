"""The CLI tests use the store tests' databases (tests/store/store_backends.py) for PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
