"""The torch-side parts of the `mmedge` CLI: `export`, and `validate --model`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mmedge import preprocess as pp
from mmedge.bundle import Bundle
from mmedge.bundle.parity import compare
from mmedge.errors import ExportError, PostprocessError
from mmedge.export.bundle_export import (
    ModelInput,
    ModelOutput,
    backend_outputs,
    export_bundle,
    torch_reference,
)
from mmedge.export.coco import read_coco, read_images
from mmedge.export.data import read_folder
from mmedge.export.mask_folder import read_masks
from mmedge.export.options import Int8Options, OnnxOptions
from mmedge.export.presets import read_spec
from mmedge.export.summary import summary
from mmedge.runtime.backends.ort import OrtBackend
from mmedge.runtime.validate import load_fixture, stored_tolerance
from mmedge.tasks import DetectionHead, SegmentationHead

OUTPUT_KIND = {"detection": "detection_head", "segmentation": "segmentation_logits"}


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
        cwd = str(Path.cwd())
        if cwd not in sys.path and "" not in sys.path:  # as `python -m` and uvicorn do
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(module_ref)
        except ImportError as exc:
            raise ExportError(
                f"cannot import module {module_ref!r} (searched the current directory {cwd} "
                f"and the installed packages): {exc}"
            ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ExportError(f"{module_ref} has no function {attr!r}")
    return factory


def load_model(ref: str, weights: str | Path) -> torch.nn.Module:
    """Builds the model and loads a state_dict with torch.load(weights_only=True): no pickled
    code from the file is ever run."""
    path = Path(weights)
    factory = load_factory(ref)
    if not path.is_file():
        raise ExportError(f"weights file not found: {path}")
    try:
        model = factory()
    except Exception as exc:
        raise ExportError(f"{ref}() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"{ref} returned {type(model).__name__}, not a torch.nn.Module")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExportError(f"{path} is not a weights-only state_dict: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ExportError(f"{path} holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ExportError(f"{path} does not fit {ref}: {exc}") from exc
    return model.eval()


def _example_shape(spec: pp.Spec | None, text: str | None) -> tuple[int, ...]:
    """Shape of one sample (no batch axis): --input-shape, else from the spec."""
    if text:
        try:
            return tuple(int(v) for v in text.split(","))
        except ValueError as exc:
            raise ExportError(f"--input-shape must be integers like C,H,W, got {text!r}") from exc
    if spec is None:
        raise ExportError("give --input-shape or --preprocess")
    shape = spec.sample_shape()
    if any(isinstance(d, str) for d in shape):
        raise ExportError(
            f"the {spec.kind} spec leaves axes {[d for d in shape if isinstance(d, str)]} open "
            "(an audio spec without analysis window): give --input-shape with an example size "
            "(those axes are exported as dynamic)"
        )
    return tuple(int(d) for d in shape)


def _tensor_inputs(items: list[str]) -> list[ModelInput]:
    """--input NAME=D1,D2 (a tensor input without preprocessing, e.g. an embedding)."""
    inputs = []
    for item in items:
        name, sep, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not sep or not name or not shape:
            raise ExportError(f"--input must be NAME=D1,D2,... got {item!r}")
        inputs.append(ModelInput(name, torch.zeros(1, *shape)))
    return inputs


def _outputs(text: str, first_kind: str = "logits") -> list[ModelOutput]:
    """'logits,embedding:embedding' -> outputs (kind defaults to `first_kind` for the first,
    else embedding)."""
    outs = []
    for i, item in enumerate(p for p in text.split(",") if p):
        name, _, kind = item.partition(":")
        outs.append(ModelOutput(name, kind or (first_kind if i == 0 else "embedding")))
    return outs


def _head(text: str | None, task: str = "detection") -> DetectionHead | SegmentationHead:
    """--head: a JSON file or inline JSON of the task's head fields (default: an anchor-free
    detection head; a segmentation head on the first output)."""
    kind = SegmentationHead if task == "segmentation" else DetectionHead
    if not text:
        return kind()
    raw = Path(text).read_text() if Path(text).is_file() else text
    try:
        return kind.from_dict(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ExportError(f"--head is neither a JSON file nor JSON: {exc}") from exc
    except PostprocessError as exc:
        raise ExportError(f"--head: {exc}") from exc


def _task_data(
    args: argparse.Namespace, task: str, modality: str, labels: list[str] | None, fmt: str
) -> tuple[Any, Any]:
    """(calibration, evaluation) from --calib / --eval in the task's folder layout."""
    calibration = evaluation = None
    if args.calib:
        calibration = (
            read_images(args.calib, fmt)
            if task in OUTPUT_KIND
            else read_folder(args.calib, modality, labels, fmt, what="calibration")
        )
    if args.eval:
        if task == "detection":
            evaluation = read_coco(args.eval, fmt, labels)
        elif task == "segmentation":
            evaluation = read_masks(args.eval, fmt, labels)
        else:
            evaluation = read_folder(args.eval, modality, labels, fmt, what="evaluation")
    return calibration, evaluation


