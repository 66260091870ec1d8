"""Builds mmedge: the Python packages (sdk/ -> mmedge, export/ -> mmedge.export) and the
compiled kernels mmedge._C from cpp_ext/ with CMake and pybind11.

CUDA: the kernels are compiled when nvcc is found (CUDACXX, PATH, or /usr/local/cuda/bin).
    MMEDGE_CUDA=0            never compile CUDA
    MMEDGE_CUDA=1            require it (fail when nvcc is missing)
    MMEDGE_CUDA_ARCHS="87-real;90"   architectures (default: Jetson Orin sm_87, Hopper sm_90 + PTX)
The build prints what it chose; `mmedge info` reports it afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
DEFAULT_CUDA_ARCHS = "87-real;90"


def read_version() -> str:
    text = (ROOT / "sdk" / "_version.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', text)
    if match is None:
        raise RuntimeError("sdk/_version.py holds no __version__")
    return match.group(1)


def find_nvcc() -> str | None:
    candidates = [os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def cuda_choice() -> tuple[str | None, str]:
    """(nvcc path or None, the reason), honouring MMEDGE_CUDA=0|1."""
    forced = os.environ.get("MMEDGE_CUDA", "").strip()
    if forced not in ("", "0", "1"):
        raise RuntimeError(f"MMEDGE_CUDA must be 0 or 1, got {forced!r}")
    if forced == "0":
        return None, "MMEDGE_CUDA=0"
    nvcc = find_nvcc()
    if nvcc is None:
        if forced == "1":
            raise RuntimeError("MMEDGE_CUDA=1 but nvcc was not found (set CUDACXX or PATH)")
        return None, "nvcc not found"
    return nvcc, f"nvcc at {nvcc}" + (" (MMEDGE_CUDA=1)" if forced == "1" else "")


def reset_stale_cache(build_dir: Path, args: list[str]) -> None:
    """Forgets a CMake cache made with other tools. Each isolated `pip install .` runs in a new
    temporary environment, so a cache from the last one points at a ninja, pybind11 and Python
    that no longer exist."""
    fingerprint = "\n".join(a for a in args if not a.startswith("-DMMEDGE_OUTPUT_DIR"))
    stamp = build_dir / "mmedge-configure-args.txt"
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return
    (build_dir / "CMakeCache.txt").unlink(missing_ok=True)
    shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)
    stamp.write_text(fingerprint)


class CMakeExtension(Extension):
    def __init__(self, name: str, source_dir: Path) -> None:
        super().__init__(name, sources=[])
        self.source_dir = source_dir


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if not isinstance(ext, CMakeExtension):
            super().build_extension(ext)
            return
        import pybind11

        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        nvcc, reason = cuda_choice()
        archs = os.environ.get("MMEDGE_CUDA_ARCHS", DEFAULT_CUDA_ARCHS)
        args = [
            f"-DCMAKE_BUILD_TYPE={os.environ.get('MMEDGE_BUILD_TYPE', 'Release')}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DMMEDGE_OUTPUT_DIR={target.parent}",
            f"-DMMEDGE_MODULE_FILENAME={target.name}",
            f"-DMMEDGE_VERSION={read_version()}",
        ]
        if nvcc:
            args += [
                "-DMMEDGE_WITH_CUDA=ON",
                f"-DCMAKE_CUDA_COMPILER={nvcc}",
                f"-DMMEDGE_CUDA_ARCHITECTURES={archs}",
            ]
            print(
                f"mmedge: compiling the C++17 kernels and the CUDA kernels for {archs} ({reason}); "
                "about 40 s on 2 cores",
                flush=True,
            )
        else:
            args += ["-DMMEDGE_WITH_CUDA=OFF"]
            print(
                f"mmedge: compiling the C++17 CPU kernels only ({reason}); about 30 s on 2 cores",
                flush=True,
            )
        ninja = shutil.which("ninja")
        if ninja:
            args += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
        reset_stale_cache(build_dir, args)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
        subprocess.run(
            ["cmake", "-S", str(ext.source_dir), "-B", str(build_dir), *args], check=True
        )
        subprocess.run(["cmake", "--build", str(build_dir), "--parallel", jobs], check=True)
        if not target.is_file():
            raise RuntimeError(f"CMake finished but {target} was not produced")


def packages() -> list[str]:
    sdk = ["mmedge"] + [f"mmedge.{p}" for p in find_packages("sdk")]
    export = ["mmedge.export"] + [f"mmedge.export.{p}" for p in find_packages("export")]
    return sdk + export


setup(
    version=read_version(),
    packages=packages(),
    package_dir={"mmedge": "sdk", "mmedge.export": "export"},
    package_data={
        "mmedge": ["bundle/schema/*.json", "bundles/*/*", "bundles/*/*/*", "samples/*", "py.typed"]
    },
    ext_modules=[CMakeExtension("mmedge._C", ROOT / "cpp_ext")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
