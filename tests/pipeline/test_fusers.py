"""Fusers behind one interface: the late-fusion formulas, each fuser validating its own options
and its fit to the modalities, the head's fallback, the joint model's all-or-nothing, the frozen
FusionConfig, and a new fusion method added as one registered class."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

import mmedge
from mmedge import Pipeline
from mmedge.pipeline.assembly import assemble
from mmedge.pipeline.fusion import (
    FUSERS,
    Fused,
    FusionConfig,
    FusionError,
    HeadFuser,
    LateFuser,
    ModelFuser,
    late_fusion,
    make_fuser,
    register_fuser,
)
from mmedge.pipeline.results import ModalityResult
from mmedge.sources import SyntheticScene, tee

LABELS = ["cat", "dog", "owl"]


def modality(name: str, labels: list[str] | None = LABELS, weight: float = 1.0, embedding=True):
    """A stand-in for a pipeline Modality: what the fusers read of it."""
    outputs = [SimpleNamespace(kind="logits")] + (
        [SimpleNamespace(kind="embedding")] if embedding else []
    )
    model = (
        None
        if labels is None
        else SimpleNamespace(labels=labels, outputs=outputs, bundle=SimpleNamespace(name=name))
    )
    return SimpleNamespace(name=name, model=model, weight=weight)


def result(name: str, t1: float, probs=None, embedding=None, raw=None) -> ModalityResult:
    return ModalityResult(
        name,
        t1 - 0.1,
        t1,
        probs=None if probs is None else np.asarray(probs, np.float32),
        embedding=embedding,
        raw=raw,
        arrived=1.0,
    )


def test_late_fusion_formulas() -> None:
    p = {"a": np.array([0.7, 0.2, 0.1]), "b": np.array([0.2, 0.5, 0.3])}
    w = {"a": 3.0, "b": 1.0}
    mean, used = late_fusion(p, w, "weighted_mean")
    assert used == {"a": 0.75, "b": 0.25}
    np.testing.assert_allclose(mean, 0.75 * p["a"] + 0.25 * p["b"], rtol=1e-6)
    log_lin, _ = late_fusion(p, w, "log_linear")
    expected = p["a"] ** 0.75 * p["b"] ** 0.25
    np.testing.assert_allclose(log_lin, expected / expected.sum(), rtol=1e-5)
    best, _ = late_fusion(p, w, "max")
    np.testing.assert_allclose(best, p["a"])
    only_b, used = late_fusion({"b": p["b"]}, w, "weighted_mean")  # a missing: renormalised
    assert used == {"b": 1.0}
    np.testing.assert_allclose(only_b, p["b"], rtol=1e-6)
    with pytest.raises(FusionError, match="late fusion method must be one of"):
        late_fusion(p, w, "vote")


def test_late_fuser_weights_and_renormalisation() -> None:
    mods = {"a": modality("a", weight=1.0), "b": modality("b", weight=5.0)}
    fuser = LateFuser("weighted_mean")
    fuser.check(mods, FusionConfig("weighted_mean", weights={"a": 3.0}))  # b keeps its own 5
    pa, pb = [0.7, 0.2, 0.1], [0.2, 0.5, 0.3]
    fused = fuser.combine({"a": result("a", 1.0, pa), "b": result("b", 1.0, pb)})
    assert fused is not None and fused.weights == pytest.approx({"a": 3 / 8, "b": 5 / 8})
    np.testing.assert_allclose(fused.probs, 3 / 8 * np.array(pa) + 5 / 8 * np.array(pb), 1e-6)
    assert fused.labels == LABELS and fused.method == "weighted_mean"
    only_a = fuser.combine({"a": result("a", 1.0, pa)})
    assert only_a is not None and only_a.weights == {"a": 1.0}
    assert fuser.combine({"a": result("a", 1.0, raw=np.zeros(3))}) is None  # nothing scored


def test_late_fuser_checks_labels_and_bundles() -> None:
    fuser = LateFuser("log_linear")
    with pytest.raises(FusionError, match="same labels in every bundle"):
        fuser.check({"a": modality("a"), "b": modality("b", ["x", "y", "z"])}, FusionConfig())
    with pytest.raises(FusionError, match="at least one modality with a bundle"):
        fuser.check({"a": modality("a", labels=None)}, FusionConfig())


def test_each_fuser_validates_its_own_options() -> None:
    with pytest.raises(FusionError, match="fusion method must be one of"):
        make_fuser("vote", {}, load=lambda b: b)
    with pytest.raises(FusionError, match="'max' takes no options, got \\['head'\\]"):
        make_fuser("max", {"head": "h.mmb"}, load=lambda b: b)
    with pytest.raises(FusionError, match="method 'head' needs head="):
        make_fuser("head", {}, load=lambda b: b)
    head = SimpleNamespace(inputs=[SimpleNamespace(name="x"), SimpleNamespace(name="y")])
    with pytest.raises(FusionError, match="head_inputs must name the head's inputs"):
        make_fuser("head", {"head": head, "head_inputs": {"x": "a"}}, load=lambda b: b)
    with pytest.raises(FusionError, match="takes model= and model_inputs=, not \\['trigger'\\]"):
        make_fuser(
            "model", {"model": head, "model_inputs": {"x": "a"}, "trigger": "a"}, load=lambda b: b
        )


class _Head:
    """A fusion head stand-in: probabilities from the mean of the embeddings' first 3 values."""

    labels = LABELS
    inputs: ClassVar = [SimpleNamespace(name="ia"), SimpleNamespace(name="ib")]
    output = SimpleNamespace(name="probs", kind="probs")

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        mean = (feeds["ia"][:, :3] + feeds["ib"][:, :3]) / 2
        return {"probs": mean / mean.sum(axis=1, keepdims=True)}


