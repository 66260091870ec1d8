"""A bundle directory copied and its manifest edited, for tests of what loading refuses (shared
by the task-head tests; tests/ is on sys.path)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def edited_copy(bundle: str | Path, folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """folder/<bundle's name>: a fresh copy of `bundle` whose manifest.json `edit` changed in
    place (no checksum is updated: the manifest is not among its own checksums)."""
    copy = folder / Path(bundle).name
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy
