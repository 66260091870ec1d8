"""`mmedge serve` for real: Triton Inference Server (PyTriton's tritonserver) started on
127.0.0.1 by the test in the venv scripts/triton_env.sh makes (the system's Python, NumPy < 2),
serving the built-in bundles; answers equal the local mmedge.Model's bit for bit at fp32;
concurrent requests are batched (Triton's statistics: more inferences than executions); the
server process group is stopped by its PID at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.datasets import read_wav

grpc = pytest.importorskip("tritonclient.grpc")
REPO = Path(__file__).resolve().parents[2]
BUNDLES = ("scene_image", "scene_audio", "digit_detector")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    env_check = subprocess.run(
        ["bash", str(REPO / "scripts" / "triton_env.sh"), "-c", "import pytriton"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if env_check.returncode != 0:
        pytest.skip(f"no PyTriton environment: {env_check.stderr.strip()[-300:]}")
    http_port, grpc_port, metrics_port = _free_ports(3)
    log = tmp_path_factory.mktemp("serve") / "server.log"
    command = [
        "bash", str(REPO / "scripts" / "triton_env.sh"), "-m", "mmedge.cli", "serve",
        *[mmedge.builtin_bundle(b) for b in BUNDLES], "--address", "127.0.0.1",
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        client = grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        deadline = time.monotonic() + 120
        while True:
            try:
                if all(client.is_model_ready(b) for b in BUNDLES):
                    break
            except Exception:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mmedge serve did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield client, metrics_port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's whole process group, by its PID
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _infer(client, model: str, **arrays: np.ndarray):
    inputs = []
    for name, array in arrays.items():
        kind = {np.uint8: "UINT8", np.float32: "FP32", np.int32: "INT32"}[array.dtype.type]
        tensor = grpc.InferInput(name, list(array.shape), kind)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return client.infer(model, inputs, client_timeout=30)


def _counts(metrics_port: int, model: str) -> tuple[int, int]:
    """(inferences, executions) of a model from Triton's Prometheus metrics (PyTriton keeps the
    statistics API to itself)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read()
    counts = {}
    for line in text.decode().splitlines():
        for key in ("nv_inference_count", "nv_inference_exec_count"):
            if line.startswith(key + "{") and f'model="{model}"' in line:
                counts[key] = int(float(line.rsplit(" ", 1)[1]))
    return counts.get("nv_inference_count", 0), counts.get("nv_inference_exec_count", 0)


def test_answers_equal_the_local_model(server, video_frames, data_dir: Path) -> None:
    server, _ = server
    with mmedge.Model(mmedge.builtin_bundle("scene_image"), precision="fp32") as model:
        for frame in video_frames[:4]:
            got, expected = _infer(server, "scene_image", RAW=frame[None]), model.predict(frame)
            assert got.as_numpy("LABEL")[0][0].decode() == expected.label
            np.testing.assert_array_equal(got.as_numpy("PROBS")[0], expected.probs)
    samples, rate = read_wav(data_dir / "fsdd" / "recordings" / "3_jackson_0.wav")
    with mmedge.Model(mmedge.builtin_bundle("scene_audio"), precision="fp32") as model:
        got = _infer(
            server, "scene_audio", SAMPLES=samples[None], SAMPLE_RATE=np.array([[rate]], np.int32)
        )
        np.testing.assert_array_equal(
            got.as_numpy("PROBS")[0], model.predict(samples, sample_rate=rate).probs
        )
    with mmedge.Model(mmedge.builtin_bundle("digit_detector"), precision="fp32") as model:
        for frame in video_frames[:3]:
            got, expected = _infer(server, "digit_detector", RAW=frame), model.predict(frame)
            n = int(got.as_numpy("COUNT")[0])
            assert n == len(expected)
            np.testing.assert_array_equal(got.as_numpy("BOXES")[:n], expected.xyxy)
            np.testing.assert_array_equal(got.as_numpy("SCORES")[:n], expected.scores)
            assert [s.decode() for s in got.as_numpy("LABELS")[:n]] == list(expected.labels)


def test_concurrent_requests_are_batched(server, video_frames) -> None:
    server, metrics_port = server
    frame = video_frames[0][None]
    before = _counts(metrics_port, "scene_image")
    with ThreadPoolExecutor(16) as pool:  # 64 requests, 16 at a time, bounded by the timeout
        results = list(pool.map(lambda _: _infer(server, "scene_image", RAW=frame), range(64)))
    labels = {r.as_numpy("LABEL")[0][0] for r in results}
    assert len(labels) == 1
    time.sleep(1.5)  # Triton refreshes its metrics every second
    after = _counts(metrics_port, "scene_image")
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == 64 and executions < inferences, (inferences, executions)
