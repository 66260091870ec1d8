"""`mmedge serve` for real: Triton Inference Server (PyTriton's tritonserver) started on
127.0.0.1 by the test in the venv scripts/triton_env.sh makes (the system's Python, NumPy < 2),
serving the built-in bundles; answers equal the local mmedge.Model's bit for bit at fp32;
concurrent requests are batched (Triton's statistics: more inferences than executions); the
server process group is stopped by its PID at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mmedge
import mmedge.sources
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


def _start(log: Path, bundles: tuple[str, ...] = BUNDLES):
    """(process, gRPC client, gRPC port, metrics port) of `mmedge serve` on 127.0.0.1, ready."""
    http_port, grpc_port, metrics_port = _free_ports(3)
    command = [
        "bash", str(REPO / "scripts" / "triton_env.sh"), "-m", "mmedge.cli", "serve",
        *[mmedge.builtin_bundle(b) for b in bundles], "--address", "127.0.0.1",
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    client = grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    deadline = time.monotonic() + 120
    while True:
        try:
            if all(client.is_model_ready(b) for b in bundles):
                return proc, client, grpc_port, metrics_port
        except Exception:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"mmedge serve did not come up: {log.read_text()[-2000:]}")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    """The server's whole process group, by its PID."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(scope="module")
def triton_env() -> None:
    check = subprocess.run(
        ["bash", str(REPO / "scripts" / "triton_env.sh"), "-c", "import pytriton"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if check.returncode != 0:
        pytest.skip(f"no PyTriton environment: {check.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def server(triton_env: None, tmp_path_factory: pytest.TempPathFactory):
    proc, client, grpc_port, metrics_port = _start(tmp_path_factory.mktemp("serve") / "log")
    try:
        yield client, metrics_port, grpc_port
    finally:
        _stop(proc)


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
    server, _, _ = server
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
    server, metrics_port, _ = server
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


def test_a_remote_backend_gives_the_local_answers(server, video_frames) -> None:
    """Model(bundle, backend="triton://...") runs the network on the server (BUNDLE_model) and
    the preprocessing here: the same probabilities, bit for bit."""
    _, _, grpc_port = server
    bundle = mmedge.builtin_bundle("scene_image")
    url = f"triton://127.0.0.1:{grpc_port}/scene_image_model"
    with (
        mmedge.Model(bundle, backend=url) as remote,
        mmedge.Model(bundle, precision="fp32") as local,
    ):
        assert remote.describe()["backend"] == "triton"
        for got, frame in zip(
            remote.predict_batch(video_frames[:6]), video_frames[:6], strict=True
        ):
            np.testing.assert_array_equal(got.probs, local.predict(frame).probs)


def test_a_server_that_dies_fails_its_modality_only(
    triton_env: None, tmp_path: Path, video_frames
) -> None:
    """The server is killed mid-stream: the remote modality reports BackendError naming the
    server and ends after 10 failures in a row; the local audio modality keeps going."""
    proc, _, grpc_port, _ = _start(tmp_path / "log", ("scene_image",))
    killed: list[float] = []
    try:
        scene = mmedge.sources.SyntheticScene(8.0, seed=0)
        url = f"triton://127.0.0.1:{grpc_port}/scene_image_model"
        remote = {"backend": url, "timeout_s": 2.0, "retries": 1}
        pipe = (
            mmedge.Pipeline()
            .add("cam", scene.video, mmedge.builtin_bundle("scene_image"), **remote)
            .add("audio", scene.audio, mmedge.builtin_bundle("scene_audio"))
            .fuse("log_linear", trigger="audio", max_skew_ms=1000)
        )

        def kill_after_a_while(r: Any) -> None:
            if r.t_s >= 2.0 and not killed:
                os.killpg(proc.pid, signal.SIGKILL)
                killed.append(r.t_s)

        results = pipe.on_result(kill_after_a_while).run(timeout_s=120)
    finally:
        _stop(proc)
    assert killed
    errors = [e["error"] for e in pipe.stats()["errors"] if e["modality"] == "cam"]
    assert any(f"triton server 127.0.0.1:{grpc_port}" in e for e in errors), errors[:3]
    assert "MMEdgeError: cam stopped after 10 failures in a row" in errors
    late = [r for r in results if r.t_s > killed[0] + 1.5]
    assert late and all({c.modality for c in r.contributors} == {"audio"} for r in late[-3:])
    assert results[-1].t_s >= 7.5  # the audio ran to the end of the scene
