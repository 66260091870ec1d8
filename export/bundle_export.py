"""export_bundle(): a trained PyTorch model -> a checked, self-describing bundle with fp32, fp16
and int8 artifacts, each behind a gate that refuses to write a bad bundle.

Steps:
1. ONNX export (to_onnx: dynamo, TorchScript fallback recorded), onnx.checker, optional onnxslim.
2. A provisional bundle holding the fp32 graph is staged so that every tensor below comes from
   the bundle's own preprocessing (mmedge.Model.preprocess_batch): parity inputs, calibration
   data and evaluation data are what deployment will feed.
3. Parity of every artifact against PyTorch fp32 on >= 32 inputs (real samples when given):
   fp32 to rounding noise, fp16 to 1e-2 and 99% top-1 agreement, int8 to 95% top-1 agreement
   and mean cosine 0.98 (ParityTolerance.for_precision).
4. int8 (ONNX Runtime static QDQ, calibrated on `calibration`) with `evaluation`: accuracy within
   max_accuracy_drop points of fp32, keeping the most sensitive layers in float if needed
   (quantize.quantize_within_drop), or ExportError with the per-layer sensitivity.
5. Accuracy of every artifact through mmedge.Model on the staged bundle, ONNX Runtime CPU speed
   at batch 1, a recommendation, then one atomic write. Any failure writes nothing.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import logging
import platform
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from tqdm import tqdm

from mmedge import preprocess as pp
from mmedge._version import __version__
from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.bundle.writer import write_bundle
from mmedge.errors import ExportError, ParityError
from mmedge.export.data import Labelled, random_samples
from mmedge.export.fp16 import to_fp16
from mmedge.export.onnx_export import DEFAULT_OPSET, OnnxExport, to_onnx
from mmedge.export.quantize import Int8Quantizer, quantize_within_drop
from mmedge.runtime.backends.ort import OrtBackend
from mmedge.runtime.model import Model
from mmedge.runtime.speed import SpeedReport, time_backends

log = logging.getLogger(__name__)

MIN_PARITY_SAMPLES = 32
PARITY_SAMPLES = 256  # real samples used for parity when the data has that many
PARITY_FIXTURE_BYTES = 4 << 20  # at most this much of the parity inputs is stored in the bundle
MAX_CALIBRATION_SAMPLES = 1024
PRECISIONS = ("fp32", "fp16", "int8")
OUTPUT_KINDS = ("logits", "probs", "embedding", "regression")
ARTIFACT_FILES = {
    "fp32": "model.onnx",
    "fp16": "model.fp16.onnx",
    "int8": "model.int8.onnx",
    "int8-u8": "model.int8-u8.onnx",
}
LAYOUTS = {"image": "NCHW"}


@dataclass(frozen=True)
class ModelInput:
    """One model input.

    example: a (B, ...) float32 tensor of the input's shape; axis 0 is exported as 'batch'.
    preprocess: how raw samples become this input (image, audio or video spec), stored in the
        manifest; None for inputs fed ready tensors (e.g. embeddings into a fusion head).
    dynamic_axes: further symbolic axes, {axis: name}, e.g. {3: 'frames'} for an audio model
        that pools over time; default: the time axis of an audio spec without analysis window.
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


@dataclass(frozen=True)
class ModelOutput:
    """One model output: its name and kind (logits, probs, embedding, regression)."""

    name: str
    kind: str = "logits"


@dataclass
class _Artifact:
    file: str
    precision: str
    path: Path
    qdq: dict[str, Any] | None = None
    parity: dict[str, ParityReport] | None = None
    gate_accuracy: float | None = None
    quantization: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.parity is not None and all(r.passed for r in self.parity.values())


