"""Fusion of the modalities' outputs at the three levels the field uses, behind one interface.

Late fusion over class probabilities p_m of the contributing modalities with weights w_m
(renormalised over the modalities present):
  weighted_mean  sum_m w_m p_m
  log_linear     softmax(sum_m w_m log p_m): a product of experts; a confident modality can
                 veto a class
  max            the probabilities of the single most confident modality
Feature level (`head`): a fusion bundle (a small learned head) over the modalities' embeddings.
Model level (`model`): one jointly trained bundle with one input per modality, fed aligned raw
inputs.

A fuser is one class registered for its method names (@register_fuser): it validates its own
options when made (make_fuser) and its fit to the pipeline's modalities when the pipeline starts
(check), then combines the results the scheduler chose for a trigger time (combine). A new
fusion method is one such class. When and what to fuse is the scheduler's job
(mmedge.pipeline.scheduler); FusionConfig says how the two are set up.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from mmedge.bundle import Bundle
from mmedge.errors import MMEdgeError
from mmedge.pipeline.results import FusedResult, ModalityResult
from mmedge.pipeline.scheduler import Aligner
from mmedge.runtime.model import Model, softmax

if TYPE_CHECKING:
    from mmedge.pipeline.modality import Modality
    from mmedge.preprocess.spec import Spec

LATE_METHODS = ("weighted_mean", "log_linear", "max")
EPS = 1e-7

BundleRef = str | Path | Bundle | Model
Loader = Callable[[BundleRef], Model]


class FusionError(MMEdgeError):
    """The fusion configuration does not fit the modalities (labels, inputs, weights)."""


def late_fusion(
    probs: Mapping[str, np.ndarray], weights: Mapping[str, float], method: str
) -> tuple[np.ndarray, dict[str, float]]:
    """Fused probabilities of the modalities in `probs` and the weights used (renormalised to
    sum 1 over them)."""
    if method not in LATE_METHODS:
        raise FusionError(f"late fusion method must be one of {LATE_METHODS}, got {method!r}")
    if not probs:
        raise FusionError("nothing to fuse")
    names = list(probs)
    w = np.array([max(float(weights.get(n, 1.0)), 0.0) for n in names])
    if w.sum() <= 0:
        w = np.ones(len(names))
    w = w / w.sum()
    stack = np.stack([np.asarray(probs[n], np.float64) for n in names])
    if method == "weighted_mean":
        fused = (w[:, None] * stack).sum(axis=0)
    elif method == "log_linear":
        z = (w[:, None] * np.log(stack + EPS)).sum(axis=0)
        z -= z.max()
        fused = np.exp(z) / np.exp(z).sum()
    else:
        best = int(stack.max(axis=1).argmax())
        fused = stack[best]
    return fused.astype(np.float32), dict(zip(names, w.tolist(), strict=True))


@dataclass(frozen=True)
class FusionConfig:
    """When results are fused (the scheduler's part) and the late-fusion weights.

    method: a registered fusion method (weighted_mean, log_linear, max, head, model).
    weights: late-fusion weight by modality (default: each modality's own weight).
    trigger: the anchor modality (a fused result per anchor result; default: the first
        modality added), or rate_hz: a fused result every 1/rate_hz s of source time.
    max_skew_ms: a modality contributes its newest result ending at most this long before the
        trigger time (and not after it); staler ones are left out.
    """

    method: str = "log_linear"
    weights: Mapping[str, float] = field(default_factory=dict)
    trigger: str | None = None
    rate_hz: float | None = None
    max_skew_ms: float = 500.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", types.MappingProxyType(dict(self.weights)))
        if self.rate_hz is not None and (self.trigger is not None or not self.rate_hz > 0):
            raise FusionError("give either trigger (a modality) or a positive rate_hz")
        if not self.max_skew_ms >= 0:
            raise FusionError(f"max_skew_ms must be >= 0, got {self.max_skew_ms}")

    @property
    def max_skew_s(self) -> float:
        return self.max_skew_ms / 1000.0

    def resolved(self, modalities: list[str]) -> FusionConfig:
        """This config with the default trigger filled in, checked against the modalities."""
        trigger = self.trigger or (None if self.rate_hz else modalities[0])
        if trigger is not None and trigger not in modalities:
            raise FusionError(f"trigger {trigger!r} is not a modality ({modalities})")
        for name in self.weights:
            if name not in modalities:
                raise FusionError(f"weights name {name!r}, which is not a modality ({modalities})")
        return FusionConfig(self.method, self.weights, trigger, self.rate_hz, self.max_skew_ms)


@dataclass(frozen=True)
class Fused:
    """A fuser's answer: class probabilities, their labels, the weight each modality got, the
    method that produced it (e.g. 'head->log_linear' after a fallback) and why, if it fell back."""

    probs: np.ndarray
    labels: list[str]
    weights: dict[str, float]
    method: str
    note: str = ""


class Fuser(Protocol):
    """Combines the aligned results of one trigger time into class probabilities."""

    methods: ClassVar[tuple[str, ...]]

    def check(self, modalities: Mapping[str, Modality], config: FusionConfig) -> None:
        """Raises FusionError when this fuser cannot run on these modalities."""
        ...

    def raw_inputs(self) -> dict[str, Spec | None]:
        """Modalities that must hand on raw windows (no model of their own), with the spec of
        the input they feed."""
        ...

    def combine(self, chosen: Mapping[str, ModalityResult]) -> Fused | None:
        """The fused answer, or None when these results cannot be fused."""
        ...


FUSERS: dict[str, Any] = {}
"""Fuser classes by method name, filled by @register_fuser."""


def register_fuser(cls: Any) -> Any:
    """Class decorator: registers `cls` under each name in its `methods`."""
    for method in cls.methods:
        FUSERS[method] = cls
    return cls


def make_fuser(method: str, options: Mapping[str, Any], load: Loader) -> Fuser:
    """The fuser for `method`, built from its options (bundles opened through `load`)."""
    cls = FUSERS.get(method)
    if cls is None:
        raise FusionError(f"fusion method must be one of {tuple(FUSERS)}, got {method!r}")
    return cls.create(method, dict(options), load)  # type: ignore[no-any-return]


def _no_options(method: str, options: Mapping[str, Any]) -> None:
    if options:
        raise FusionError(f"fusion method {method!r} takes no options, got {sorted(options)}")


def _inputs_option(
    method: str, options: dict[str, Any], bundle_key: str, load: Loader
) -> tuple[Model, dict[str, str]]:
    """(the bundle's Model, its input name -> modality mapping) of a head/model fuser."""
    inputs_key = f"{bundle_key}_inputs"
    bundle, inputs = options.pop(bundle_key, None), options.pop(inputs_key, None)
    if bundle is None or not inputs:
        raise FusionError(
            f"method {method!r} needs {bundle_key}= (a {'fusion' if method == 'head' else 'joint'}"
            f" bundle) and {inputs_key}="
        )
    if options:
        raise FusionError(
            f"fusion method {method!r} takes {bundle_key}= and {inputs_key}=, not {sorted(options)}"
        )
    model = load(bundle)
    names = {t.name for t in model.inputs}
    if set(inputs) != names:
        what = "the head's" if method == "head" else "the joint bundle's"
        raise FusionError(f"{inputs_key} must name {what} inputs {[t.name for t in model.inputs]}")
    return model, dict(inputs)


def _probs_of(model: Model, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
    raw = model.infer(feeds)[model.output.name][0]
    return softmax(raw) if model.output.kind == "logits" else np.asarray(raw, np.float32)


@register_fuser
class LateFuser:
    """weighted_mean, log_linear or max over the modalities' class probabilities. Results with
    an input problem (ModalityResult.health: a dark or frozen camera, a silent or clipping
    microphone) are left out while any healthy one is there (weight 0, listed in the note)."""

    methods: ClassVar[tuple[str, ...]] = LATE_METHODS
    gates_health: ClassVar[bool] = True

    def __init__(self, method: str) -> None:
        if method not in LATE_METHODS:
            raise FusionError(f"late fusion method must be one of {LATE_METHODS}, got {method!r}")
        self.method = method
        self._weights: dict[str, float] = {}
        self._labels: list[str] = []

    @classmethod
    def create(cls, method: str, options: Mapping[str, Any], load: Loader) -> LateFuser:
        _no_options(method, options)
        return cls(method)

    def check(self, modalities: Mapping[str, Modality], config: FusionConfig) -> None:
        scored = [m for m in modalities.values() if m.model is not None]
        if not scored:
            raise FusionError("late fusion needs at least one modality with a bundle")
        labels = {tuple(m.model.labels) for m in scored if m.model is not None}
        if len(labels) > 1:
            raise FusionError(
                "late fusion needs the same labels in every bundle; got "
                + "; ".join(
                    f"{m.name}: {m.model.labels[:5]}..." for m in scored if m.model is not None
                )
            )
        self._weights = {n: config.weights.get(n, m.weight) for n, m in modalities.items()}
        self._labels = list(next(iter(labels)))

    def raw_inputs(self) -> dict[str, Spec | None]:
        return {}

    def combine(self, chosen: Mapping[str, ModalityResult]) -> Fused | None:
        scored = {n: r.probs for n, r in chosen.items() if r.probs is not None}
        if not scored:
            return None
        probs, used = late_fusion(scored, {n: self._weights[n] for n in scored}, self.method)
        return Fused(probs, self._labels, used, self.method)


@register_fuser
class HeadFuser:
    """Feature level: a fusion bundle over the modalities' embeddings; log-linear late fusion
    while a modality's embedding is missing (the result says so)."""

    methods: ClassVar[tuple[str, ...]] = ("head",)

    def __init__(self, head: Model, inputs: Mapping[str, str]) -> None:
        self.head, self.inputs = head, dict(inputs)
        self.fallback: LateFuser | None = LateFuser("log_linear")

    @classmethod
    def create(cls, method: str, options: dict[str, Any], load: Loader) -> HeadFuser:
        return cls(*_inputs_option(method, options, "head", load))

    def check(self, modalities: Mapping[str, Modality], config: FusionConfig) -> None:
        for input_name, modality in self.inputs.items():
            m = modalities.get(modality)
            if m is None or m.model is None:
                raise FusionError(
                    f"head input {input_name!r}: {modality!r} is not a modality with a bundle"
                )
            if not any(o.kind == "embedding" for o in m.model.outputs):
                raise FusionError(
                    f"{modality}: bundle {m.model.bundle.name} has no "
                    "embedding output for the fusion head"
                )
        try:
            self.fallback = LateFuser("log_linear")
            self.fallback.check(modalities, config)
        except FusionError:  # bundles with other label sets: no late fallback, wait for the head
            self.fallback = None

    def raw_inputs(self) -> dict[str, Spec | None]:
        return {}

    def combine(self, chosen: Mapping[str, ModalityResult]) -> Fused | None:
        ready = all(m in chosen and chosen[m].embedding is not None for m in self.inputs.values())
        if not ready:
            late = self.fallback.combine(chosen) if self.fallback is not None else None
            if late is None:
                return None
            missing = [m for m in self.inputs.values() if m not in chosen]
            note = f"head needs {missing}: fell back to log_linear"
            return Fused(late.probs, late.labels, late.weights, "head->log_linear", note)
        feeds = {
            i: np.asarray(chosen[m].embedding)[None].astype(np.float32)
            for i, m in self.inputs.items()
        }
        weights = {m: 1.0 / len(self.inputs) for m in self.inputs.values()}
        return Fused(_probs_of(self.head, feeds), self.head.labels, weights, "head")


@register_fuser
class ModelFuser:
    """Model level: one jointly trained bundle fed each modality's aligned raw window; nothing
    is fused at a trigger time where a modality has no window."""

    methods: ClassVar[tuple[str, ...]] = ("model",)

    def __init__(self, model: Model, inputs: Mapping[str, str]) -> None:
        self.model, self.inputs = model, dict(inputs)

    @classmethod
    def create(cls, method: str, options: dict[str, Any], load: Loader) -> ModelFuser:
        return cls(*_inputs_option(method, options, "model", load))

    def check(self, modalities: Mapping[str, Modality], config: FusionConfig) -> None:
        for input_name, modality in self.inputs.items():
            if modality not in modalities:
                raise FusionError(f"model input {input_name!r}: {modality!r} is not a modality")

    def raw_inputs(self) -> dict[str, Spec | None]:
        return {m: self.model.specs[i] for i, m in self.inputs.items()}

    def combine(self, chosen: Mapping[str, ModalityResult]) -> Fused | None:
        if not all(m in chosen for m in self.inputs.values()):
            return None
        sample = {i: chosen[m].raw for i, m in self.inputs.items()}
        feeds = self.model.preprocess_native(
            sample if len(sample) > 1 else next(iter(sample.values()))
        )
        weights = {m: 1.0 / len(self.inputs) for m in self.inputs.values()}
        return Fused(_probs_of(self.model, feeds), self.model.labels, weights, "model")


__all__ = [
    "FUSERS",
    "LATE_METHODS",
    "Aligner",
    "Fused",
    "FusedResult",
    "Fuser",
    "FusionConfig",
    "FusionError",
    "HeadFuser",
    "LateFuser",
    "ModalityResult",
    "ModelFuser",
    "late_fusion",
    "make_fuser",
    "register_fuser",
]
