"""`mmedge export-triton`: bundles as a Triton Inference Server model repository, with mmedge's
preprocessing and post-processing included, so a client sends raw frames (or audio) and gets
labels and scores (or boxes) back, the same as `mmedge.Model` on the device.

Per bundle NAME:
    NAME_model/  the bundle's ONNX artifact as an `onnxruntime_onnx` model (a `tensorrt_plan`
                 model with device='gpu' when the bundle holds an engine of that precision),
                 max_batch_size, dynamic_batching and instance_group; a bundle with a fixed
                 batch axis gets max_batch_size 0 and no batching
    NAME_pre/    python backend: raw input -> the model's input tensor (mmedge's kernels)
    NAME_post/   python backend: the model's output -> LABEL / SCORE / PROBS, or for a detection
                 head BOXES / SCORES / CLASSES / LABELS in the frame's own pixels
    NAME/        the ensemble a client calls: RAW (uint8 frame or clip; audio: SAMPLES float32
                 and SAMPLE_RATE int32) in, the post-processing's outputs out
    NAME_raw/    (image and audio bundles) the ensemble pre -> model: the same raw input in,
                 the network's outputs (batch 1) out, for a client that post-processes itself
                 (`mmedge.Model(bundle, backend="triton://HOST:PORT/NAME_raw",
                 preprocess="server")`)
The python models import mmedge (install it in Triton's python environment) and read the
`serving.json` written beside them (mmedge.serve.triton_steps). The repository is written
into a temporary folder beside `out` and renamed into place: whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmedge.bundle import Bundle
from mmedge.errors import MMEdgeError
from mmedge.serve.triton_steps import SERVING

PLANAR_FORMATS = ("GRAY", "NV12", "NV21", "I420")  # frames as one 2-D array

PYTHON_MODEL = '''"""mmedge {step}, written by mmedge export-triton (mmedge.serve.triton_steps)."""

from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from mmedge.serve.triton_steps import {cls}


class TritonPythonModel:
    def initialize(self, args):
        self.step = {cls}(Path(args["model_repository"]) / args["model_version"])

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                inputs = {{n: pb_utils.get_input_tensor_by_name(request, n) for n in {inputs!r}}}
                arrays = {{n: t.as_numpy() for n, t in inputs.items() if t is not None}}
                out = self.step.run({call})
                tensors = [pb_utils.Tensor(k, v) for k, v in out.items()]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as exc:  # one bad request must not fail the batch
                error = pb_utils.TritonError(f"{{type(exc).__name__}}: {{exc}}")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses
'''


def _dims(shape: Sequence[Any]) -> str:
    return "[ " + ", ".join(str(d) if isinstance(d, int) else "-1" for d in shape) + " ]"


def _tensor(name: str, dtype: str, shape: Sequence[Any]) -> str:
    return f'  {{ name: "{name}" data_type: {dtype} dims: {_dims(shape)} }}'


def _config(name: str, head: str, inputs: list[str], outputs: list[str], tail: str = "") -> str:
    return (
        f'name: "{name}"\n{head}\ninput [\n'
        + ",\n".join(inputs)
        + "\n]\noutput [\n"
        + ",\n".join(outputs)
        + f"\n]\n{tail}"
    )


def _raw_inputs(serving: dict[str, Any]) -> list[tuple[str, str, list[int]]]:
    """(name, Triton type, dims) of what a client sends for this spec."""
    spec = serving["spec"]
    if spec["kind"] == "audio":
        return [("SAMPLES", "TYPE_FP32", [-1]), ("SAMPLE_RATE", "TYPE_INT32", [1])]
    if spec["kind"] == "video":
        return [("RAW", "TYPE_UINT8", [-1, -1, -1, -1])]
    planar = spec.get("input_format", "BGR") in PLANAR_FORMATS
    return [("RAW", "TYPE_UINT8", [-1, -1] if planar else [-1, -1, -1])]


def _post_outputs(serving: dict[str, Any], classes: int) -> list[tuple[str, str, list[int]]]:
    if serving.get("heads"):
        return [
            ("BOXES", "TYPE_FP32", [-1, 4]),
            ("SCORES", "TYPE_FP32", [-1]),
            ("CLASSES", "TYPE_INT32", [-1]),
            ("LABELS", "TYPE_STRING", [-1]),
        ]
    return [
        ("LABEL", "TYPE_STRING", [1]),
        ("SCORE", "TYPE_FP32", [1]),
        ("PROBS", "TYPE_FP32", [classes]),
    ]


def _serving(bundle: Bundle) -> dict[str, Any]:
    heads = [h.task for h in bundle.heads()]
    if len(heads) > 1 or set(heads) - {"detection"}:
        raise MMEdgeError(
            f"{bundle.source}: export-triton serves classification and single-head detection "
            f"bundles; {bundle.name} has heads {heads}"
        )
    if len(bundle.inputs) != 1 or bundle.preprocess() is None:
        raise MMEdgeError(
            f"{bundle.source}: export-triton takes single-input bundles with a preprocessing "
            f"spec; {bundle.name} has inputs {[t.name for t in bundle.inputs]}"
        )
    scored = next(
        (o for o in bundle.outputs if o.kind in ("logits", "probs", "detection_head")), None
    )
    out = scored or bundle.outputs[0]
    return {
        "input": bundle.inputs[0].name,
        "spec": bundle.preprocess().to_dict(),  # type: ignore[union-attr]
        "output": out.name,
        "output_kind": out.kind or "logits",
        "labels": bundle.labels,
        "heads": [h.to_dict() for h in bundle.heads()],
    }


def _model_entry(bundle: Bundle, precision: str, device: str) -> tuple[str, str, Path]:
    """(platform, file name in the version folder, source path) of the served artifact."""
    if device == "gpu":
        engine = next(
            (a for a in bundle.artifacts if a.format == "tensorrt" and a.precision == precision),
            None,
        )
        if engine is not None:
            return "tensorrt_plan", "model.plan", engine.path
    return "onnxruntime_onnx", "model.onnx", bundle.artifact("onnx", precision).path


def _model_config(
    name: str, bundle: Bundle, serving: dict[str, Any], platform: str, options: dict[str, Any]
) -> str:
    """The served model: max_batch_size and dynamic batching when its batch axis is dynamic."""
    spec_in = bundle.inputs[0]
    batched = not isinstance(spec_in.shape[0], int) and options["max_batch"] > 0
    kind = "KIND_GPU" if options["device"] == "gpu" else "KIND_CPU"
    head = f'platform: "{platform}"\nmax_batch_size: {options["max_batch"] if batched else 0}'
    tail = f"instance_group [ {{ count: {options['instances']} kind: {kind} }} ]\n"
    if batched:
        delay = options["max_delay_us"]
        tail = f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}\n" + tail
    cut = 1 if batched else 0
    return _config(
        f"{name}_model", head,
        [_tensor(spec_in.name, "TYPE_FP32", spec_in.shape[cut:])],
        [_tensor(o.name, "TYPE_FP32", o.shape[cut:]) for o in bundle.outputs], tail,
    )  # fmt: skip


def _python_models(
    name: str, bundle: Bundle, serving: dict[str, Any]
) -> dict[str, tuple[str, str]]:
    """{model name: (config, model.py)} of the preprocessing and post-processing."""
    spec_in = bundle.inputs[0]
    spec_out = next(o for o in bundle.outputs if o.name == serving["output"])
    raw, post_out = _raw_inputs(serving), _post_outputs(serving, len(serving["labels"]))
    python = 'backend: "python"\nmax_batch_size: 0'
    size = _tensor("FRAME_SIZE", "TYPE_INT32", [2])
    pre = _config(f"{name}_pre", python, [_tensor(*r) for r in raw],
                  [_tensor("TENSOR", "TYPE_FP32", [1, *spec_in.shape[1:]]), size])  # fmt: skip
    post = _config(f"{name}_post", python,
                   [_tensor("OUTPUT", "TYPE_FP32", [1, *spec_out.shape[1:]]), size],
                   [_tensor(*o) for o in post_out])  # fmt: skip
    audio = raw[0][0] == "SAMPLES"
    pre_call = "arrays['SAMPLES'], int(arrays['SAMPLE_RATE'][0])" if audio else "arrays['RAW']"
    post_call = "arrays['OUTPUT'], arrays['FRAME_SIZE']"
    code = PYTHON_MODEL.format
    pre_code = code(step="preprocessing", cls="Pre", inputs=[r[0] for r in raw], call=pre_call)
    post_code = code(step="post-processing", cls="Post", inputs=["OUTPUT", "FRAME_SIZE"],
                     call=post_call)  # fmt: skip
    return {f"{name}_pre": (pre, pre_code), f"{name}_post": (post, post_code)}


def _steps_text(steps: list[tuple[str, dict[str, str], dict[str, str]]]) -> str:
    text = ",\n".join(
        f'    {{ model_name: "{m}" model_version: -1\n'
        + "".join(f'      input_map {{ key: "{k}" value: "{v}" }}\n' for k, v in ins.items())
        + "".join(f'      output_map {{ key: "{k}" value: "{v}" }}\n' for k, v in outs.items())
        + "    }"
        for m, ins, outs in steps
    )
    return f"ensemble_scheduling {{\n  step [\n{text}\n  ]\n}}\n"


def _ensemble_config(name: str, bundle: Bundle, serving: dict[str, Any]) -> str:
    """RAW (or SAMPLES, SAMPLE_RATE) -> pre -> model -> post -> the post-processing's outputs."""
    raw, post_out = _raw_inputs(serving), _post_outputs(serving, len(serving["labels"]))
    steps = [
        (f"{name}_pre", {r[0]: r[0] for r in raw},
         {"TENSOR": "tensor", "FRAME_SIZE": "frame_size"}),
        (f"{name}_model", {bundle.inputs[0].name: "tensor"}, {serving["output"]: "output"}),
        (f"{name}_post", {"OUTPUT": "output", "FRAME_SIZE": "frame_size"},
         {o[0]: o[0] for o in post_out}),
    ]  # fmt: skip
    return _config(
        name, 'platform: "ensemble"\nmax_batch_size: 0', [_tensor(*r) for r in raw],
        [_tensor(*o) for o in post_out], _steps_text(steps),
    )  # fmt: skip


