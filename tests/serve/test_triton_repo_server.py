"""An `mmedge export-triton` repository in a running Triton Inference Server: the tritonserver
binary of PyTriton's wheel (Triton 2.51) started on 127.0.0.1 by scripts/tritonserver.py and
stopped by its PID. The repository's preprocessing and post-processing models (python
backend), its ensembles and its raw ensembles run as written. That build has no onnxruntime
backend, so each NAME_model (platform onnxruntime_onnx) is replaced by a python-backend
stand-in running the same model.onnx on mmedge's ONNX Runtime backend: this proves the
generated python models, configs and ensemble wiring inside Triton, not Triton's onnxruntime
backend. Answers are compared with the local mmedge.Model bit for bit at fp32."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from triton_process import REPO, TRITON_ENV, free_ports, infer, start, stop

import mmedge
from mmedge.datasets import read_wav
from mmedge.serve import export_triton

grpc = pytest.importorskip("tritonclient.grpc")
BUILTINS = ("scene_image", "scene_audio", "digit_detector")
STAND_IN = '''"""Test stand-in for Triton's onnxruntime backend (absent from PyTriton's
tritonserver): the model.onnx beside it on mmedge's ONNX Runtime backend (CPU), as a local
mmedge.Model runs it."""
from pathlib import Path

import triton_python_backend_utils as pb_utils

from mmedge.runtime.backends import create_backend


class TritonPythonModel:
    def initialize(self, args):
        folder = Path(args["model_repository"]) / args["model_version"]
        self.backend = create_backend("ort", folder / "model.onnx")

    def execute(self, requests):
        responses = []
        for request in requests:
            feeds = {t.name: pb_utils.get_input_tensor_by_name(request, t.name).as_numpy()
                     for t in self.backend.inputs}
            out = self.backend.infer(feeds)
            tensors = [pb_utils.Tensor(k, v) for k, v in out.items()]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
'''


def _with_stand_ins(repo: Path) -> None:
    for name in BUILTINS:
        folder = repo / f"{name}_model"
        config = (folder / "config.pbtxt").read_text()
        assert 'platform: "onnxruntime_onnx"' in config
        (folder / "config.pbtxt").write_text(
            config.replace('platform: "onnxruntime_onnx"', 'backend: "python"')
        )
        (folder / "1" / "model.py").write_text(STAND_IN)


@pytest.fixture(scope="module")
def server(triton_env: None, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("triton-repo")
    repo = export_triton([mmedge.builtin_bundle(b) for b in BUILTINS], folder / "repo")
    _with_stand_ins(repo)
    http_port, grpc_port, metrics_port = free_ports(3)
    command = [
        *TRITON_ENV, str(REPO / "scripts" / "tritonserver.py"), f"--model-repository={repo}",
        "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
        f"--http-port={http_port}", f"--grpc-port={grpc_port}", f"--metrics-port={metrics_port}",
    ]  # fmt: skip
    client = grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    proc = start(command, folder / "log", client, [*BUILTINS, *(f"{b}_raw" for b in BUILTINS)])
    try:
        yield client, grpc_port
    finally:
        stop(proc)
        client.close()


def test_the_ensembles_answer_as_the_model_does(server, video_frames, data_dir: Path) -> None:
    client, _ = server
    with mmedge.Model(mmedge.builtin_bundle("scene_image"), precision="fp32") as model:
        for frame in video_frames[:4]:
            got, expected = infer(client, "scene_image", RAW=frame), model.predict(frame)
            assert got.as_numpy("LABEL")[0].decode() == expected.label
            np.testing.assert_array_equal(got.as_numpy("PROBS"), expected.probs)
    samples, rate = read_wav(data_dir / "fsdd" / "recordings" / "3_jackson_0.wav")
    with mmedge.Model(mmedge.builtin_bundle("scene_audio"), precision="fp32") as model:
        rates = np.array([rate], np.int32)
        got = infer(client, "scene_audio", SAMPLES=samples, SAMPLE_RATE=rates)
        np.testing.assert_array_equal(
            got.as_numpy("PROBS"), model.predict(samples, sample_rate=rate).probs
        )
    with mmedge.Model(mmedge.builtin_bundle("digit_detector"), precision="fp32") as model:
        for frame in video_frames[:3]:
            got, expected = infer(client, "digit_detector", RAW=frame), model.predict(frame)
            np.testing.assert_array_equal(got.as_numpy("BOXES"), expected.xyxy)
            np.testing.assert_array_equal(got.as_numpy("SCORES"), expected.scores)
            assert [s.decode() for s in got.as_numpy("LABELS")] == list(expected.labels)


def test_server_side_preprocessing_gives_the_local_answers(
    server, video_frames, data_dir: Path
) -> None:
    """Model(..., backend="triton://.../NAME_raw", preprocess="server"): raw samples to the
    raw ensemble (one request per sample: it has no batch axis), post-processing here."""
    _, grpc_port = server
    samples, rate = read_wav(data_dir / "fsdd" / "recordings" / "7_george_3.wav")
    for name in BUILTINS:
        bundle = mmedge.builtin_bundle(name)
        url = f"triton://127.0.0.1:{grpc_port}/{name}_raw"
        with (
            mmedge.Model(bundle, backend=url, preprocess="server") as remote,
            mmedge.Model(bundle, precision="fp32") as local,
        ):
            assert remote.describe()["preprocess_on"] == "server"
            if name == "scene_audio":
                got, expected = (
                    [remote.predict(samples, sample_rate=rate)],
                    [local.predict(samples, sample_rate=rate)],
                )
            else:
                got, expected = (
                    remote.predict_batch(video_frames[:3]),
                    [local.predict(f) for f in video_frames[:3]],
                )
            for g, e in zip(got, expected, strict=True):
                if name == "digit_detector":
                    np.testing.assert_array_equal(g.xyxy, e.xyxy)
                    assert g.labels == e.labels
                else:
                    np.testing.assert_array_equal(g.probs, e.probs)


def test_concurrent_requests_are_batched(server, video_frames) -> None:
    """Triton's statistics API (/v2/models/<m>/stats, here over gRPC): 48 concurrent requests
    to the ensemble reach its network model in fewer executions than inferences (dynamic
    batching, max_batch_size 8)."""
    client, _ = server

    def stats() -> tuple[int, int]:
        s = client.get_inference_statistics("scene_image_model").model_stats[0]
        return int(s.inference_count), int(s.execution_count)

    before = stats()
    with ThreadPoolExecutor(16) as pool:  # 48 requests, 16 at a time, bounded by the timeout
        labels = list(pool.map(
            lambda i: infer(client, "scene_image", RAW=video_frames[i % 4]).as_numpy("LABEL")[0],
            range(48),
        ))  # fmt: skip
    assert len(labels) == 48
    after = stats()
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == 48 and executions < inferences, (inferences, executions)


def test_a_bad_request_gets_tritons_error_naming_the_input(server, video_frames) -> None:
    client, _ = server
    frame = video_frames[0].astype(np.float32)
    with pytest.raises(Exception, match="RAW") as caught:
        infer(client, "scene_image", RAW=frame)
    assert "UINT8" in str(caught.value) or "uint8" in str(caught.value).lower()
