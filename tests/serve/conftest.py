"""The serving tests' PyTriton environment (scripts/triton_env.sh), made once per session."""

from __future__ import annotations

import subprocess

import pytest
from triton_process import TRITON_ENV


@pytest.fixture(scope="session")
def triton_env() -> None:
    """Skips when the PyTriton venv cannot be made here (no shared system libpython)."""
    check = subprocess.run(
        [*TRITON_ENV, "-c", "import pytriton"], capture_output=True, text=True, timeout=900
    )
    if check.returncode != 0:
        pytest.skip(f"no PyTriton environment: {check.stderr.strip()[-300:]}")
