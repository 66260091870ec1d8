"""The model's signature: its inputs (example tensor, preprocessing spec, dynamic axes) and
outputs (name, kind), checked once, and the manifest's `inputs`/`outputs` entries they give."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mmedge import preprocess as pp
from mmedge.errors import ExportError

OUTPUT_KINDS = (
    "logits", "probs", "embedding", "regression", "detection_head", "segmentation_logits",
    "event_frames",
)  # fmt: skip
HEAD_OUTPUT_KINDS = ("detection_head", "segmentation_logits", "event_frames")  # gated by task


@dataclass(frozen=True)
class ModelInput:
    """One model input.

    example: a (B, ...) float32 tensor of the input's shape; axis 0 is exported as 'batch'.
    preprocess: how raw samples become this input (image, audio or video spec), stored in the
        manifest; None for inputs fed ready tensors (e.g. embeddings into a fusion head).
    dynamic_axes: further symbolic axes, {axis: name}, e.g. {3: 'frames'} for an audio model
        that pools over time; default: the spec's (the time axis of an audio spec without an
        analysis window).
    """

    name: str
    example: torch.Tensor
    preprocess: pp.Spec | None = None
    dynamic_axes: Mapping[int, str] | None = None

    def axes(self) -> dict[int, str]:
        if self.dynamic_axes is not None:
            return dict(self.dynamic_axes)
        return self.preprocess.dynamic_axes() if self.preprocess is not None else {}

    def layout(self) -> str | None:
        return self.preprocess.layout if self.preprocess is not None else None

    def manifest_entry(self) -> dict[str, Any]:
        axes = self.axes()
        shape = ["batch", *[axes.get(a, int(d)) for a, d in enumerate(self.example.shape) if a]]
        entry: dict[str, Any] = {"name": self.name, "shape": shape, "dtype": "float32"}
        if self.layout():
            entry["layout"] = self.layout()
        return entry


@dataclass(frozen=True)
class ModelOutput:
    """One model output: its name and kind (logits, probs, embedding, regression)."""

    name: str
    kind: str = "logits"


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs in the order the model takes and returns them."""

    inputs: tuple[ModelInput, ...]
    outputs: tuple[ModelOutput, ...]

    @classmethod
    def of(
        cls,
        inputs: Sequence[ModelInput] | None,
        outputs: Sequence[ModelOutput] | None,
        example_input: torch.Tensor | None = None,
        preprocess: pp.Spec | None = None,
        input_name: str = "image",
        output_name: str = "logits",
        output_kind: str = "logits",
    ) -> Signature:
        """From export_bundle's arguments (inputs/outputs, or the single-input shortcuts);
        raises ExportError naming what does not fit."""
        if inputs is None:
            if example_input is None:
                raise ExportError("give inputs=[ModelInput(...)] or example_input")
            inputs = [ModelInput(input_name, example_input, preprocess)]
        elif example_input is not None or preprocess is not None:
            raise ExportError("give either inputs=[...] or example_input/preprocess, not both")
        outs = list(outputs) if outputs is not None else [ModelOutput(output_name, output_kind)]
        signature = cls(tuple(inputs), tuple(outs))
        signature._check()
        return signature

    def _check(self) -> None:
        names = self.input_names + self.output_names
        if len(set(names)) != len(names):
            raise ExportError(f"input and output names must be unique, got {names}")
        for o in self.outputs:
            if o.kind not in OUTPUT_KINDS:
                raise ExportError(
                    f"output {o.name!r}: kind must be one of {OUTPUT_KINDS}, got {o.kind!r}"
                )
        for i in self.inputs:
            if not isinstance(i.example, torch.Tensor) or i.example.dim() < 1:
                raise ExportError(f"input {i.name!r}: example must be a (B, ...) tensor")
            if i.preprocess is not None and not isinstance(i.preprocess, pp.Spec):
                raise ExportError(
                    f"input {i.name!r}: preprocess must be a spec (ImageSpec, AudioSpec, "
                    f"VideoSpec), got {type(i.preprocess).__name__}"
                )

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    @property
    def scored(self) -> ModelOutput | None:
        """The first logits or probs output (accuracy is measured on it), or None."""
        return next((o for o in self.outputs if o.kind in ("logits", "probs")), None)

    def examples(self) -> tuple[torch.Tensor, ...]:
        return tuple(i.example for i in self.inputs)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {i.name: i.axes() for i in self.inputs if i.axes()}

    def preprocess_entries(self) -> dict[str, dict[str, Any]]:
        """The manifest's `preprocess`: each input's spec."""
        return {i.name: i.preprocess.to_dict() for i in self.inputs if i.preprocess is not None}

    def manifest_inputs(self) -> list[dict[str, Any]]:
        return [i.manifest_entry() for i in self.inputs]

    def manifest_outputs(
        self,
        reference: Mapping[str, np.ndarray] | None,
        graph_shapes: Mapping[str, tuple[int | str, ...]] | None = None,
    ) -> list[dict[str, Any]]:
        """The manifest's outputs, shaped as the reference outputs (batch first); without
        reference outputs (a provisional bundle) as the ONNX graph declares them."""

        def rest(name: str) -> list[int | str]:
            if reference:
                return [int(d) for d in reference[name].shape[1:]]
            return list((graph_shapes or {}).get(name, ("batch",))[1:])

        return [
            {"name": o.name, "shape": ["batch", *rest(o.name)], "dtype": "float32", "kind": o.kind}
            for o in self.outputs
        ]

    def check_labels(
        self, labels: Sequence[str] | None, reference: Mapping[str, np.ndarray]
    ) -> None:
        """Raises ExportError when the label count differs from a scored output's classes."""
        if not labels:
            return
        for o in self.outputs:
            if o.kind in ("logits", "probs", "segmentation_logits"):
                shape = reference[o.name].shape
                classes = shape[1] if o.kind == "segmentation_logits" else shape[-1]
                if classes != len(labels):
                    raise ExportError(
                        f"{len(labels)} labels but output {o.name!r} has {classes} classes: the "
                        "labels file does not belong to this model"
                    )