def _raw_ensemble_config(name: str, bundle: Bundle, serving: dict[str, Any]) -> str:
    """NAME_raw: RAW (or SAMPLES, SAMPLE_RATE) -> pre -> model -> the network's outputs."""
    raw = _raw_inputs(serving)
    outputs = {o.name: o.name for o in bundle.outputs}
    steps = [
        (f"{name}_pre", {r[0]: r[0] for r in raw}, {"TENSOR": "tensor"}),
        (f"{name}_model", {bundle.inputs[0].name: "tensor"}, outputs),
    ]
    return _config(
        f"{name}_raw", 'platform: "ensemble"\nmax_batch_size: 0', [_tensor(*r) for r in raw],
        [_tensor(o.name, "TYPE_FP32", [1, *o.shape[1:]]) for o in bundle.outputs],
        _steps_text(steps),
    )  # fmt: skip


def _write_bundle(repo: Path, bundle: Bundle, name: str, options: dict[str, Any]) -> None:
    """The models of one bundle (see the module docstring) under `repo`."""
    serving = _serving(bundle)
    platform, file, source = _model_entry(bundle, options["precision"], options["device"])
    configs = {
        f"{name}_model": _model_config(name, bundle, serving, platform, options),
        name: _ensemble_config(name, bundle, serving),
    }
    if serving["spec"]["kind"] in ("image", "audio"):
        configs[f"{name}_raw"] = _raw_ensemble_config(name, bundle, serving)
    python = _python_models(name, bundle, serving)
    configs.update({model: config for model, (config, _) in python.items()})
    for model, config in configs.items():
        version = repo / model / "1"
        version.mkdir(parents=True)
        (repo / model / "config.pbtxt").write_text(config, encoding="utf-8")
    shutil.copyfile(source, repo / f"{name}_model" / "1" / file)
    for model, (_, code) in python.items():
        (repo / model / "1" / "model.py").write_text(code, encoding="utf-8")
        (repo / model / "1" / SERVING).write_text(json.dumps(serving, indent=2), encoding="utf-8")


