"""The whole suite records its runs in one throwaway store, never in the checkout's .framework0."""

from __future__ import annotations

import os
import tempfile

_STORE_DIR = tempfile.TemporaryDirectory(prefix="f0-tests-")
os.environ.setdefault("F0_STORE", f"sqlite:///{_STORE_DIR.name}/framework0.db")
