"""The torch-side parts of the `mmedge` CLI: `export`, and `validate --model`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import torch

from mmedge import preprocess as pp
from mmedge.backends.ort import OrtBackend
from mmedge.bundle import Bundle
from mmedge.errors import ExportError, MMEdgeError
from mmedge.export.bundle_export import (
    backend_outputs,
    export_bundle,
    parity_inputs_for,
    torch_outputs,
)
from mmedge.parity import compare
from mmedge.validate import stored_tolerance


def load_factory(ref: str) -> Callable[[], torch.nn.Module]:
    """'package.module:function' or 'path/to/file.py:function' -> the function."""
    module_ref, sep, attr = ref.rpartition(":")
    if not sep or not module_ref or not attr:
        raise ExportError(f"expected MODULE:FUNCTION, got {ref!r}")
    if module_ref.endswith(".py"):
        path = Path(module_ref)
        if not path.is_file():
            raise ExportError(f"model file not found: {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ExportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_ref)
        except ImportError as exc:
            raise ExportError(f"cannot import module {module_ref!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ExportError(f"{module_ref} has no function {attr!r}")
    return factory


def load_model(ref: str, weights: str | Path) -> torch.nn.Module:
    """Builds the model and loads a state_dict with torch.load(weights_only=True): no pickled
    code from the file is ever run."""
    model = load_factory(ref)()
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"{ref} returned {type(model).__name__}, not a torch.nn.Module")
    path = Path(weights)
    if not path.is_file():
        raise ExportError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExportError(f"{path} is not a weights-only state_dict: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ExportError(f"{path} does not fit {ref}: {exc}") from exc
    return model.eval()


def _read_spec(text: str | None) -> pp.ImageSpec | None:
    if text is None:
        return None
    raw = text if text.lstrip().startswith("{") else Path(text).read_text()
    try:
        return pp.ImageSpec.from_dict(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ExportError(f"--preprocess is not valid JSON: {exc}") from exc


def run_export(args: argparse.Namespace) -> int:
    spec = _read_spec(args.preprocess)
    if args.input_shape:
        try:
            shape = tuple(int(v) for v in args.input_shape.split(","))
        except ValueError as exc:
            raise ExportError(
                f"--input-shape must be C,H,W integers, got {args.input_shape!r}"
            ) from exc
    elif spec is not None:
        shape = spec.output_shape
    else:
        raise ExportError("give --input-shape or --preprocess")
    labels = None
    if args.labels:
        labels = [
            line.strip() for line in Path(args.labels).read_text().splitlines() if line.strip()
        ]
    out = Path(args.out)
    name = args.name or out.name.split(".")[0]
    model = load_model(args.factory, args.weights)
    path = export_bundle(
        model,
        out,
        name=name,
        example_input=torch.zeros(1, *shape),
        labels=labels,
        preprocess=spec,
        modality=args.modality,
        opset=args.opset,
        exporter=args.exporter,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    with Bundle.load(path) as bundle:
        parity = bundle.reports["parity"]["model.onnx"]
        print(
            f"wrote {path}: exporter {bundle.manifest['provenance']['exporter']}, parity "
            f"max_abs {parity['max_abs']:.3g}, top-1 agreement {parity['top1_agreement']}"
        )
    return 0


def validate_against_torch(
    bundle: Bundle, ref: str, weights: str | Path, samples: int = 32
) -> bool:
    """Parity of every ONNX artifact against the PyTorch model on fresh inputs; prints reports."""
    model = load_model(ref, weights)
    spec = bundle.preprocess()
    if spec is not None and not isinstance(spec, pp.ImageSpec):
        raise MMEdgeError("validate --model handles image bundles in this version")
    shape = [d if isinstance(d, int) else 1 for d in bundle.inputs[0].shape]
    inputs = parity_inputs_for(spec, torch.zeros(*shape), samples, None)
    reference = torch_outputs(model, inputs)
    ok = True
    for artifact in bundle.artifacts:
        if artifact.format != "onnx":
            continue
        backend = OrtBackend(artifact.path, providers=["CPUExecutionProvider"])
        output = bundle.outputs[0].name
        report = compare(
            reference,
            backend_outputs(backend, bundle.inputs[0].name, output, inputs),
            output=output,
            tolerance=stored_tolerance(bundle, artifact.file, artifact.precision),
        )
        backend.close()
        ok &= report.passed
        print(f"  {artifact.file} vs PyTorch ({samples} fresh inputs): {report.summary()}")
    return ok
