"""Starts the `tritonserver` binary that PyTriton's wheel ships (Triton 2.51, python backend
only) on a model repository, e.g. one `mmedge export-triton` wrote:

    bash scripts/triton_env.sh scripts/tritonserver.py --model-repository=REPO \\
        --http-address=127.0.0.1 --grpc-address=127.0.0.1 --http-port=8000 ...

Every argument goes to tritonserver. The binary is copied once, beside the venv
(build/tritonserver), with the python backend stub of this Python (what PyTriton itself does)
and started with PyTriton's
libraries on LD_LIBRARY_PATH and this venv's bin first on PATH, replacing this process (its PID
is the server's). This build has no onnxruntime or tensorrt backend: a repository's
`onnxruntime_onnx` models do not load in it (tests/serve/test_triton_repo_server.py serves them
through a python-backend stand-in and says so).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from pytriton.utils.distribution import get_libs_path, get_root_module_path, get_stub_path


def main(argv: list[str]) -> None:
    source = get_root_module_path() / "tritonserver"
    server = Path(sys.prefix).parent / "tritonserver"
    if not (server / "backends" / "python" / "triton_python_backend_stub").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=".tritonserver.", dir=server.parent))
        shutil.copytree(source, tmp / "t", ignore=shutil.ignore_patterns("python_backend_stubs"))
        stub = get_stub_path(f"{sys.version_info.major}.{sys.version_info.minor}")
        shutil.copy(stub, tmp / "t" / "backends" / "python" / "triton_python_backend_stub")
        shutil.rmtree(server, ignore_errors=True)
        os.replace(tmp / "t", server)
        shutil.rmtree(tmp)
    env = dict(os.environ)
    libs = [env.get("LD_LIBRARY_PATH", ""), str(get_libs_path())]
    env["LD_LIBRARY_PATH"] = ":".join(p for p in libs if p)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    binary = str(server / "bin" / "tritonserver")
    os.execve(binary, [binary, f"--backend-directory={server / 'backends'}", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
