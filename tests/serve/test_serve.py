"""`mmedge serve` for real: Triton Inference Server (PyTriton's tritonserver) started on
127.0.0.1 by the test in the venv scripts/triton_env.sh makes (the system's Python, NumPy < 2),
serving the built-in bundles; answers equal the local mmedge.Model's bit for bit at fp32;
concurrent requests are batched (Triton's statistics: more inferences than executions); the
server process group is stopped by its PID at the end."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from triton_process import TRITON_ENV, free_ports, infer, start, stop

import mmedge
import mmedge.sources
from mmedge.datasets import read_wav

grpc = pytest.importorskip("tritonclient.grpc")
REPO = Path(__file__).resolve().parents[2]
BUNDLES = ("scene_image", "scene_audio", "digit_detector")


def _start(log: Path, bundles: tuple[str, ...] = BUNDLES):
    """(process, gRPC client, gRPC port, metrics port) of `mmedge serve` on 127.0.0.1, ready."""
    http_port, grpc_port, metrics_port = free_ports(3)
    command = [
        *TRITON_ENV, "-m", "mmedge.cli", "serve",
        *[mmedge.builtin_bundle(b) for b in bundles], "--address", "127.0.0.1",
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    client = grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    proc = start(command, log, client, bundles)
    return proc, client, grpc_port, metrics_port


@pytest.fixture(scope="module")
def server(triton_env: None, tmp_path_factory: pytest.TempPathFactory):
    proc, client, grpc_port, metrics_port = _start(tmp_path_factory.mktemp("serve") / "log")
    try:
        yield client, metrics_port, grpc_port
    finally:
        stop(proc)


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
            got, expected = infer(server, "scene_image", RAW=frame[None]), model.predict(frame)
            assert got.as_numpy("LABEL")[0][0].decode() == expected.label
            np.testing.assert_array_equal(got.as_numpy("PROBS")[0], expected.probs)
    samples, rate = read_wav(data_dir / "fsdd" / "recordings" / "3_jackson_0.wav")
    with mmedge.Model(mmedge.builtin_bundle("scene_audio"), precision="fp32") as model:
        got = infer(
            server, "scene_audio", SAMPLES=samples[None], SAMPLE_RATE=np.array([[rate]], np.int32)
        )
        np.testing.assert_array_equal(
            got.as_numpy("PROBS")[0], model.predict(samples, sample_rate=rate).probs
        )
    with mmedge.Model(mmedge.builtin_bundle("digit_detector"), precision="fp32") as model:
        for frame in video_frames[:3]:
            got, expected = infer(server, "digit_detector", RAW=frame), model.predict(frame)
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
        results = list(pool.map(lambda _: infer(server, "scene_image", RAW=frame), range(64)))
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
        stop(proc)
    assert killed
    errors = [e["error"] for e in pipe.stats()["errors"] if e["modality"] == "cam"]
    assert any(f"triton server 127.0.0.1:{grpc_port}" in e for e in errors), errors[:3]
    assert "MMEdgeError: cam stopped after 10 failures in a row" in errors
    late = [r for r in results if r.t_s > killed[0] + 1.5]
    assert late and all({c.modality for c in r.contributors} == {"audio"} for r in late[-3:])
    assert results[-1].t_s >= 7.5  # the audio ran to the end of the scene


def test_server_side_preprocessing_gives_the_local_answers(
    server, video_frames, data_dir: Path
) -> None:
    """preprocess="server": raw samples to BUNDLE_raw, the network's outputs back,
    post-processing here. 12 frames of one size go as 8 + 4 (the server's max_batch_size);
    frames and clips of different sizes one request each."""
    _, _, grpc_port = server
    same = [f for f in video_frames if f.shape == video_frames[0].shape]
    sizes = {f.shape: f for f in video_frames}
    assert len(sizes) > 1
    frames = [same[i % len(same)] for i in range(12)] + list(sizes.values())
    samples, rate = read_wav(data_dir / "fsdd" / "recordings" / "9_lucas_4.wav")
    for name in BUNDLES:
        url = f"triton://127.0.0.1:{grpc_port}/{name}_raw"
        with (
            mmedge.Model(mmedge.builtin_bundle(name), backend=url, preprocess="server") as remote,
            mmedge.Model(mmedge.builtin_bundle(name), precision="fp32") as local,
        ):
            if name == "scene_audio":
                clips = [samples, samples[::-1].copy(), samples[: len(samples) // 2]]
                got = remote.predict_batch(clips, sample_rates=[rate] * 3)
                expected = [local.predict(s, sample_rate=rate) for s in clips]
            else:
                got, expected = remote.predict_batch(frames), [local.predict(f) for f in frames]
            for g, e in zip(got, expected, strict=True):
                if name == "digit_detector":
                    np.testing.assert_array_equal(g.xyxy, e.xyxy)
                else:
                    np.testing.assert_array_equal(g.probs, e.probs)


def test_a_bad_request_gets_tritons_error_naming_the_input(server, video_frames) -> None:
    client, _, _ = server
    with pytest.raises(Exception, match="RAW"):
        infer(client, "scene_image", RAW=video_frames[0][None].astype(np.float32))
    with pytest.raises(Exception, match="RAW"):  # rank 2 where (batch, H, W, C) is declared
        infer(client, "scene_image", RAW=video_frames[0][None, :, :, 0])


def test_a_port_in_use_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any model loads (no server starts, so no PyTriton needed)."""
    from mmedge.cli import main

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        http_port, metrics_port = free_ports(2)
        code = main(["serve", mmedge.builtin_bundle("scene_image"), "--address", "127.0.0.1",
                     "--http-port", str(http_port), "--grpc-port", str(busy),
                     "--metrics-port", str(metrics_port)])  # fmt: skip
    assert code != 0
    assert f"--grpc-port {busy}: cannot listen on 127.0.0.1:{busy}" in capsys.readouterr().err


def test_a_pipeline_modality_with_server_preprocessing(server) -> None:
    """Pipeline.add(..., backend="triton://.../BUNDLE_raw", preprocess="server") in file mode
    (nothing dropped): every camera result equals the same pipeline's with a local model."""
    _, _, grpc_port = server
    url = f"triton://127.0.0.1:{grpc_port}/scene_image_raw"

    def camera_probs(**options: Any) -> list[tuple[float, np.ndarray]]:
        scene = mmedge.sources.SyntheticScene(2.0, seed=3)
        pipe = mmedge.Pipeline().add(
            "cam", scene.video, mmedge.builtin_bundle("scene_image"), **options
        )
        results = pipe.run(timeout_s=60)
        assert not pipe.stats()["errors"]
        return [(r.t_s, r.probs) for r in results]  # one modality: its own answers

    remote, local = camera_probs(backend=url, preprocess="server"), camera_probs(precision="fp32")
    assert len(remote) == len(local) == 30  # 2 s at 15 fps, file mode: none dropped
    for (t_got, got), (t_expected, expected) in zip(remote, local, strict=True):
        assert t_got == t_expected
        np.testing.assert_array_equal(got, expected)