def package_versions() -> dict[str, str | None]:
    """Versions of what made a bundle (recorded in its provenance)."""
    versions: dict[str, str | None] = {"mmedge": __version__, "python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxscript", "onnxruntime", "onnxslim", "numpy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _as_outputs(result: Any, n_outputs: int) -> list[torch.Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(outs) != n_outputs or not all(isinstance(o, torch.Tensor) for o in outs):
        raise ExportError(
            f"the model returns {len(outs)} output(s) "
            f"({[type(o).__name__ for o in outs]}); {n_outputs} output name(s) were given"
        )
    return outs


def torch_reference(
    model: torch.nn.Module,
    feeds: Mapping[str, np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
    batch_size: int = 128,
) -> dict[str, np.ndarray]:
    """The PyTorch fp32 outputs for `feeds` (N, ...) by output name, computed in batches."""
    n = len(feeds[input_names[0]])
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in output_names}
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            args = [
                torch.from_numpy(np.ascontiguousarray(feeds[k][s : s + batch_size]))
                for k in input_names
            ]
            for name, out in zip(
                output_names, _as_outputs(model(*args), len(output_names)), strict=True
            ):
                chunks[name].append(out.detach().float().cpu().numpy())
    return {name: np.concatenate(c) for name, c in chunks.items()}


def torch_outputs(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's first output for one input array (N, ...) float32, in batches."""
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            out = model(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])))
            if isinstance(out, (tuple, list)):
                out = out[0]
            chunks.append(out.detach().float().cpu().numpy())
    return np.concatenate(chunks)


def backend_outputs(
    backend: OrtBackend, feeds: Mapping[str, np.ndarray], batch_size: int = 256
) -> dict[str, np.ndarray]:
    """The backend's outputs for `feeds` (N, ...), in batches, by output name."""
    n = len(next(iter(feeds.values())))
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, n, batch_size):
        result = backend.infer(
            {k: np.ascontiguousarray(v[s : s + batch_size]) for k, v in feeds.items()}
        )
        for name, value in result.items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(v) for name, v in parts.items()}


def parity_reports(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    tolerance: ParityTolerance,
) -> dict[str, ParityReport]:
    return {
        name: compare(ref, candidate[name], output=name, tolerance=tolerance)
        for name, ref in reference.items()
    }


def _normalise_io(
    inputs: Sequence[ModelInput] | None,
    outputs: Sequence[ModelOutput] | None,
    example_input: torch.Tensor | None,
    preprocess: pp.Spec | None,
    input_name: str,
    output_name: str,
    output_kind: str,
) -> tuple[list[ModelInput], list[ModelOutput]]:
    if inputs is None:
        if example_input is None:
            raise ExportError("give inputs=[ModelInput(...)] or example_input")
        inputs = [ModelInput(input_name, example_input, preprocess)]
    elif example_input is not None or preprocess is not None:
        raise ExportError("give either inputs=[...] or example_input/preprocess, not both")
    outs = list(outputs) if outputs is not None else [ModelOutput(output_name, output_kind)]
    names = [i.name for i in inputs] + [o.name for o in outs]
    if len(set(names)) != len(names):
        raise ExportError(f"input and output names must be unique, got {names}")
    for o in outs:
        if o.kind not in OUTPUT_KINDS:
            raise ExportError(
                f"output {o.name!r}: kind must be one of {OUTPUT_KINDS}, got {o.kind!r}"
            )
    for i in inputs:
        if not isinstance(i.example, torch.Tensor) or i.example.dim() < 1:
            raise ExportError(f"input {i.name!r}: example must be a (B, ...) tensor")
        if i.preprocess is not None and not isinstance(i.preprocess, pp.Spec):
            raise ExportError(
                f"input {i.name!r}: preprocess must be a spec (ImageSpec, AudioSpec, VideoSpec), "
                f"got {type(i.preprocess).__name__}"
            )
    return list(inputs), outs


def _shape(example: torch.Tensor, axes: Mapping[int, str]) -> list[int | str]:
    return ["batch", *[axes.get(a, int(d)) for a, d in enumerate(example.shape) if a > 0]]


