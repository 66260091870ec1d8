"""`mmedge serve`: bundles behind NVIDIA Triton Inference Server, through PyTriton (PyPI
`nvidia-pytriton`, which ships a `tritonserver` binary with the python backend): HTTP and gRPC
endpoints, health (`/v2/health/ready`), Triton's metrics and statistics, and dynamic batching.

Each bundle is three models: BUNDLE_model, the bundle's network on tensors (what
`Model(bundle, backend="triton://HOST:PORT/BUNDLE_model")` calls); BUNDLE_raw, the bundle's
preprocessing and network on raw samples (RAW, or SAMPLES and SAMPLE_RATE, batch axis first)
returning the network's outputs (what `Model(..., preprocess="server")` calls); and BUNDLE. To
BUNDLE a
client sends what mmedge.Model.predict takes: RAW, a
uint8 frame (H, W[, C]) in the spec's input format (audio: SAMPLES float32 and SAMPLE_RATE
int32), batch axis first; it gets LABEL (bytes), SCORE and PROBS, computed by mmedge.Model
(the bundle's own preprocessing, the fp32 artifact unless told otherwise) exactly as on the
device. Requests with frames of one size are batched by Triton (max_batch) into one
predict_batch call. Detection bundles are served one frame per call (BOXES (N, 4) in the
frame's pixels, SCORES, CLASSES, LABELS, and COUNT = N: PyTriton cannot send an empty tensor,
so a frame without boxes gets one zero row and COUNT 0).

PyTriton's python backend runs an interpreter whose libpython must match the Python it runs
in: a venv of the system's Python with numpy < 2 works (scripts/triton_env.sh makes one).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mmedge.errors import MMEdgeError
from mmedge.runtime.model import Model
from mmedge.serve.triton_repo import PLANAR_FORMATS

log = logging.getLogger(__name__)


def _classify(model: Model) -> Callable[..., dict[str, np.ndarray]]:
    audio = model.spec is not None and model.spec.kind == "audio"

    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        if audio:
            rates = [int(r) for r in inputs["SAMPLE_RATE"].reshape(-1)]
            found = model.predict_batch(list(inputs["SAMPLES"]), sample_rates=rates)
        else:
            found = model.predict_batch(list(inputs["RAW"]))
        return {
            "LABEL": np.array([[p.label.encode()] for p in found], dtype=np.object_),
            "SCORE": np.array([[p.score] for p in found], np.float32),
            "PROBS": np.stack([p.probs for p in found]).astype(np.float32),
        }

    return infer


def _detect(model: Model) -> Callable[[list[Any]], list[dict[str, np.ndarray]]]:
    """One frame per request (PyTriton hands an unbatched model the list of requests). PyTriton
    cannot send an empty tensor: without boxes the arrays hold one zero row; COUNT is the
    number of boxes."""

    def infer(requests: list[Any]) -> list[dict[str, np.ndarray]]:
        out = []
        for request in requests:
            d = model.predict(request["RAW"])
            n = len(d)
            rows = max(n, 1)
            boxes, scores = np.zeros((rows, 4), np.float32), np.zeros(rows, np.float32)
            classes, labels = np.zeros(rows, np.int32), np.full(rows, b"", dtype=object)
            boxes[:n], scores[:n], classes[:n] = d.xyxy, d.scores, d.class_ids
            labels[:n] = [s.encode() for s in d.labels]
            count = np.array([n], np.int32)
            out.append({"BOXES": boxes, "SCORES": scores, "CLASSES": classes,
                        "LABELS": labels.astype(np.bytes_), "COUNT": count})  # fmt: skip
        return out

    return infer


def _tensor_binding(model: Model, max_batch: int) -> dict[str, Any]:
    """BUNDLE_model: the bundle's ONNX model on tensors (for Model(..., backend="triton://"))."""
    from pytriton.decorators import batch
    from pytriton.model_config import ModelConfig, Tensor

    def infer(**feeds: np.ndarray) -> dict[str, np.ndarray]:
        return model.infer(feeds)

    def tensors(specs: Any) -> list[Any]:
        return [Tensor(name=t.name, dtype=np.float32, shape=tuple(d if isinstance(d, int) else -1
                for d in t.shape[1:])) for t in specs]  # fmt: skip

    config = ModelConfig(max_batch_size=max_batch)
    return {"infer_func": batch(infer), "inputs": tensors(model.inputs),
            "outputs": tensors(model.outputs), "config": config}  # fmt: skip


def _raw_inputs(model: Model) -> list[Any]:
    """What a client sends for the model's spec (per request row)."""
    from pytriton.model_config import Tensor

    assert model.spec is not None
    if model.spec.kind == "audio":
        return [Tensor(name="SAMPLES", dtype=np.float32, shape=(-1,)),
                Tensor(name="SAMPLE_RATE", dtype=np.int32, shape=(1,))]  # fmt: skip
    if model.spec.kind == "video":
        return [Tensor(name="RAW", dtype=np.uint8, shape=(-1,) * 4)]
    planar = getattr(model.spec, "input_format", "BGR") in PLANAR_FORMATS
    return [Tensor(name="RAW", dtype=np.uint8, shape=(-1,) * (2 if planar else 3))]


