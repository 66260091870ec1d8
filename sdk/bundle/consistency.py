"""A manifest must agree with the artifacts it describes: checked at load, so a bundle that
lies (labels for another model, an fp32 file declared int8, an input the graph does not take)
is refused with the mismatch named instead of serving wrong answers or failing at predict time.

Checks, per ONNX artifact (read by mmedge.bundle.onnx_scan; TensorRT engines are opaque and
are checked when deserialised):
- inputs: the graph's inputs are exactly the manifest's inputs, with its element types;
- outputs: every output the manifest declares is a graph output, with its element type;
- precision: int8 has quantised operators (Q/DQ or QLinear*); fp16 has float16 weights and
  no quantised operators (converters keep some operators, e.g. GRUs, in float32); fp32 has no
  quantised operators and more float32 than float16 weight bytes;
- external weights: every file an initializer points to is listed in the manifest (and so
  checksummed);
- shapes: where the manifest and the graph both fix a dimension, they agree (the manifest's
  own check that labels match the scored output's classes then holds for the graph too).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from mmedge.bundle.onnx_scan import ELEMENT_NAMES, OnnxScan, scan_onnx
from mmedge.errors import BundleError, PostprocessError

if TYPE_CHECKING:
    from mmedge.bundle.reader import Bundle
    from mmedge.tasks.heads import Head

FLOAT32, FLOAT16 = 1, 10


def _check_shape(
    where: str, kind: str, name: str, declared: tuple[int | str, ...], scan: OnnxScan
) -> None:
    """Static dims must agree where both the manifest and the graph fix them (a manifest whose
    output has 4 classes and 4 labels over a graph that scores 3 would serve wrong labels)."""
    graph = scan.shapes.get(name)
    if graph is None:
        return
    fixed = [
        (i, m, g)
        for i, (m, g) in enumerate(zip(declared, graph, strict=False))
        if isinstance(m, int) and isinstance(g, int) and m != g
    ]
    if len(graph) != len(declared) or fixed:
        raise BundleError(
            f"{where}: {kind} {name!r} is {list(graph)} in the graph, the manifest says "
            f"{list(declared)}"
        )


def _precision_problem(declared: str, scan: OnnxScan) -> str | None:
    half = scan.weight_bytes.get(FLOAT16, 0)
    single = scan.weight_bytes.get(FLOAT32, 0)
    if scan.quantised:
        found = "int8 (quantised operators)"
    elif half == 0:
        found = "fp32 (no float16 weights)"
    else:
        found = "fp16" if half > single else "mostly fp32 with some float16 weights"
    if declared == "int8":
        return None if scan.quantised else found
    if declared == "fp16":
        return None if not scan.quantised and half > 0 else found
    return None if not scan.quantised and half <= single else found


def _check_artifact(bundle: Bundle, file: str, precision: str, scan: OnnxScan) -> None:
    where = f"{bundle.source}: {file}"
    graph_inputs = scan.graph_inputs
    declared = {t.name: t.dtype for t in bundle.inputs}
    if set(graph_inputs) != set(declared):
        raise BundleError(
            f"{where} takes inputs {sorted(graph_inputs)}, the manifest declares {sorted(declared)}"
        )
    for name, dtype in declared.items():
        actual = ELEMENT_NAMES.get(graph_inputs[name])
        if actual is not None and actual != dtype:
            raise BundleError(f"{where}: input {name!r} is {actual}, the manifest says {dtype}")
    for t in bundle.inputs:
        _check_shape(where, "input", t.name, t.shape, scan)
    for out in bundle.outputs:
        if out.name not in scan.outputs:
            raise BundleError(f"{where} has no output {out.name!r} (it has {sorted(scan.outputs)})")
        _check_shape(where, "output", out.name, out.shape, scan)
        actual = ELEMENT_NAMES.get(scan.outputs[out.name])
        if actual is not None and actual != out.dtype:
            raise BundleError(
                f"{where}: output {out.name!r} is {actual}, the manifest says {out.dtype}"
            )
    found = _precision_problem(precision, scan)
    if found is not None:
        raise BundleError(f"{where} is declared {precision} but its graph is {found}")
    listed = bundle.view.listed_names()
    base = PurePosixPath(file).parent
    for external in sorted(scan.external_files):
        rel = (base / external).as_posix()
        if rel not in listed:
            raise BundleError(
                f"{where} reads its weights from {rel}, which the manifest does not list (and "
                "so does not checksum)"
            )


def _check_multi_task(bundle: Bundle, heads: list[Head]) -> None:
    """Several heads: each named (its result's key), on its own output, of an image task."""
    names = [h.name for h in heads]
    if None in names or len(set(names)) != len(names):
        raise BundleError(
            f"{bundle.source}: a multi-task bundle needs a distinct name on every head (its "
            f"result's key), got {names}"
        )
    read = [h.output for h in heads]
    if None in read or len(set(read)) != len(read):
        raise BundleError(
            f"{bundle.source}: each head of a multi-task bundle reads its own output, got {read}"
        )
    events = [h.name for h in heads if h.task == "audio_events"]
    if events:
        raise BundleError(
            f"{bundle.source}: multi-task bundles take detection and segmentation heads; "
            f"{events[0]!r} is an audio_events head"
        )


def _check_heads(bundle: Bundle) -> None:
    """Each declared head reads an output that exists and whose declared shape it fits (with
    its own labels, else the bundle's)."""
    outputs = {o.name: o for o in bundle.outputs}
    heads = bundle.heads()
    if len(heads) > 1:
        _check_multi_task(bundle, heads)
    for i, head in enumerate(heads):
        name = head.output or bundle.outputs[0].name
        where = f"{bundle.source}: head {head.name or i}"
        if name not in outputs:
            raise BundleError(f"{where} reads output {name!r}; the outputs are {sorted(outputs)}")
        try:
            head.check_output(outputs[name].shape, len(head.labels_or(bundle.labels)), where)
        except PostprocessError as exc:
            raise BundleError(str(exc)) from exc


def check_consistency(bundle: Bundle) -> None:
    """Raises BundleError at the first disagreement between the manifest and its artifacts."""
    _check_heads(bundle)
    for artifact in bundle.artifacts:
        if artifact.format == "onnx" and artifact.path.is_file():
            _check_artifact(bundle, artifact.file, artifact.precision, scan_onnx(artifact.path))
