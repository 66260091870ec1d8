"""export_bundle(): a trained PyTorch classifier -> a checked, self-describing bundle.

Steps: ONNX export (to_onnx) -> onnx.checker -> parity against PyTorch on >= 32 inputs through
ONNX Runtime CPU -> (optional) accuracy on labelled frames through the same preprocessing kernel
and backend that mmedge.Model uses -> atomic write. A parity failure raises ParityError and
writes nothing.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import logging
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mmedge import preprocess as pp
from mmedge._version import __version__
from mmedge.backends.ort import OrtBackend
from mmedge.errors import ExportError, ParityError
from mmedge.export.onnx_export import DEFAULT_OPSET, to_onnx
from mmedge.export.writer import write_bundle
from mmedge.parity import ParityReport, ParityTolerance, compare

log = logging.getLogger(__name__)

MIN_PARITY_SAMPLES = 32
PARITY_FIXTURE_BYTES = 4 << 20  # at most this much of the parity inputs is stored in the bundle
MODEL_FILE = "model.onnx"


def package_versions() -> dict[str, str | None]:
    """Versions of what made a bundle (recorded in its provenance)."""
    versions: dict[str, str | None] = {"mmedge": __version__, "python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxscript", "onnxruntime", "numpy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def torch_outputs(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's first output for `inputs` (N, ...) float32, in batches, as float32."""
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            out = model(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])))
            if isinstance(out, (tuple, list)):
                out = out[0]
            chunks.append(out.detach().float().cpu().numpy())
    return np.concatenate(chunks)