def _raw_binding(model: Model, max_batch: int) -> dict[str, Any]:
    """BUNDLE_raw: preprocessing and network on raw samples, the network's outputs back (for
    Model(..., preprocess="server"))."""
    from pytriton.decorators import batch
    from pytriton.model_config import ModelConfig

    audio = model.spec is not None and model.spec.kind == "audio"

    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        if audio:
            rates = [int(r) for r in inputs["SAMPLE_RATE"].reshape(-1)]
            feeds = model.preprocess_batch(list(inputs["SAMPLES"]), sample_rates=rates)
        else:
            feeds = model.preprocess_batch(list(inputs["RAW"]))
        return model.infer(feeds)

    binding = _tensor_binding(model, max_batch)
    binding.update(infer_func=batch(infer), inputs=_raw_inputs(model),
                   config=ModelConfig(max_batch_size=max_batch))  # fmt: skip
    return binding


def _binding(model: Model, max_batch: int) -> dict[str, Any]:
    """PyTriton bind() arguments of one bundle."""
    from pytriton.decorators import batch
    from pytriton.model_config import ModelConfig, Tensor

    if len(model.inputs) != 1 or model.spec is None:
        raise MMEdgeError(
            f"mmedge serve takes single-input bundles with a spec; {model.bundle.name}"
        )
    if len(model.heads) > 1 or any(h.task != "detection" for h in model.heads):
        raise MMEdgeError(
            f"mmedge serve takes classification and single-head detection bundles; "
            f"{model.bundle.name} has heads {[h.task for h in model.heads]}"
        )
    if model.heads:
        inputs = [Tensor(name="RAW", dtype=np.uint8, shape=(-1, -1, -1))]
        outputs = [Tensor(name="BOXES", dtype=np.float32, shape=(-1, 4)),
                   Tensor(name="SCORES", dtype=np.float32, shape=(-1,)),
                   Tensor(name="CLASSES", dtype=np.int32, shape=(-1,)),
                   Tensor(name="LABELS", dtype=bytes, shape=(-1,)),
                   Tensor(name="COUNT", dtype=np.int32, shape=(1,))]  # fmt: skip
        return {"infer_func": _detect(model), "inputs": inputs, "outputs": outputs,
                "config": ModelConfig(batching=False)}  # fmt: skip
    inputs = _raw_inputs(model)
    outputs = [Tensor(name="LABEL", dtype=bytes, shape=(1,)),
               Tensor(name="SCORE", dtype=np.float32, shape=(1,)),
               Tensor(name="PROBS", dtype=np.float32, shape=(len(model.labels),))]  # fmt: skip
    return {"infer_func": batch(_classify(model)), "inputs": inputs, "outputs": outputs,
            "config": ModelConfig(max_batch_size=max_batch)}  # fmt: skip


def check_ports(address: str, ports: dict[str, int]) -> None:
    """Raises MMEdgeError naming the first of `ports` ({option: port}) that cannot be bound on
    `address` (in use, or not this user's to bind), before any model loads."""
    for option, port in ports.items():
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError as exc:
                raise MMEdgeError(
                    f"{option} {port}: cannot listen on {address}:{port} ({exc.strerror}); "
                    f"another server holds it or it is not yours to bind: pick another port"
                ) from exc


def serve(
    bundles: Sequence[str],
    *,
    address: str = "127.0.0.1",
    http_port: int = 8000,
    grpc_port: int = 8001,
    metrics_port: int = 8002,
    max_batch: int = 8,
    precision: str = "fp32",
) -> None:
    """Serves the bundles until interrupted (Ctrl-C, SIGTERM); see the module docstring."""
    check_ports(address, {"--http-port": http_port, "--grpc-port": grpc_port,
                          "--metrics-port": metrics_port})  # fmt: skip
    try:
        from pytriton.triton import Triton, TritonConfig
    except ImportError as exc:
        raise MMEdgeError(
            f"mmedge serve needs PyTriton ({exc}): pip install nvidia-pytriton 'numpy<2' in a "
            "venv of the system's Python (scripts/triton_env.sh)"
        ) from exc
    models = [Model(b, precision=precision, backend="ort") for b in bundles]
    config = TritonConfig(http_address=address, http_port=http_port, grpc_address=address,
                          grpc_port=grpc_port, metrics_port=metrics_port)  # fmt: skip
    try:
        with Triton(config=config) as triton:
            for model in models:
                triton.bind(model_name=model.bundle.name, **_binding(model, max_batch))
                name = model.bundle.name
                triton.bind(model_name=f"{name}_model", **_tensor_binding(model, max_batch))
                if model.spec is not None and model.spec.kind in ("image", "audio"):
                    triton.bind(model_name=f"{name}_raw", **_raw_binding(model, max_batch))
            log.info("serving %s on %s:%d", [m.bundle.name for m in models], address, http_port)
            triton.serve()
    finally:
        for model in models:
            model.close()
