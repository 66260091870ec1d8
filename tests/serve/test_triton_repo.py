"""`mmedge export-triton`: every generated config.pbtxt parses with Triton's own protobuf
(tritonclient's model_config_pb2) and says what the bundle is; the ensembles are wired (every
step's inputs exist before it); the preprocessing -> ONNX model -> post-processing chain of the
repository gives what mmedge.Model gives on real frames and audio; the generated python-backend
models run against a stand-in of triton_python_backend_utils. (test_triton_repo_server.py
serves the repository with a running Triton server.)"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import mmedge
from mmedge.cli import main
from mmedge.datasets import read_wav
from mmedge.errors import MMEdgeError
from mmedge.serve import export_triton
from mmedge.serve.triton_steps import Post, Pre

BUILTINS = ("scene_image", "scene_audio", "digit_detector")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("triton") / "repo"
    return export_triton([mmedge.builtin_bundle(b) for b in BUILTINS], out)


def _config(path: Path) -> Any:
    grpc = pytest.importorskip("tritonclient.grpc")
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), grpc.model_config_pb2.ModelConfig())


def test_every_config_parses_and_describes_its_bundle(repo: Path) -> None:
    configs = {p.parent.name: _config(p) for p in repo.glob("*/config.pbtxt")}
    assert len(configs) == 5 * len(BUILTINS)  # model, pre, post, ensemble, raw ensemble
    for name in BUILTINS:
        with mmedge.Bundle.load(mmedge.builtin_bundle(name)) as bundle:
            model = configs[f"{name}_model"]
            assert model.platform == "onnxruntime_onnx" and model.max_batch_size == 8
            assert model.dynamic_batching.max_queue_delay_microseconds == 500
            assert model.instance_group[0].count == 1 and model.instance_group[0].kind == 2  # CPU
            assert list(model.input[0].dims) == list(bundle.inputs[0].shape[1:])
            assert model.input[0].name == bundle.inputs[0].name
            assert (repo / f"{name}_model" / "1" / "model.onnx").read_bytes() == bundle.artifact(
                "onnx", "fp32"
            ).path.read_bytes()
            pre = configs[f"{name}_pre"]
            assert pre.backend == "python" and list(pre.output[0].dims) == [
                1,
                *bundle.inputs[0].shape[1:],
            ]
            raw = configs[f"{name}_raw"]
            assert [o.name for o in raw.output] == [o.name for o in bundle.outputs]
            assert [o.name for o in model.output] == [o.name for o in bundle.outputs]
        for ensemble in (configs[name], configs[f"{name}_raw"]):
            assert ensemble.platform == "ensemble"
            have = {i.name for i in ensemble.input}
            for step in ensemble.ensemble_scheduling.step:
                assert set(step.input_map.values()) <= have, (name, step.model_name)
                assert step.model_name in configs
                have |= set(step.output_map.values())
            assert {o.name for o in ensemble.output} <= have


def _chain(
    repo: Path, name: str, raw: np.ndarray, rate: int | None = None
) -> dict[str, np.ndarray]:
    pre = Pre(repo / f"{name}_pre" / "1").run(raw, rate)
    session = ort.InferenceSession(
        str(repo / f"{name}_model" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    output = session.run(None, {session.get_inputs()[0].name: pre["TENSOR"]})[0]
    return Post(repo / f"{name}_post" / "1").run(output, pre["FRAME_SIZE"])


def test_the_repository_answers_as_the_model_does(repo: Path, video_frames, data_dir: Path) -> None:
    with mmedge.Model(mmedge.builtin_bundle("scene_image"), precision="fp32") as model:
        for frame in video_frames[:5]:
            got, expected = _chain(repo, "scene_image", frame), model.predict(frame)
            assert got["LABEL"][0].decode() == expected.label
            np.testing.assert_allclose(got["PROBS"], expected.probs, atol=1e-6)
    samples, rate = read_wav(data_dir / "fsdd" / "recordings" / "3_jackson_0.wav")
    with mmedge.Model(mmedge.builtin_bundle("scene_audio"), precision="fp32") as model:
        got, expected = (
            _chain(repo, "scene_audio", samples, rate),
            model.predict(samples, sample_rate=rate),
        )
        assert got["LABEL"][0].decode() == expected.label
        np.testing.assert_allclose(got["PROBS"], expected.probs, atol=1e-6)
    with mmedge.Model(mmedge.builtin_bundle("digit_detector"), precision="fp32") as model:
        for frame in video_frames[:5]:
            got, expected = _chain(repo, "digit_detector", frame), model.predict(frame)
            np.testing.assert_allclose(got["BOXES"], expected.xyxy, atol=1e-4)
            np.testing.assert_allclose(got["SCORES"], expected.scores, atol=1e-6)
            assert [s.decode() for s in got["LABELS"]] == list(expected.labels)


class _Tensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self._name, self._array = name, array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class _Response:
    def __init__(self, output_tensors: list[_Tensor], error: Any = None) -> None:
        self.output_tensors, self.error = output_tensors, error


def test_generated_python_models_run(
    repo: Path, video_frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model.py files against a stand-in of Triton's python-backend module: one request
    with a real frame gives Pre's tensors; a request with a bad frame gets an error response
    while the others in the batch are answered."""
    utils = types.ModuleType("triton_python_backend_utils")
    utils.Tensor = _Tensor  # type: ignore[attr-defined]
    utils.InferenceResponse = _Response  # type: ignore[attr-defined]
    utils.TritonError = str  # type: ignore[attr-defined]
    utils.get_input_tensor_by_name = lambda request, name: request.get(name)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", utils)
    folder = repo / "scene_image_pre"
    spec = importlib.util.spec_from_file_location(
        "scene_image_pre_model", folder / "1" / "model.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    model = module.TritonPythonModel()
    model.initialize({"model_repository": str(folder), "model_version": "1"})
    frame = video_frames[0]
    good, bad = {"RAW": _Tensor("RAW", frame)}, {"RAW": _Tensor("RAW", frame.astype(np.float64))}
    responses = model.execute([good, bad, good])
    expected = Pre(folder / "1").run(frame)
    for r in (responses[0], responses[2]):
        out = {t.name(): t.as_numpy() for t in r.output_tensors}
        np.testing.assert_array_equal(out["TENSOR"], expected["TENSOR"])
        np.testing.assert_array_equal(out["FRAME_SIZE"], [frame.shape[1], frame.shape[0]])
    assert responses[1].output_tensors == [] and "dtype" in str(responses[1].error)


def test_refusals_and_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = mmedge.builtin_bundle("scene_image")
    out = tmp_path / "repo"
    assert main(["export-triton", image, "-o", str(out), "--max-batch", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert "max_batch_size: 4" in (out / "scene_image_model" / "config.pbtxt").read_text()
    assert main(["export-triton", image, "-o", str(out)]) == 2
    assert "exists; pass overwrite=True" in capsys.readouterr().err
    with pytest.raises(MMEdgeError, match="two bundles are named 'scene_image'"):
        export_triton([image, image], tmp_path / "twice")
    assert not (tmp_path / "twice").exists() and [p.name for p in tmp_path.iterdir()] == ["repo"]