def run_export(args: argparse.Namespace) -> int:
    labels = None
    if args.labels:
        path = Path(args.labels)
        if not path.is_file():
            raise ExportError(f"labels file not found: {path}")
        labels = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    spec = read_spec(args.preprocess) if args.preprocess else None
    if args.input:
        if spec is not None:
            raise ExportError("--input (tensor inputs) and --preprocess do not go together")
        inputs = _tensor_inputs(args.input)
    else:
        name = args.input_name or {"image": "image", "audio": "features", "video": "clip"}.get(
            spec.kind if spec is not None else "", "input"
        )
        inputs = [ModelInput(name, torch.zeros(1, *_example_shape(spec, args.input_shape)), spec)]
    if (args.calib or args.eval) and (spec is None or len(inputs) != 1):
        raise ExportError(
            "--calib/--eval folders hold media files for a model with one preprocessed input; "
            "for other models call mmedge.export.export_bundle(calibration=..., evaluation=...)"
        )
    out = Path(args.out)
    # Everything that can fail cheaply fails before the model is built.
    if out.exists() and not args.overwrite:
        raise ExportError(f"{out} exists; pass --overwrite to replace it")
    if spec is not None and args.modality is not None and args.modality != spec.kind:
        raise ExportError(
            f"--modality {args.modality} contradicts --preprocess, whose spec is {spec.kind}; "
            "leave --modality out to take it from the spec"
        )
    modality = spec.kind if spec is not None else (args.modality or "image")
    image_format = getattr(spec, "input_format", "BGR")
    task = getattr(args, "task", "classification")
    detection = task == "detection"
    heads = [_head(args.head, task)] if task in OUTPUT_KIND else []
    calibration, evaluation = _task_data(args, task, modality, labels, image_format)
    if evaluation is not None and labels is None:
        labels = evaluation.label_names
    model = load_model(args.factory, args.weights)
    path = export_bundle(
        model,
        out,
        name=args.name or out.name.split(".")[0],
        inputs=inputs,
        outputs=_outputs(args.outputs, OUTPUT_KIND.get(task, "logits")),
        labels=labels,
        modality=modality,
        task=task,
        heads=heads,
        graph_nms=detection and getattr(args, "nms", "kernel") == "graph",
        precisions=precisions,
        calibration=calibration,
        evaluation=evaluation,
        onnx_options=OnnxOptions(opset=args.opset, exporter=args.exporter, simplify=args.simplify),
        int8_options=Int8Options(
            method=args.calibration_method,
            max_accuracy_drop=args.max_accuracy_drop,
            max_float_layers=args.max_float_layers,
            cpu_variant=not args.no_int8_cpu_variant,
        ),
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    if args.no_progress:  # with progress, export_bundle printed the table as it finished
        with Bundle.load(path) as bundle:
            print(summary(bundle.manifest))
    print(f"wrote {path}")
    return 0


def validate_against_torch(bundle: Bundle, ref: str, weights: str | Path) -> bool:
    """Parity of every ONNX artifact against the PyTorch model, recomputed now on the bundle's
    stored parity inputs (real samples when the export had data); prints the reports."""
    model = load_model(ref, weights)
    inputs, _ = load_fixture(bundle)
    in_names = [t.name for t in bundle.inputs]
    out_names = [t.name for t in bundle.outputs]
    reference = torch_reference(model, inputs, in_names, out_names)
    n = len(next(iter(inputs.values())))
    ok = True
    for artifact in bundle.artifacts:
        if artifact.format != "onnx":
            continue
        backend = OrtBackend(artifact.path, providers=["CPUExecutionProvider"])
        try:
            got = backend_outputs(backend, inputs)
        finally:
            backend.close()
        for name in out_names:
            report = compare(
                reference[name],
                got[name],
                output=name,
                tolerance=stored_tolerance(bundle, artifact.file, artifact.precision, name),
            )
            ok &= report.passed
            print(f"  {artifact.file} vs PyTorch now ({n} stored inputs): {report.summary()}")
    return ok
