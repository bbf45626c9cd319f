"""The front-end libraries: pinned in frontend/, vendored with their licences, nothing fetched at run time."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
VENDOR = ROOT / "src" / "framework0" / "viz" / "web" / "static" / "vendor"
#: each vendored file: (npm package, file in the package, licence file of the package)
VENDORED = {"svg-pan-zoom.min.js": ("svg-pan-zoom", "dist/svg-pan-zoom.min.js", "svg-pan-zoom.LICENSE")}


def _pins() -> dict[str, str]:
    dependencies: dict[str, str] = json.loads((FRONTEND / "package.json").read_text())["dependencies"]
    return dependencies


def test_every_front_end_dependency_is_pinned_to_an_exact_version() -> None:
    assert _pins()
    for name, version in _pins().items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is pinned loosely: {version!r}"


def test_the_lock_file_holds_each_pinned_version_with_its_integrity_hash() -> None:
    lock = json.loads((FRONTEND / "package-lock.json").read_text())
    for name, version in _pins().items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        assert entry["integrity"].startswith("sha512-")


def test_each_vendored_file_is_the_pinned_version_and_has_its_licence_beside_it() -> None:
    for filename, (package, _, licence) in VENDORED.items():
        header = (VENDOR / filename).read_text(encoding="utf-8")[:200]
        assert f"v{_pins()[package]}" in header, f"{filename} is not version {_pins()[package]}"
        assert "Redistribution and use" in (VENDOR / licence).read_text(encoding="utf-8")


def test_the_vendor_folder_lists_every_file_with_its_version_and_licence() -> None:
    listing = (VENDOR / "README.md").read_text(encoding="utf-8")
    for filename, (package, _, licence) in VENDORED.items():
        assert f"`{filename}`" in listing and _pins()[package] in listing and f"`{licence}`" in listing


def test_make_vendor_copies_exactly_the_vendored_files() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for package, source, licence in VENDORED.values():
        assert f"frontend/node_modules/{package}/{source} $(STATIC)/" in makefile
        assert f"$(STATIC)/{licence}" in makefile
    assert {path.name for path in VENDOR.iterdir()} == {"README.md", *VENDORED, *(v[2] for v in VENDORED.values())}