def test_head_fuser_and_its_late_fallback() -> None:
    mods = {"a": modality("a"), "b": modality("b")}
    fuser = HeadFuser(_Head(), {"ia": "a", "ib": "b"})  # type: ignore[arg-type]
    fuser.check(mods, FusionConfig("head"))
    ea, eb = np.array([1.0, 2.0, 5.0, 9.0]), np.array([3.0, 2.0, 1.0, 9.0])
    full = fuser.combine(
        {"a": result("a", 1.0, [0.2, 0.3, 0.5], ea), "b": result("b", 1.0, [0.6, 0.2, 0.2], eb)}
    )
    assert full is not None and full.method == "head" and full.weights == {"a": 0.5, "b": 0.5}
    np.testing.assert_allclose(full.probs, [4 / 14, 4 / 14, 6 / 14], rtol=1e-6)
    only_a = fuser.combine({"a": result("a", 1.0, [0.2, 0.3, 0.5], ea)})
    assert only_a is not None and only_a.method == "head->log_linear"
    assert only_a.note == "head needs ['b']: fell back to log_linear"
    np.testing.assert_allclose(only_a.probs, [0.2, 0.3, 0.5], rtol=1e-5)
    with pytest.raises(FusionError, match="has no embedding output"):
        fuser.check({"a": modality("a"), "b": modality("b", embedding=False)}, FusionConfig())


def test_model_fuser_needs_every_input() -> None:
    spec = mmedge.ImageSpec(8, 8)
    joint = SimpleNamespace(
        inputs=[SimpleNamespace(name="image")], specs={"image": spec}, labels=LABELS
    )
    fuser = ModelFuser(joint, {"image": "cam"})  # type: ignore[arg-type]
    assert fuser.raw_inputs() == {"cam": spec}
    assert fuser.combine({}) is None
    with pytest.raises(FusionError, match="model input 'image': 'cam' is not a modality"):
        fuser.check({"mic": modality("mic")}, FusionConfig("model"))


def test_fusion_config_is_frozen_and_checked() -> None:
    config = FusionConfig("max", weights={"a": 2.0}, max_skew_ms=250)
    with pytest.raises(AttributeError):
        config.method = "log_linear"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.weights["a"] = 1.0  # type: ignore[index]
    assert config.max_skew_s == 0.25
    assert config.resolved(["a", "b"]).trigger == "a"  # the first modality by default
    with pytest.raises(FusionError, match="give either trigger"):
        FusionConfig(trigger="a", rate_hz=2.0)
    with pytest.raises(FusionError, match="max_skew_ms must be >= 0"):
        FusionConfig(max_skew_ms=-1)
    with pytest.raises(FusionError, match="trigger 'c' is not a modality"):
        FusionConfig(trigger="c").resolved(["a", "b"])
    with pytest.raises(FusionError, match="weights name 'c'"):
        FusionConfig(weights={"c": 1.0}).resolved(["a", "b"])


def test_assemble_reports_each_contribution() -> None:
    mods = {"a": modality("a"), "b": modality("b"), "c": modality("c")}
    chosen = {"a": result("a", 1.0, [0.1, 0.8, 0.1]), "b": result("b", 0.7, [0.6, 0.3, 0.1])}
    fused = Fused(np.array([0.2, 0.7, 0.1], np.float32), LABELS, {"a": 0.5, "b": 0.5}, "x")
    out = assemble(fused, chosen, 1.2, mods, now=1.5)
    assert (out.label, out.index, out.missing) == ("dog", 1, ["c"])
    assert out.score == pytest.approx(0.7) and out.latency_ms == pytest.approx(500.0)
    a, b = out.contributors
    assert (a.modality, a.label, a.staleness_ms) == ("a", "dog", pytest.approx(200.0))
    assert (b.label, b.score, b.staleness_ms) == ("cat", pytest.approx(0.6), pytest.approx(500.0))


class _Vote:
    """A new fusion method in one class: each modality votes for its top class."""

    methods: ClassVar[tuple[str, ...]] = ("vote",)

    def __init__(self) -> None:
        self.labels: list[str] = []

    @classmethod
    def create(cls, method, options, load):
        if options:
            raise FusionError(f"vote takes no options, got {sorted(options)}")
        return cls()

    def check(self, modalities, config) -> None:
        self.labels = next(m.model.labels for m in modalities.values() if m.model is not None)

    def raw_inputs(self):
        return {}

    def combine(self, chosen):
        votes = np.zeros(len(self.labels), np.float32)
        for r in chosen.values():
            votes[int(np.argmax(r.probs))] += 1
        n = len(chosen)
        return Fused(votes / n, self.labels, {m: 1 / n for m in chosen}, "vote") if n else None


def test_a_new_fusion_method_is_one_class() -> None:
    register_fuser(_Vote)
    try:
        scene = SyntheticScene(3, seed=1)
        for_image, for_clips = tee(scene.video, 2)
        pipe = (
            Pipeline()
            .add("image", for_image, mmedge.builtin_bundle("scene_image"), every_n=3)
            .add("video", for_clips, mmedge.builtin_bundle("scene_video"))
            .add("audio", scene.audio, mmedge.builtin_bundle("scene_audio"))
            .fuse("vote", rate_hz=2.0, max_skew_ms=700)
        )
        results = pipe.run()
        assert results and all(r.method == "vote" for r in results)
        for r in results:
            own = [c.label for c in r.contributors]
            assert r.score == pytest.approx(own.count(r.label) / len(own))
    finally:
        FUSERS.pop("vote")
