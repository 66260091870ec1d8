"""The build and the project's own contracts: CUDA compiled when nvcc is there, the README's test
command is what CI runs, the runtime package does not import torch, and the code keeps the shape
of its design (no import cycle, small modules and functions; scripts/code_shape.py)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from mmedge._ext import C

REPO = Path(__file__).resolve().parents[1]


def test_cuda_kernels_built_when_nvcc_is_present() -> None:
    """CI has nvcc 13 and no GPU: the CUDA sources must compile there, for Orin and Hopper."""
    if os.environ.get("MMEDGE_CUDA") == "0" or shutil.which("nvcc") is None:
        pytest.skip("no nvcc on this machine (or MMEDGE_CUDA=0): the CPU-only build is expected")
    assert C.cuda_compiled, "nvcc is on PATH but mmedge._C was built without CUDA"
    archs = C.cuda_architectures.split(",")
    assert any(a.startswith("87") for a in archs), archs
    assert any(a.startswith("90") for a in archs), archs


def readme_test_command() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"```(?:bash|sh)\n# Run the whole test suite\n(.+?)\n```", text, re.S)
    assert match, "README.md has no '# Run the whole test suite' block"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    assert readme_test_command() in (REPO / ".ci" / "run").read_text()


def test_scripts_name_tests_that_exist() -> None:
    """The device check and the sanitizer run named test files: they must follow moves."""
    for script in ("scripts/device_check.sh", "scripts/sanitize.sh"):
        named = re.findall(r"tests/[\w/]+\.py", (REPO / script).read_text())
        assert named, script
        assert [p for p in named if not (REPO / p).is_file()] == [], script


def test_runtime_tests_do_without_torch() -> None:
    """Tests of the runtime's packages use the built-in bundles: no torch, no mmedge.export."""
    offenders = []
    for folder in ("bundle", "runtime", "preprocess", "sources", "pipeline"):
        for path in (REPO / "tests" / folder).rglob("*.py"):
            text = path.read_text()
            if re.search(r"^\s*(import torch|from torch|from mmedge\.export)", text, re.M):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_runtime_never_imports_torch_or_export() -> None:
    """Dependencies point one way (export -> sdk -> _C): nothing under sdk/ imports torch,
    onnx or mmedge.export at module level or anywhere else."""
    offenders = []
    for path in (REPO / "sdk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("torch", "onnx", "onnxscript") or name.startswith(
                    "mmedge.export"
                ):
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    # The CLI hands `export` and `validate --model` to mmedge.export, lazily, inside the command.
    allowed = {"sdk/cli.py: mmedge.export", "sdk/cli.py: mmedge.export.cli"}
    assert set(offenders) <= allowed, sorted(set(offenders) - allowed)


def _code_shape():  # scripts/ is not a package: import the counting script by path
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import code_shape
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return code_shape.measure()


def test_the_code_keeps_its_shape() -> None:
    """No import cycle in sdk/ and export/, no module of sdk/ over 400 lines, no function with
    more than 80 lines of body (after its signature and docstring; benchmark mains aside)."""
    shape = _code_shape()
    assert shape["import_cycles"] == []
    assert shape["sdk_modules_over_400_lines"] == []
    assert shape["function_bodies_over_80_lines"] == []