def export_triton(
    bundles: Sequence[str | Path],
    out: str | Path,
    *,
    precision: str = "fp32",
    max_batch: int = 8,
    max_delay_us: int = 500,
    instances: int = 1,
    device: str = "cpu",
    overwrite: bool = False,
) -> Path:
    """Writes a Triton model repository for `bundles` at `out` (see the module docstring);
    returns its path. precision: the artifact served (fp32, fp16, int8). max_batch /
    max_delay_us: Triton's dynamic batching (bundles with a dynamic batch axis). instances:
    model instances per device; device: cpu or gpu."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise MMEdgeError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if device not in ("cpu", "gpu") or instances < 1 or not 0 <= max_batch <= 4096:
        raise MMEdgeError(
            f"device must be cpu or gpu, instances >= 1, max_batch 0-4096; got {device}, "
            f"{instances}, {max_batch}"
        )
    options = {"precision": precision, "max_batch": max_batch, "max_delay_us": max_delay_us,
               "instances": instances, "device": device}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names: set[str] = set()
        for ref in bundles:
            with Bundle.load(ref) as bundle:
                name = re.sub(r"[^A-Za-z0-9_.-]", "_", bundle.name)
                if name in names:
                    raise MMEdgeError(f"two bundles are named {name!r}: rename one")
                names.add(name)
                _write_bundle(tmp, bundle, name, options)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
