"""PyTorch -> ONNX: the dynamo exporter with a dynamic batch axis, the TorchScript exporter as a
recorded fallback, and onnx.checker on the result."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx
import torch

from mmedge.errors import ExportError

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18
EXPORTERS = ("auto", "dynamo", "torchscript")


@dataclass
class OnnxExport:
    """An exported, checked ONNX model and how it was made.

    exporter: 'dynamo' or 'torchscript'. fallback_reason: why dynamo was not used (None when it
    was). batch_dim: the symbolic name of the batch axis, or None for a fixed batch.
    dynamic_axes: every symbolic input axis, {input name: {axis: dim name}} (batch included).
    """

    model: onnx.ModelProto
    exporter: str
    opset: int
    input_names: list[str]
    output_names: list[str]
    batch_dim: str | None
    fallback_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return self.model.SerializeToString()


def _as_tuple(example_inputs: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    inputs = tuple(example_inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ExportError("example_inputs must be a tensor or a sequence of tensors")
    return inputs


def _with_batch(inputs: tuple[torch.Tensor, ...], batch: int) -> tuple[torch.Tensor, ...]:
    """The examples with batch size `batch`: torch.export specialises a batch of 1 to a constant."""
    return tuple(t[:1].expand(batch, *t.shape[1:]).contiguous() for t in inputs)


def _axes_by_input(
    names: list[str],
    inputs: tuple[torch.Tensor, ...],
    batch_dim: str | None,
    extra: Mapping[str, Mapping[int, str]] | None,
) -> dict[str, dict[int, str]]:
    """{input: {axis: dim name}}: the batch axis plus the caller's extra axes, checked."""
    axes: dict[str, dict[int, str]] = {n: ({0: batch_dim} if batch_dim else {}) for n in names}
    for name, dims in (extra or {}).items():
        if name not in axes:
            raise ExportError(f"dynamic_axes names input {name!r}; the inputs are {names}")
        rank = inputs[names.index(name)].dim()
        for axis, dim in dims.items():
            if not 0 < int(axis) < rank:
                raise ExportError(
                    f"dynamic axis {axis} of input {name!r} is outside 1..{rank - 1} (axis 0 is "
                    "the batch)"
                )
            if inputs[names.index(name)].shape[axis] < 2:
                raise ExportError(
                    f"input {name!r} axis {axis} ({dim}) has size "
                    f"{inputs[names.index(name)].shape[axis]} in the example; give an example "
                    "of size >= 2 there (the exporter fixes sizes 0 and 1)"
                )
            axes[name][int(axis)] = str(dim)
    return axes


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    """'Type: first line' of an exception, plus its innermost cause (the real reason an
    exporter gave up is usually at the bottom of the chain), without terminal colour codes."""

    def line(e: BaseException) -> str:
        text = _ANSI.sub("", str(e)).strip().splitlines()
        return f"{type(e).__name__}: {text[0] if text else ''}"

    root = exc
    while root.__cause__ is not None or (
        root.__context__ is not None and not root.__suppress_context__
    ):
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    summary = line(exc) if root is exc else f"{line(exc)} <- {line(root)}"
    return summary[:600]


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporters print progress and warnings to stdout/stderr; keep them for the log."""
    out, err = io.StringIO(), io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("always")
        yield caught
    for text in (out.getvalue(), err.getvalue()):
        if text.strip():
            log.debug("exporter output:\n%s", text)


def _takes_varargs(model: torch.nn.Module) -> bool:
    """True for forward(self, *inputs) (e.g. a fusion head over any number of embeddings)."""
    params = list(inspect.signature(model.forward).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return not positional and any(p.kind == p.VAR_POSITIONAL for p in params)


def _export_dynamo(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    opset: int,
    axes: dict[str, dict[int, str]],
) -> onnx.ModelProto:
    dims: dict[str, Any] = {}
    dynamic_shapes = None
    if any(axes.values()):
        dynamic_shapes = tuple(
            {a: dims.setdefault(d, torch.export.Dim(d, min=1, max=65536)) for a, d in ax.items()}
            or None
            for ax in (axes[n] for n in input_names)
        )
    if dynamic_shapes is not None and _takes_varargs(model):
        dynamic_shapes = (dynamic_shapes,)  # forward(*inputs): one tuple argument
    program = torch.onnx.export(
        model,
        inputs,
        dynamo=True,
        input_names=input_names,
        output_names=output_names,
        opset_version=opset,
        dynamic_shapes=dynamic_shapes,
        optimize=True,
        verbose=False,
    )
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise ExportError("torch.onnx.export(dynamo=True) returned no program")
    return program.model_proto


def _export_torchscript(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    opset: int,
    axes: dict[str, dict[int, str]],
    batch_dim: str | None,
) -> onnx.ModelProto:
    buffer = io.BytesIO()
    dynamic_axes: dict[str, dict[int, str]] | None = {n: a for n, a in axes.items() if a}
    if batch_dim is not None:
        dynamic_axes = {**(dynamic_axes or {}), **{n: {0: batch_dim} for n in output_names}}
    dynamic_axes = dynamic_axes or None
    torch.onnx.export(
        model,
        inputs,
        buffer,
        dynamo=False,
        input_names=input_names,
        output_names=output_names,
        opset_version=opset,
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
    )
    return onnx.load_from_string(buffer.getvalue())


def to_onnx(
    model: torch.nn.Module,
    example_inputs: Any,
    *,
    input_names: Sequence[str] = ("input",),
    output_names: Sequence[str] = ("output",),
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    exporter: str = "auto",
) -> OnnxExport:
    """Exports `model` (put in eval mode) to a checked ONNX model.

    example_inputs: a tensor or tuple of tensors with the model's input shapes (any batch).
    dynamic_batch: make axis 0 of every input and output the symbolic dimension 'batch'.
    dynamic_axes: further symbolic input axes, {input name: {axis: dim name}}, e.g. the time
        axis of an audio model that pools over time ({'features': {3: 'frames'}}). The model
        must allow it: when it does not, the exporter's reason is raised as an ExportError.
    exporter: 'auto' (dynamo, then TorchScript if dynamo fails, with the reason recorded),
        'dynamo' or 'torchscript' (no fallback).
    Raises ExportError when no exporter succeeds or onnx.checker rejects the graph.
    """
    if exporter not in EXPORTERS:
        raise ExportError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    inputs = _as_tuple(example_inputs)
    names_in, names_out = list(input_names), list(output_names)
    if len(names_in) != len(inputs):
        raise ExportError(f"{len(inputs)} example inputs but {len(names_in)} input names")
    batch_dim = "batch" if dynamic_batch else None
    axes = _axes_by_input(names_in, inputs, batch_dim, dynamic_axes)
    if dynamic_batch:
        inputs = _with_batch(inputs, 2)
    model = model.eval()
    fallback_reason = None
    caught: list[warnings.WarningMessage] = []
    proto = None
    if exporter in ("auto", "dynamo"):
        try:
            with torch.no_grad(), _quiet() as caught:
                proto = _export_dynamo(model, inputs, names_in, names_out, opset, axes)
            used = "dynamo"
        except Exception as exc:
            if exporter == "dynamo":
                raise ExportError(f"dynamo export failed: {_first_line(exc)}") from exc
            fallback_reason = f"dynamo exporter failed: {_first_line(exc)}"
            log.warning("%s; falling back to the TorchScript exporter", fallback_reason)
    if proto is None:
        try:
            with torch.no_grad(), _quiet() as caught:
                proto = _export_torchscript(
                    model, inputs, names_in, names_out, opset, axes, batch_dim
                )
            used = "torchscript"
        except Exception as exc:
            raise ExportError(
                f"TorchScript export failed: {_first_line(exc)}"
                + (f" (after: {fallback_reason})" if fallback_reason else "")
            ) from exc
    if proto.ByteSize() > 2**31 - 1:
        raise ExportError("the ONNX model exceeds 2 GB; external-data models are not supported")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected the {used} export: {_first_line(exc)}") from exc
    graph_out = [o.name for o in proto.graph.output]
    if graph_out != names_out:
        raise ExportError(f"the exported graph has outputs {graph_out}, expected {names_out}")
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    return OnnxExport(
        proto,
        used,
        opset_used,
        names_in,
        names_out,
        batch_dim,
        fallback_reason,
        [str(w.message) for w in caught][:20],
        axes,
    )