def backend_outputs(
    backend: OrtBackend,
    input_name: str,
    output_name: str,
    inputs: np.ndarray,
    batch_size: int = 256,
) -> np.ndarray:
    chunks = [
        backend.infer({input_name: np.ascontiguousarray(inputs[s : s + batch_size])})[output_name]
        for s in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(chunks)


def random_frames(spec: pp.ImageSpec, n: int, seed: int = 0) -> list[np.ndarray]:
    """n seeded uint8 frames of spec.input_format, sizes around the model's input size."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        h = int(rng.integers(max(1, spec.height // 2), spec.height * 2 + 1))
        w = int(rng.integers(max(1, spec.width // 2), spec.width * 2 + 1))
        shape = (h, w) if spec.input_channels == 1 else (h, w, spec.input_channels)
        frames.append(rng.integers(0, 256, shape, dtype=np.uint8))
    return frames


def parity_inputs_for(
    spec: pp.ImageSpec | None, example: torch.Tensor, n: int, frames: Sequence[np.ndarray] | None
) -> np.ndarray:
    """Model inputs for the parity check: real frames when given, else random frames through
    the bundle's preprocessing, else seeded standard-normal tensors of the example's shape."""
    if spec is not None:
        source = (
            list(frames[:n]) if frames is not None and len(frames) >= n else random_frames(spec, n)
        )
        return pp.image_batch(source, spec).astype(np.float32)
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *example.shape[1:])).astype(np.float32)


def evaluate_accuracy(
    backend: OrtBackend,
    spec: pp.ImageSpec,
    input_name: str,
    output_name: str,
    frames: Sequence[np.ndarray],
    labels: np.ndarray,
    batch_size: int = 256,
    progress: bool = True,
) -> float:
    """Top-1 accuracy over labelled frames: preprocessing kernel + backend, as mmedge.Model runs."""
    correct = 0
    for start in tqdm(
        range(0, len(frames), batch_size),
        desc="accuracy",
        unit="batch",
        disable=not progress,
        leave=False,
    ):
        batch = pp.image_batch(frames[start : start + batch_size], spec)
        logits = backend.infer({input_name: batch})[output_name]
        correct += int((logits.argmax(axis=1) == labels[start : start + batch_size]).sum())
    return correct / len(frames)


def export_bundle(
    model: torch.nn.Module,
    out: str | Path,
    *,
    name: str,
    example_input: torch.Tensor,
    labels: Sequence[str] | None = None,
    preprocess: pp.ImageSpec | None = None,
    modality: str = "image",
    task: str = "classification",
    input_name: str = "image",
    output_name: str = "logits",
    output_kind: str = "logits",
    parity_inputs: np.ndarray | None = None,
    tolerance: ParityTolerance | None = None,
    eval_frames: Sequence[np.ndarray] | None = None,
    eval_labels: np.ndarray | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
    description: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Exports a single-input classifier (or embedding model) to a bundle and returns its path.

    example_input: a (B, ...) tensor with the model input's shape; the batch axis is exported
        as the dynamic dimension 'batch'.
    preprocess: how raw frames become that input (stored in the manifest and used for the
        parity and accuracy inputs); None for models fed ready tensors.
    parity_inputs: (N >= 32, ...) float32 model inputs for the parity check; default: the first
        32 eval frames, else 32 random frames, through `preprocess`.
    tolerance: the parity gate (default: ParityTolerance.for_precision('fp32')).
    eval_frames/eval_labels: labelled uint8 frames; their top-1 accuracy through the exported
        artifact is stored in reports.accuracy.
    Raises ParityError (nothing written) when the artifact's outputs differ from PyTorch's
    beyond the tolerance, ExportError when the export itself fails.
    """
    out = Path(out)
    tol = tolerance or ParityTolerance.for_precision("fp32")
    model = model.eval()
    if (eval_frames is None) != (eval_labels is None):
        raise ExportError("eval_frames and eval_labels go together")
    if eval_frames is not None and preprocess is None:
        raise ExportError("accuracy evaluation needs a preprocess spec to turn frames into inputs")
    steps = tqdm(total=4, desc=f"export {name}", unit="step", disable=not progress)
    exported = to_onnx(
        model,
        example_input,
        input_names=[input_name],
        output_names=[output_name],
        opset=opset,
        exporter=exporter,
    )
    steps.update()
    if parity_inputs is None:
        parity_inputs = parity_inputs_for(
            preprocess, example_input, MIN_PARITY_SAMPLES, eval_frames
        )
    parity_inputs = np.ascontiguousarray(parity_inputs, dtype=np.float32)
    if len(parity_inputs) < MIN_PARITY_SAMPLES:
        raise ExportError(
            f"parity needs at least {MIN_PARITY_SAMPLES} inputs, got {len(parity_inputs)}"
        )
    with tempfile.TemporaryDirectory(prefix="mmedge-export-") as scratch:
        onnx_path = Path(scratch) / MODEL_FILE
        onnx_path.write_bytes(exported.to_bytes())
        backend = OrtBackend(onnx_path, providers=["CPUExecutionProvider"])
        reference = torch_outputs(model, parity_inputs)
        candidate = backend_outputs(backend, input_name, output_name, parity_inputs)
        report: ParityReport = compare(reference, candidate, output=output_name, tolerance=tol)
        steps.update()
        log.info("parity %s", report.summary())
        if not report.passed:
            steps.close()
            raise ParityError(
                f"{name}: the ONNX artifact does not match PyTorch: {report.summary()} "
                f"(tolerance atol={tol.atol} rtol={tol.rtol}); no bundle was written",
                report,
            )
        accuracy: dict[str, Any] = {}
        if eval_frames is not None and preprocess is not None and eval_labels is not None:
            acc = evaluate_accuracy(
                backend,
                preprocess,
                input_name,
                output_name,
                eval_frames,
                np.asarray(eval_labels),
                progress=progress,
            )
            accuracy = {"metric": "top1", "n_samples": len(eval_frames), "fp32": acc}
        steps.update()
        per_sample = parity_inputs[0].nbytes + reference[0].nbytes
        keep = int(max(1, min(len(parity_inputs), PARITY_FIXTURE_BYTES // per_sample)))
        fixture_in, fixture_out = Path(scratch) / "inputs.npy", Path(scratch) / "reference.npy"
        np.save(fixture_in, parity_inputs[:keep], allow_pickle=False)
        np.save(fixture_out, reference[:keep], allow_pickle=False)
        out_shape = ["batch", *[int(d) for d in reference.shape[1:]]]
        manifest = {
            "schema_version": 1,
            "name": name,
            "modality": modality,
            "task": task,
            "labels": list(labels or []),
            "inputs": [
                {
                    "name": input_name,
                    "shape": ["batch", *[int(d) for d in example_input.shape[1:]]],
                    "dtype": "float32",
                    "layout": "NCHW" if preprocess is not None else None,
                }
            ],
            "outputs": [
                {"name": output_name, "shape": out_shape, "dtype": "float32", "kind": output_kind}
            ],
            "preprocess": {input_name: preprocess.to_dict()} if preprocess is not None else {},
            # sha256 and bytes of every file are filled in by write_bundle.
            "artifacts": [
                {"file": MODEL_FILE, "format": "onnx", "precision": "fp32", "opset": exported.opset}
            ],
            "files": [
                {"file": "parity/inputs.npy", "role": "parity_inputs"},
                {"file": "parity/reference.npy", "role": "parity_reference"},
            ],
            "provenance": {
                "exporter": exported.exporter,
                "fallback_reason": exported.fallback_reason,
                "versions": package_versions(),
                "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            },
            "reports": {"parity": {MODEL_FILE: report.to_dict()}, "accuracy": accuracy},
        }
        if description:
            manifest["description"] = description
        if manifest["inputs"][0]["layout"] is None:
            del manifest["inputs"][0]["layout"]
        path = write_bundle(
            out,
            manifest,
            {
                MODEL_FILE: onnx_path,
                "parity/inputs.npy": fixture_in,
                "parity/reference.npy": fixture_out,
            },
            overwrite=overwrite,
        )
        backend.close()
    steps.update()
    steps.close()
    return path
