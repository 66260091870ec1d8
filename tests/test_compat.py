"""The module paths of mmedge 0.1 still import, as the very modules of their new homes, with a
DeprecationWarning naming the new path; nothing in this repository uses them."""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest

import mmedge  # noqa: F401  (installs the aliases)
from mmedge._compat import MOVED

REPO = Path(__file__).resolve().parents[1]
NEEDS_TORCH = ("mmedge.export.",)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_old_path_is_the_new_module(old: str, new: str) -> None:
    if old.startswith(NEEDS_TORCH):
        pytest.importorskip("torch")
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert any(
        issubclass(w.category, DeprecationWarning) and f"moved to {new}" in str(w.message)
        for w in caught
    )


def test_nothing_here_imports_an_old_path() -> None:
    pattern = re.compile(
        r"^\s*(?:from|import)\s+(" + "|".join(re.escape(o) for o in MOVED) + r")\b", re.M
    )
    offenders = []
    for folder in ("sdk", "export", "tests", "benchmarks", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name in ("_compat.py", "test_compat.py"):
                continue
            offenders += [
                f"{path.relative_to(REPO)}: {m}" for m in pattern.findall(path.read_text())
            ]
    assert offenders == []


def test_specs_are_still_reachable_from_their_kernel_modules() -> None:
    """mmedge 0.1 defined ImageSpec and AudioSpec (and the image tables) in the kernel modules."""
    from mmedge.preprocess.audio import AudioSpec as OldAudio
    from mmedge.preprocess.audio_spec import AudioSpec
    from mmedge.preprocess.image import ImageSpec as OldImage
    from mmedge.preprocess.image import colour_matrix as old_matrix
    from mmedge.preprocess.image_formats import colour_matrix
    from mmedge.preprocess.image_spec import ImageSpec

    assert (OldAudio, OldImage, old_matrix) == (AudioSpec, ImageSpec, colour_matrix)
