"""For the serving tests: free loopback ports, the PyTriton environment's command
(scripts/triton_env.sh), starting a server in its own process group and stopping it by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TRITON_ENV = ["bash", str(REPO / "scripts" / "triton_env.sh")]
START_S = 120  # a cold start loads every bundle and spawns a python stub per model


def free_ports(n: int) -> list[int]:
    """n loopback ports nobody listens on (now)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen) -> None:
    """The server's whole process group, by its PID: SIGTERM, then SIGKILL after 30 s. Fails
    the test when a process of the group (a backend stub, say) outlives a clean stop by 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    deadline = time.monotonic() + 15
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"processes of the server's group {proc.pid} outlived its stop")


def start(command: Sequence[str], log: Path, client: Any, models: Sequence[str]):
    """Starts `command` in its own session, logging to `log`; returns the process once every
    model in `models` is ready (fails the test, the process stopped, after START_S)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + START_S
    while True:
        try:
            if all(client.is_model_ready(m) for m in models):
                return proc
        except Exception:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"{command[2:4]} did not come up: {log.read_text()[-3000:]}")
        time.sleep(0.5)


def infer(client: Any, model: str, **arrays: np.ndarray) -> Any:
    """One gRPC request with these inputs (uint8, float32 or int32 arrays)."""
    import tritonclient.grpc as grpc

    inputs = []
    for name, array in arrays.items():
        kind = {np.uint8: "UINT8", np.float32: "FP32", np.int32: "INT32"}[array.dtype.type]
        tensor = grpc.InferInput(name, list(array.shape), kind)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return client.infer(model, inputs, client_timeout=30)