def _tensor_manifest(
    inputs: Sequence[ModelInput],
    outputs: Sequence[ModelOutput],
    reference: Mapping[str, np.ndarray],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ins = []
    for i in inputs:
        entry: dict[str, Any] = {
            "name": i.name,
            "shape": _shape(i.example, i.axes()),
            "dtype": "float32",
        }
        if i.layout():
            entry["layout"] = i.layout()
        ins.append(entry)
    outs = [
        {
            "name": o.name,
            "shape": ["batch", *[int(d) for d in reference[o.name].shape[1:]]],
            "dtype": "float32",
            "kind": o.kind,
        }
        for o in outputs
    ]
    return ins, outs


def _check_labels(
    labels: Sequence[str] | None,
    outputs: Sequence[ModelOutput],
    reference: Mapping[str, np.ndarray],
) -> None:
    if not labels:
        return
    for o in outputs:
        if o.kind in ("logits", "probs"):
            classes = reference[o.name].shape[-1]
            if classes != len(labels):
                raise ExportError(
                    f"{len(labels)} labels but output {o.name!r} has {classes} classes: the "
                    "labels file does not belong to this model"
                )


def _fixture(
    feeds: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    scratch: Path,
    max_bytes: int = PARITY_FIXTURE_BYTES,
) -> dict[str, Path]:
    per_sample = sum(v[0].nbytes for v in feeds.values()) + sum(
        v[0].nbytes for v in reference.values()
    )
    n = len(next(iter(feeds.values())))
    keep = int(max(1, min(n, max_bytes // max(per_sample, 1))))
    paths = {
        "parity/inputs.npz": scratch / "inputs.npz",
        "parity/reference.npz": scratch / "reference.npz",
    }
    np.savez(paths["parity/inputs.npz"], **{k: v[:keep] for k, v in feeds.items()})
    np.savez(paths["parity/reference.npz"], **{k: v[:keep] for k, v in reference.items()})
    return paths


def _parity_samples(
    evaluation: Labelled | None, calibration: Labelled | None, inputs: Sequence[ModelInput], n: int
) -> tuple[Labelled, str]:
    """Raw samples for parity: the evaluation data, then calibration data, else random."""
    for data, what in ((evaluation, "evaluation"), (calibration, "calibration")):
        if data is not None and len(data) >= MIN_PARITY_SAMPLES:
            return data.subset(np.linspace(0, len(data) - 1, min(n, len(data))).astype(int)), what
    return random_samples(inputs, max(MIN_PARITY_SAMPLES, min(n, 64))), "random"


def _speeds(paths: Mapping[str, Path], feeds: Mapping[str, np.ndarray]) -> dict[str, SpeedReport]:
    """ONNX Runtime CPU latency of every artifact at batch 1, timed interleaved."""
    backends = {f: OrtBackend(p, providers=["CPUExecutionProvider"]) for f, p in paths.items()}
    try:
        return time_backends(backends, {k: np.ascontiguousarray(v[:1]) for k, v in feeds.items()})
    finally:
        for b in backends.values():
            b.close()


def _accuracy_of(
    path: Path, feeds: Mapping[str, np.ndarray], labels: np.ndarray, output: str
) -> float:
    backend = OrtBackend(path, providers=["CPUExecutionProvider"])
    try:
        scores = backend_outputs(backend, feeds)[output]
    finally:
        backend.close()
    return float((scores.argmax(axis=1) == labels).mean())


def _model_accuracy(bundle: Path, file: str, data: Labelled, batch: int = 256) -> float:
    """Top-1 accuracy of one artifact through mmedge.Model (preprocessing kernels + ONNX
    Runtime CPU), as a deployment runs it."""
    correct = 0
    with Model(bundle, artifact=file, providers=["CPUExecutionProvider"]) as model:
        for s in range(0, len(data), batch):
            rates = data.sample_rates[s : s + batch] if data.sample_rates else None
            predictions = model.predict_batch(data.samples[s : s + batch], sample_rates=rates)
            correct += sum(
                int(p.index == y)
                for p, y in zip(predictions, data.labels[s : s + batch], strict=True)
            )
    return correct / len(data)


def _recommendation(artifacts: Sequence[_Artifact], speeds: Mapping[str, SpeedReport]) -> dict:
    fastest = min(artifacts, key=lambda a: speeds[a.file].median_ms)
    fp32 = speeds[ARTIFACT_FILES["fp32"]].median_ms
    notes = []
    for a in artifacts:
        if a.precision == "fp32":
            continue
        ratio = fp32 / speeds[a.file].median_ms
        if ratio >= 1.0:
            continue
        slower = (
            f"{a.file} ({a.precision}) is not faster than fp32 on this CPU "
            f"({speeds[a.file].median_ms:.3f} ms vs {fp32:.3f} ms, {ratio:.2f}x)"
        )
        if a.precision == "fp16":
            notes.append(f"{slower}: this CPU has no fast fp16 arithmetic; fp16 is for GPUs")
        elif (a.qdq or {}).get("activations") == "int8":
            notes.append(
                f"{slower}: int8 activations are the TensorRT form; on x86 CPUs the "
                "uint8-activation artifact is the fast one"
            )
        else:
            notes.append(
                f"{slower}: quantise/dequantise overhead outweighs int8 arithmetic "
                "for this small model; use fp32 on CPU"
            )
    cpu = fastest.file
    reason = f"fastest on this CPU: {speeds[cpu].median_ms:.3f} ms at batch 1 ({fastest.precision})"
    if fastest.precision == "fp32":
        reason += "; use fp32 for CPU"
    return {
        "cpu": {
            "artifact": cpu,
            "precision": fastest.precision,
            "reason": reason,
            "machine": speeds[cpu].machine,
        },
        "notes": notes,
    }


def _simplify(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    try:
        import onnxslim
    except ImportError as exc:
        raise ExportError("simplify=True needs onnxslim: pip install 'mmedge[export]'") from exc
    before = len(proto.graph.node)
    try:
        slim = onnxslim.slim(proto)
        onnx.checker.check_model(slim)
    except Exception as exc:
        raise ExportError(f"onnxslim failed: {type(exc).__name__}: {exc}") from exc
    return slim, {
        "tool": "onnxslim",
        "version": importlib.metadata.version("onnxslim"),
        "nodes_before": before,
        "nodes_after": len(slim.graph.node),
    }


def export_bundle(
    model: torch.nn.Module,
    out: str | Path,
    *,
    name: str,
    inputs: Sequence[ModelInput] | None = None,
    outputs: Sequence[ModelOutput] | None = None,
    example_input: torch.Tensor | None = None,
    preprocess: pp.Spec | None = None,
    input_name: str = "image",
    output_name: str = "logits",
    output_kind: str = "logits",
    labels: Sequence[str] | None = None,
    modality: str = "image",
    task: str = "classification",
    precisions: Sequence[str] = ("fp32",),
    calibration: Labelled | None = None,
    evaluation: Labelled | None = None,
    eval_frames: Sequence[np.ndarray] | None = None,
    eval_labels: np.ndarray | None = None,
    max_accuracy_drop: float = 1.0,
    calibration_method: str = "minmax",
    max_float_layers: int | None = None,
    int8_cpu_variant: bool = True,
    simplify: bool = False,
    tolerance: ParityTolerance | None = None,
    tolerances: Mapping[str, ParityTolerance] | None = None,
    parity_data: Labelled | None = None,
    parity_samples: int = PARITY_SAMPLES,
    fixture_bytes: int = PARITY_FIXTURE_BYTES,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
    description: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Exports `model` to a bundle at `out` and returns its path.

    inputs/outputs: every model input (ModelInput: example tensor, preprocessing spec) and
        output (ModelOutput: name, kind) in the order the model takes and returns them. For a
        single-input model, example_input/preprocess/input_name/output_name are shortcuts.
    precisions: any of fp32, fp16, int8 (fp32 is always exported: it is the reference).
    calibration: labelled or unlabelled raw samples for int8 calibration (read_folder);
        evaluation: labelled raw samples; the top-1 accuracy of every artifact is measured on
        them through mmedge.Model and int8 must stay within max_accuracy_drop points of fp32.
        eval_frames/eval_labels: shortcut for an image evaluation set.
    calibration_method: minmax, entropy or percentile. max_float_layers: at most this many
        weighted layers may be kept in float to meet max_accuracy_drop (default: any number).
    int8_cpu_variant: also write an int8 artifact with uint8 activations, which ONNX Runtime's
        x86 CPU kernels run ~3x faster; the int8-activation artifact is the one TensorRT takes.
    tolerance/tolerances: parity gates (fp32 / per precision; ParityTolerance.for_precision).
    parity_data: raw samples (>= 32) for the parity check; default: up to parity_samples of the
        evaluation data, else of the calibration data, else seeded random samples.
    fixture_bytes: at most this much of the parity inputs and outputs is stored in the bundle
        for `mmedge validate` on the device (default 4 MiB).
    Raises ParityError or ExportError (AccuracyGateError for int8) and writes nothing on any
    failure.
    """
    out = Path(out)
    for p in precisions:
        if p not in PRECISIONS:
            raise ExportError(f"precision must be among {PRECISIONS}, got {p!r}")
    wanted = ["fp32", *[p for p in PRECISIONS[1:] if p in precisions]]
    if eval_frames is not None or eval_labels is not None:
        if eval_frames is None or eval_labels is None or evaluation is not None:
            raise ExportError("eval_frames and eval_labels go together, instead of evaluation")
        evaluation = Labelled(
            list(eval_frames), np.asarray(eval_labels, dtype=np.int64), list(labels or [])
        )
    if evaluation is not None and len(evaluation) == 0:
        raise ExportError("the evaluation set is empty")
    if parity_data is not None and len(parity_data) < MIN_PARITY_SAMPLES:
        raise ExportError(
            f"parity needs at least {MIN_PARITY_SAMPLES} inputs, got {len(parity_data)}"
        )
    if "int8" in wanted and (calibration is None or len(calibration) == 0):
        raise ExportError("int8 needs calibration data (calibration= / --calib DIR)")
    model_inputs, model_outputs = _normalise_io(
        inputs, outputs, example_input, preprocess, input_name, output_name, output_kind
    )
    scored = next((o for o in model_outputs if o.kind in ("logits", "probs")), None)
    if evaluation is not None and scored is None:
        raise ExportError("accuracy evaluation needs a logits or probs output")
    gates = {p: ParityTolerance.for_precision(p) for p in PRECISIONS}
    gates.update(tolerances or {})
    if tolerance is not None:
        gates["fp32"] = tolerance
    in_names = [i.name for i in model_inputs]
    out_names = [o.name for o in model_outputs]
    model = model.eval()
    steps = tqdm(total=4 + len(wanted), desc=f"export {name}", unit="step", disable=not progress)
    exported: OnnxExport = to_onnx(
        model,
        tuple(i.example for i in model_inputs),
        input_names=in_names,
        output_names=out_names,
        opset=opset,
        exporter=exporter,
        dynamic_axes={i.name: i.axes() for i in model_inputs if i.axes()},
    )
    steps.update()
    with tempfile.TemporaryDirectory(prefix="mmedge-export-") as tmp:
        scratch = Path(tmp)
        proto, simplification = exported.model, None
        unsimplified = scratch / "unsimplified.onnx"
        if simplify:
            onnx.save(proto, str(unsimplified))
            proto, simplification = _simplify(proto)
        fp32 = _Artifact(ARTIFACT_FILES["fp32"], "fp32", scratch / ARTIFACT_FILES["fp32"])
        onnx.save(proto, str(fp32.path))
        base = {
            "schema_version": 1,
            "name": name,
            "modality": modality,
            "task": task,
            "labels": list(labels or []),
            "preprocess": {i.name: i.preprocess.to_dict() for i in model_inputs if i.preprocess},
            "provenance": {
                "exporter": exported.exporter,
                "fallback_reason": exported.fallback_reason,
                "versions": package_versions(),
                "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            },
        }
        if description:
            base["description"] = description
        # A provisional bundle: its Model turns raw samples into tensors exactly as deployed.
        probe_out = {o.name: np.zeros((1, 1), np.float32) for o in model_outputs}
        ins, _ = _tensor_manifest(model_inputs, model_outputs, probe_out)
        provisional = write_bundle(
            scratch / "provisional.mmb",
            {
                **base,
                "inputs": ins,
                "outputs": [
                    {"name": o.name, "shape": ["batch"], "dtype": "float32", "kind": o.kind}
                    for o in model_outputs
                ],
                "artifacts": [{"file": fp32.file, "format": "onnx", "precision": "fp32"}],
                "reports": {},
            },
            {fp32.file: fp32.path},
        )
        with Model(provisional, artifact=fp32.file, providers=["CPUExecutionProvider"]) as staged:
            if parity_data is not None:
                raw, source = parity_data, "given"
            else:
                raw, source = _parity_samples(evaluation, calibration, model_inputs, parity_samples)
            parity_feeds = staged.preprocess_batch(raw.samples, sample_rates=raw.sample_rates)
            calib_feeds = eval_feeds = None
            if "int8" in wanted and calibration is not None:
                subset = calibration
                if len(calibration) > MAX_CALIBRATION_SAMPLES:
                    subset = calibration.subset(
                        np.linspace(0, len(calibration) - 1, MAX_CALIBRATION_SAMPLES).astype(int)
                    )
                calib_feeds = staged.preprocess_batch(
                    subset.samples, sample_rates=subset.sample_rates
                )
            if evaluation is not None:
                eval_feeds = staged.preprocess_batch(
                    evaluation.samples, sample_rates=evaluation.sample_rates
                )
        reference = torch_reference(model, parity_feeds, in_names, out_names)
        _check_labels(labels, model_outputs, reference)
        steps.update()

        def check(artifact: _Artifact) -> None:
            backend = OrtBackend(artifact.path, providers=["CPUExecutionProvider"])
            try:
                got = backend_outputs(backend, parity_feeds)
            finally:
                backend.close()
            artifact.parity = parity_reports(reference, got, gates[artifact.precision])
            for report in artifact.parity.values():
                log.info("%s %s", artifact.file, report.summary())
            if not artifact.passed:
                failed = [r for r in artifact.parity.values() if not r.passed]
                tol = gates[artifact.precision]
                blame = ""
                if simplify and artifact.precision == "fp32":
                    backend = OrtBackend(unsimplified, providers=["CPUExecutionProvider"])
                    raw_ok = all(
                        r.passed
                        for r in parity_reports(
                            reference, backend_outputs(backend, parity_feeds), tol
                        ).values()
                    )
                    backend.close()
                    blame = (
                        (
                            " (the graph before onnxslim passes: simplification broke it; "
                            "export without --simplify)"
                        )
                        if raw_ok
                        else ""
                    )
                raise ParityError(
                    f"{name}: {artifact.file} ({artifact.precision}) does not match PyTorch on "
                    f"{len(reference[out_names[0]])} {source} inputs: "
                    + "; ".join(r.summary() for r in failed)
                    + f" (gate: atol={tol.atol} + {tol.atol_fraction_of_max} x max|ref| "
                    f"rtol={tol.rtol} top1>={tol.min_top1_agreement}"
                    f" mean_cos>={tol.min_mean_cosine}){blame}; no bundle was written",
                    failed[0],
                )

        artifacts = [fp32]
        check(fp32)
        steps.update()
        fp32_accuracy = None
        if eval_feeds is not None and scored is not None and evaluation is not None:
            fp32_accuracy = _accuracy_of(fp32.path, eval_feeds, evaluation.labels, scored.name)
        if "fp16" in wanted:
            fp16 = _Artifact(ARTIFACT_FILES["fp16"], "fp16", scratch / ARTIFACT_FILES["fp16"])
            onnx.save(to_fp16(proto), str(fp16.path))
            check(fp16)
            artifacts.append(fp16)
            steps.update()
        if "int8" in wanted and calib_feeds is not None:
            quantizer = Int8Quantizer(
                fp32.path,
                calib_feeds,
                scratch / "int8",
                method=calibration_method,
                progress=progress,
            )
            variants = [("int8", "int8")] + ([("int8-u8", "uint8")] if int8_cpu_variant else [])
            excluded: list[str] = []
            evaluate = None
            if eval_feeds is not None and scored is not None and evaluation is not None:
                eval_labels_ = evaluation.labels
                scored_name = scored.name
                eval_feeds_ = eval_feeds

                def evaluate(path: Path) -> float:
                    return _accuracy_of(path, eval_feeds_, eval_labels_, scored_name)

            for key, activations in variants:
                art = _Artifact(
                    ARTIFACT_FILES[key],
                    "int8",
                    scratch / ARTIFACT_FILES[key],
                    qdq={
                        "activations": activations,
                        "weights": "int8",
                        "per_channel": True,
                        "symmetric_activations": activations == "int8",
                    },
                )
                sensitivity: list[Any] = []
                if evaluate is not None and fp32_accuracy is not None:
                    if key == "int8":
                        gated = quantize_within_drop(
                            quantizer,
                            art.path,
                            evaluate,
                            fp32_accuracy,
                            max_accuracy_drop,
                            activations=activations,
                            max_float_nodes=max_float_layers,
                            progress=progress,
                        )
                        excluded, sensitivity = gated.excluded, gated.sensitivity
                    else:  # same layers in float as the TensorRT variant, checked on its own
                        quantizer.quantize(art.path, activations=activations, exclude=excluded)
                        accuracy = evaluate(art.path)
                        if 100 * (fp32_accuracy - accuracy) > max_accuracy_drop:
                            log.warning(
                                "int8 with uint8 activations drops %.2f points: not written",
                                100 * (fp32_accuracy - accuracy),
                            )
                            continue
                else:
                    quantizer.quantize(art.path, activations=activations)
                try:
                    check(art)
                except ParityError:
                    if key == "int8":
                        raise
                    log.warning("%s fails its parity gate: not written", art.file)
                    continue
                art.quantization = {
                    "method": quantizer.method,
                    "calibration_samples": quantizer.n_samples,
                    **(art.qdq or {}),
                    "symmetric_weights": True,
                    "excluded_nodes": list(excluded),
                    "sensitivity": [s.to_dict() for s in sensitivity],
                    "max_accuracy_drop_pts": max_accuracy_drop
                    if fp32_accuracy is not None
                    else None,
                }
                artifacts.append(art)
            steps.update()
        speeds = _speeds({a.file: a.path for a in artifacts}, parity_feeds)
        fixture = _fixture(parity_feeds, reference, scratch, fixture_bytes)
        ins, outs = _tensor_manifest(model_inputs, model_outputs, reference)
        manifest: dict[str, Any] = {
            **base,
            "inputs": ins,
            "outputs": outs,
            "artifacts": [
                {
                    "file": a.file,
                    "format": "onnx",
                    "precision": a.precision,
                    "opset": exported.opset,
                    **({"qdq": a.qdq} if a.qdq else {}),
                }
                for a in artifacts
            ],
            "files": [
                {"file": "parity/inputs.npz", "role": "parity_inputs"},
                {"file": "parity/reference.npz", "role": "parity_reference"},
            ],
            "reports": {
                "parity": {
                    a.file: {
                        "passed": a.passed,
                        "source": source,
                        "outputs": {k: r.to_dict() for k, r in (a.parity or {}).items()},
                    }
                    for a in artifacts
                },
                "speed": {k: v.to_dict() for k, v in speeds.items()},
                "recommendation": _recommendation(artifacts, speeds),
            },
        }
        quant = {a.file: a.quantization for a in artifacts if a.quantization}
        if quant:
            manifest["reports"]["quantization"] = quant
        if simplification:
            manifest["reports"]["simplification"] = simplification
        files: dict[str, Path] = {a.file: a.path for a in artifacts}
        files.update(fixture)
        staged_path = write_bundle(scratch / "staged.mmb", {**manifest}, files)
        if evaluation is not None:
            by_file = {
                a.file: _model_accuracy(staged_path, a.file, evaluation)
                for a in tqdm(
                    artifacts, desc="accuracy", unit="artifact", disable=not progress, leave=False
                )
            }
            accuracy: dict[str, Any] = {
                "metric": "top1",
                "n_samples": len(evaluation),
                "artifacts": by_file,
            }
            for a in artifacts:
                accuracy.setdefault(a.precision, by_file[a.file])
            manifest["reports"]["accuracy"] = accuracy
        else:
            manifest["reports"]["accuracy"] = {}
        steps.update()
        path = write_bundle(out, manifest, files, overwrite=overwrite)
    steps.update()
    steps.close()
    return path
