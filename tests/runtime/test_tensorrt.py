"""TensorRT engines: the bookkeeping that needs no GPU (targets, compatibility, profiles, file
names, manifest entries, refusal with the rebuild command and the opt-in fallback), and the real
build and run, which skip with the reason when TensorRT or a GPU is absent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.bundle import Bundle, TensorSpec
from mmedge.bundle.writer import write_bundle
from mmedge.errors import BackendError, BundleError
from mmedge.runtime import selection
from mmedge.runtime.tensorrt import build as engine_build
from mmedge.runtime.tensorrt.engine import (
    EngineMismatchError,
    EngineTarget,
    Profile,
    engine_file_name,
    engine_problems,
    make_profile,
    parse_l4t,
    rebuild_command,
    timing_cache_name,
)

ORIN = EngineTarget("10.3.0", "Orin", "8.7", "6.1+b123", "36.4.0", "12.6")
H100 = EngineTarget("10.16.1", "NVIDIA H100 80GB HBM3", "9.0", None, None, "13.0")


def test_parse_l4t() -> None:
    text = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n"
    assert parse_l4t(text) == "36.4.3"
    assert parse_l4t("not a tegra release file") is None


def test_engine_problems() -> None:
    assert engine_problems(ORIN, ORIN) == []
    newer_trt = EngineTarget(**{**ORIN.to_dict(), "tensorrt": "10.7.0"})
    assert engine_problems(ORIN, newer_trt) == [
        "built with TensorRT 10.3.0, this machine has 10.7.0"
    ]
    problems = engine_problems(ORIN, H100)
    assert any("compute capability 8.7 (Orin), this GPU is 9.0" in p for p in problems)
    other_gpu = EngineTarget(**{**H100.to_dict(), "gpu": "NVIDIA H100 PCIe"})
    assert engine_problems(H100, other_gpu) == [
        "built on NVIDIA H100 80GB HBM3, this GPU is NVIDIA H100 PCIe"
    ]
    jetpack7 = EngineTarget(**{**ORIN.to_dict(), "l4t": "38.2.0"})
    assert "built on L4T 36.4.0, this Jetson runs L4T 38.2.0" in engine_problems(ORIN, jetpack7)


def test_profiles() -> None:
    inputs = [
        TensorSpec("image", ("batch", 3, 224, 224), "float32"),
        TensorSpec("mfcc", ("batch", 1, 40, "frames"), "float32"),
    ]
    profile = make_profile(inputs, 1, 4, 16, {"frames": (50, 101, 400)})
    assert profile.shapes["image"] == ((1, 3, 224, 224), (4, 3, 224, 224), (16, 3, 224, 224))
    assert profile.shapes["mfcc"] == ((1, 1, 40, 50), (4, 1, 40, 101), (16, 1, 40, 400))
    assert Profile.from_dict(profile.to_dict()) == profile
    profile.check({"image": (8, 3, 224, 224), "mfcc": (8, 1, 40, 77)})
    with pytest.raises(BackendError, match=r"input 'image' axis 0 is 17, outside .* \[1, 16\]"):
        profile.check({"image": (17, 3, 224, 224)})
    with pytest.raises(BackendError, match="rank 3, the engine takes rank 4"):
        profile.check({"image": (1, 224, 224)})
    with pytest.raises(BundleError, match="dynamic dim 'frames': give its min/opt/max"):
        make_profile(inputs, 1, 1, 8)
    with pytest.raises(BackendError, match=r"1 <= min \(4\) <= opt \(2\)"):
        make_profile(inputs[:1], 4, 2, 8)


def test_names_and_rebuild_command() -> None:
    assert engine_file_name("fp16", ORIN) == "engines/fp16-sm87-trt10.3.0.plan"
    assert timing_cache_name(H100) == "engines/timing-sm90-trt10.16.1.cache"
    profile = make_profile([TensorSpec("image", ("batch", 1, 28, 28), "float32")], 1, 2, 32)
    assert rebuild_command("/data/my model.mmb", "int8", profile) == (
        "mmedge build-engine '/data/my model.mmb' --precision int8 --min-batch 1 --opt-batch 2 "
        "--max-batch 32"
    )


@pytest.fixture
def engine_bundle(tmp_path: Path) -> Path:
    """The built-in bundle plus a (fake) fp16 engine built for a Jetson Orin: what
    `mmedge build-engine` writes, minus the GPU."""
    src = Bundle.load(mmedge.builtin_bundle())
    with src:
        assert engine_build.onnx_source(src, "int8") == "model.int8.onnx"  # never the uint8 one
        assert engine_build.onnx_source(src, "fp16") == "model.fp16.onnx"
        profile = make_profile(src.inputs, 1, 1, 8)
        file, cache = engine_file_name("fp16", ORIN), timing_cache_name(ORIN)
        entry = engine_build.engine_entry(file, "fp16", ORIN, "model.fp16.onnx", profile, cache)
        manifest = engine_build.with_engine(src.manifest, entry, cache)
        files = dict(src.contents())
        files[file] = b"not a real plan"
        files[cache] = b"timing cache"
        return write_bundle(tmp_path / "with_engine.mmb", manifest, files)


def test_engine_entry_round_trips(engine_bundle: Path) -> None:
    with Bundle.load(engine_bundle) as bundle:
        engine = bundle.artifact(format="tensorrt")
        assert engine.precision == "fp16"
        assert EngineTarget.from_dict(engine.built_for) == ORIN
        assert bundle.file("timing_cache").read_bytes() == b"timing cache"
        manifest = json.loads((engine_bundle / "manifest.json").read_text())
        entry = next(a for a in manifest["artifacts"] if a["format"] == "tensorrt")
        assert entry["built_from"] == "model.fp16.onnx"
        assert entry["profile"]["image"] == {
            "min": [1, 1, 28, 28],
            "opt": [1, 1, 28, 28],
            "max": [8, 1, 28, 28],
        }


def test_engine_for_another_gpu_is_refused(engine_bundle: Path, monkeypatch) -> None:
    from mmedge.runtime.tensorrt import backend as trt_backend

    monkeypatch.setattr(selection, "available_backends", lambda: ["tensorrt", "ort"])
    monkeypatch.setattr(trt_backend, "current_target", lambda device_id=0: H100)
    with pytest.raises(EngineMismatchError) as info:
        mmedge.Model(engine_bundle)
    message = str(info.value)
    assert "engines/fp16-sm87-trt10.3.0.plan cannot run here" in message
    assert "built with TensorRT 10.3.0, this machine has 10.16.1" in message
    assert f"mmedge build-engine {engine_bundle} --precision fp16 --min-batch 1" in message
    assert "allow_fallback=True" in message
    with mmedge.Model(engine_bundle, allow_fallback=True, precision="fp16") as model:
        assert model.backend_name == "ort"
        assert model.artifact.file == "model.fp16.onnx"
        assert "fell back from TensorRT" in model.describe()["selected_because"]


def test_matching_engine_is_chosen(engine_bundle: Path, monkeypatch) -> None:
    from mmedge.runtime.tensorrt import backend as trt_backend

    monkeypatch.setattr(selection, "available_backends", lambda: ["tensorrt", "ort"])
    monkeypatch.setattr(trt_backend, "current_target", lambda device_id=0: ORIN)
    with Bundle.load(engine_bundle) as bundle:
        chosen = selection.select_artifact(bundle)
    assert (chosen.backend, chosen.artifact.file) == (
        "tensorrt",
        "engines/fp16-sm87-trt10.3.0.plan",
    )


def test_without_tensorrt_the_engine_is_ignored(engine_bundle: Path) -> None:
    if "tensorrt" in mmedge.runtime.backends.available_backends():
        pytest.skip("TensorRT is installed here")
    with mmedge.Model(engine_bundle) as model:
        assert model.backend_name == "ort"
    with pytest.raises(BackendError, match="no installed backend runs tensorrt"):
        mmedge.Model(engine_bundle, artifact="engines/fp16-sm87-trt10.3.0.plan")


def _tensorrt_and_gpu() -> str | None:
    """Why the real TensorRT tests cannot run here, or None when they can."""
    if "tensorrt" not in mmedge.runtime.backends.available_backends():
        return "TensorRT and cuda-python are not installed (pip install 'mmedge[tensorrt]')"
    try:
        from mmedge.runtime.tensorrt.backend import current_target

        current_target()
    except Exception as exc:  # no driver, no device
        return f"no usable GPU: {exc}"
    return None


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_and_run_engine(precision: str, tmp_path: Path) -> None:
    reason = _tensorrt_and_gpu()
    if reason:
        pytest.skip(reason)
    bundle = tmp_path / "mnist.mmb"
    shutil.copytree(mmedge.builtin_bundle(), bundle)
    path, entry = engine_build.add_engine(bundle, precision, max_batch=16)
    with mmedge.Model(path, backend="tensorrt", precision=precision) as model:
        assert model.backend_name == "tensorrt"
        from mmedge.runtime.validate import validate_bundle

        checks = {c.artifact: c for c in validate_bundle(model.bundle)}
        assert checks[entry["file"]].passed, checks[entry["file"]].summary()
        frames = [np.zeros((28, 28), np.uint8)] * 16
        assert len(model.predict_batch(frames)) == 16
        with pytest.raises(BackendError, match="outside the engine's optimisation profile"):
            model.predict_batch([np.zeros((28, 28), np.uint8)] * 17)


def test_engine_staleness_names_what_changed() -> None:
    """The engine service's --if-stale test, from manifest entries (no GPU needed): current
    when TensorRT, GPU, L4T, profile and the source ONNX's sha256 are those of the build."""
    from mmedge.runtime.tensorrt.build import engine_entry
    from mmedge.runtime.tensorrt.engine import engine_staleness

    profile = Profile({"image": ((1, 3, 64, 64), (1, 3, 64, 64), (8, 3, 64, 64))}, (1, 1, 8))
    onnx = {"file": "model.fp16.onnx", "format": "onnx", "precision": "fp16", "sha256": "ab" * 32}
    entry = engine_entry(engine_file_name("fp16", ORIN), "fp16", ORIN, onnx["file"], profile,
                         timing_cache_name(ORIN), onnx["sha256"])  # fmt: skip
    artifacts = [onnx, entry]

    def stale(arts=artifacts, target=ORIN, prof=profile) -> str | None:
        return engine_staleness(arts, "fp16", target, prof, "model.fp16.onnx")

    assert stale() is None
    assert "no fp16 engine for TensorRT 10.3.0 on Orin" in stale(arts=[onnx])
    jp62 = EngineTarget(**{**ORIN.to_dict(), "l4t": "36.4.3"})
    assert stale(target=jp62) is None  # a patch release of L4T keeps the engine
    jp7 = EngineTarget(**{**ORIN.to_dict(), "l4t": "39.2.0"})
    assert "built on L4T 36.4.0, this Jetson runs L4T 39.2.0" in stale(target=jp7)
    changed = [{**onnx, "sha256": "cd" * 32}, entry]
    assert "model.fp16.onnx changed since the engine was built" in stale(arts=changed)
    wider = Profile({"image": ((1, 3, 64, 64), (4, 3, 64, 64), (16, 3, 64, 64))}, (1, 4, 16))
    assert "the engine's profile" in stale(prof=wider)
    other_trt = EngineTarget(**{**ORIN.to_dict(), "tensorrt": "10.16.1"})
    assert "no fp16 engine for TensorRT 10.16.1" in stale(target=other_trt)  # another file
