"""mmedge.Model: a bundle, its preprocessing and a backend, ready to predict."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedge import preprocess as pp
from mmedge.bundle import Bundle, TensorSpec
from mmedge.errors import BackendError, PreprocessError
from mmedge.runtime.backends import Backend, available_backends, create_backend
from mmedge.runtime.backends import triton_remote as remote
from mmedge.runtime.engine_swap import BackgroundEngine
from mmedge.runtime.events import predict_events
from mmedge.runtime.image_heads import predict_detections, predict_heads, predict_masks
from mmedge.runtime.prediction import Prediction, softmax, tensor_sample
from mmedge.runtime.selection import Selection, select_artifact
from mmedge.tasks.event_head import EventHead
from mmedge.tasks.segmentation import SegmentationHead


class Model:
    """Loads a bundle and runs it.

    bundle: a Bundle or the path of NAME.mmb / NAME.mmb.tar.
    backend: 'auto' (TensorRT engine when one fits this GPU, else ONNX Runtime with TensorRT EP
        > CUDA EP > CPU), 'tensorrt' or 'ort'; or 'triton://HOST:PORT/MODEL': the inference on a
        Triton server, the post-processing here (runtime.backends.triton_remote; backend_options:
        timeout_s, retries, preprocess='local' (tensors to BUNDLE_model) or 'server' (raw
        samples to BUNDLE_raw, single-input image and audio bundles)).
    precision: 'fp32', 'fp16' or 'int8'; None = the fastest artifact that passed its gates on
        this machine (timed once and cached, see mmedge.runtime.speed). artifact: a file name of the
        bundle to run exactly that one.
    allow_fallback: when the bundle's engine was built for another TensorRT or GPU, run its ONNX
        artifact on ONNX Runtime instead of refusing (describe() says so).
    build_engine: a precision ('fp16'): where TensorRT is installed and the Model does not run
        an engine, build this GPU's engine into the bundle in the background and switch to it
        when it is ready, ONNX Runtime serving meanwhile (runtime.engine_swap;
        describe()['engine_build'], engine_build.wait()).
    backend_options: passed to the backend (for ONNX Runtime: providers, intra_op_threads,
        graph_optimization, device_id).
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        backend: str = "auto",
        *,
        precision: str | None = None,
        artifact: str | None = None,
        allow_fallback: bool = False,
        build_engine: str | None = None,
        **backend_options: Any,
    ) -> None:
        self._owns_bundle = not isinstance(bundle, Bundle)
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        try:
            if backend.startswith(remote.SCHEME):  # the model on a server, the rest here
                self.selection: Selection = Selection(
                    "triton",
                    self.bundle.artifact("onnx", precision or "fp32"),
                    f"remote: {backend}",
                )
                self.backend: Backend = remote.TritonRemoteBackend(
                    backend, self.bundle.inputs, self.bundle.outputs, **backend_options
                )
            else:
                self.selection = select_artifact(
                    self.bundle,
                    backend,
                    precision=precision,
                    artifact=artifact,
                    allow_fallback=allow_fallback,
                    backend_options=backend_options,
                )
                self.backend = create_backend(
                    self.selection.backend, self.selection.artifact.path, **backend_options
                )
            self.backend_name = self.selection.backend
            self.artifact = self.selection.artifact
        except BaseException:
            if self._owns_bundle:
                self.bundle.close()
            raise
        self.inputs = self.bundle.inputs
        self.specs: dict[str, pp.Spec | None] = {
            t.name: self.bundle.preprocess(t.name) for t in self.inputs
        }
        self.input_name = self.inputs[0].name
        self.spec = self.specs[self.input_name]
        self.outputs = self.bundle.outputs
        scored = [o for o in self.outputs if o.kind in ("logits", "probs")]
        self.output = scored[0] if scored else self.outputs[0]
        self.labels = self.bundle.labels
        self.heads = self.bundle.heads()
        self._stack: pp.FrameStack | None = None
        self._swap_lock = threading.Lock()
        self._retired: list[Backend] = []
        self._closed = False
        self.engine_build: BackgroundEngine | None = None
        if (
            build_engine is not None
            and self.backend_name != "tensorrt"
            and "tensorrt" in available_backends()
        ):
            self.engine_build = BackgroundEngine(self, build_engine)
        self.server_preprocess = bool(getattr(self.backend, "raw", False))
        if self.server_preprocess and (
            len(self.inputs) != 1 or self.spec is None or self.spec.kind not in ("image", "audio")
        ):
            self.close()
            raise PreprocessError(
                f"preprocess='server' takes single-input image or audio bundles; "
                f"{self.bundle.name!r} has inputs {[t.name for t in self.inputs]} of kind "
                f"{self.spec.kind if self.spec else None}"
            )

    # -- preprocessing -------------------------------------------------------------------------

    def _per_input(self, sample: Any) -> dict[str, Any]:
        if len(self.inputs) == 1:
            return {self.input_name: sample}
        if not isinstance(sample, Mapping):
            raise PreprocessError(
                f"bundle {self.bundle.name!r} takes {len(self.inputs)} inputs "
                f"{[t.name for t in self.inputs]}: pass a mapping of input name to sample"
            )
        names = [t.name for t in self.inputs]
        if set(sample) != set(names):
            raise PreprocessError(f"inputs must be exactly {names}, got {sorted(sample)}")
        return dict(sample)

    @staticmethod
    def _needs_rate(spec: pp.Spec | None, sample_rate: int | None, name: str) -> None:
        """Raw audio without its rate is refused: read at the model's rate it would give a
        wrong answer without any error."""
        if spec is not None and spec.kind == "audio" and sample_rate is None:
            raise PreprocessError(
                f"raw audio for input {name!r} needs its rate: predict(samples, "
                f"sample_rate=HZ) (the model computes features at {spec.sample_rate_hz} Hz and "
                "resamples from yours; audio at another rate read as that one gives a wrong "
                "answer without any error)"
            )

    def _tensor(
        self, declared: TensorSpec, raw: Any, sample_rate: int | None, native: bool = False
    ) -> np.ndarray:
        spec = self.specs[declared.name]
        if spec is None:
            return tensor_sample(raw, declared)
        if not native:
            self._needs_rate(spec, sample_rate, declared.name)
        return spec.apply(raw, sample_rate_hz=sample_rate)

    def preprocess(self, sample: Any, *, sample_rate: int | None = None) -> dict[str, np.ndarray]:
        """One sample -> the model's input tensors (batch 1) by input name, through each input's
        preprocessing spec. sample: an image (uint8 HWC/HW), audio (mono samples; sample_rate in
        Hz, required), a clip ((T, H, W, C) frames), a float32 tensor for inputs without a
        spec; for a multi-input model a mapping of input name to sample. With
        preprocess='server': the raw sample as the server takes it (triton_remote.raw_feeds)."""
        if self.server_preprocess:
            self._needs_rate(self.spec, sample_rate, self.input_name)
            return remote.raw_feeds(self.spec, [sample], [sample_rate])
        raw = self._per_input(sample)
        return {t.name: self._tensor(t, raw[t.name], sample_rate) for t in self.inputs}

    def preprocess_native(self, sample: Any) -> dict[str, np.ndarray]:
        """preprocess() of samples already at each spec's own rate (the pipeline resamples its
        audio windows before they get here)."""
        if self.server_preprocess:
            return remote.raw_feeds(self.spec, [sample])
        raw = self._per_input(sample)
        return {t.name: self._tensor(t, raw[t.name], None, native=True) for t in self.inputs}

    def preprocess_batch(
        self, samples: Sequence[Any] | np.ndarray, *, sample_rates: Sequence[int] | None = None
    ) -> dict[str, np.ndarray]:
        """N samples -> the input tensors with batch N (images in one fused kernel call)."""
        n = len(samples)
        if n == 0:
            raise PreprocessError("predict_batch needs at least one sample")
        if sample_rates is not None and len(sample_rates) != n:
            raise PreprocessError(f"{n} samples but {len(sample_rates)} sample rates")
        if self.server_preprocess:
            self._needs_rate(self.spec, None if sample_rates is None else 0, self.input_name)
            return remote.raw_feeds(self.spec, samples, sample_rates)
        if len(self.inputs) == 1 and self.spec is not None:
            if self.spec.kind == "audio" and sample_rates is None:
                raise PreprocessError(
                    "raw audio needs its rates: predict_batch(samples, sample_rates=[HZ, ...]) "
                    f"(the model computes features at {self.spec.sample_rate_hz} Hz)"
                )
            return {self.input_name: self.spec.apply_batch(samples, sample_rates=sample_rates)}
        rows = [
            self.preprocess(s, sample_rate=None if sample_rates is None else sample_rates[i])
            for i, s in enumerate(samples)
        ]
        return {t.name: np.concatenate([r[t.name] for r in rows]) for t in self.inputs}

    # -- running -------------------------------------------------------------------------------

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the backend on ready-made tensors (no preprocessing), keyed by input name."""
        return self.backend.infer(feeds)

    def predict(self, sample: Any, *, sample_rate: int | None = None) -> Any:
        """The result of the bundle's task for one sample (see preprocess for what a sample
        is): a Prediction (classification), Detections (a detection head: boxes in the
        frame's own pixels), Masks (a segmentation head: a class mask at the frame's size),
        AudioEvents (an audio_events head: the recording's events, s from its start) or, for a
        multi-task bundle, HeadResults (one of those per head, by the head's name)."""
        if self.heads:
            return self._predict_head([sample], None if sample_rate is None else [sample_rate])[0]
        return self._predict(lambda: self.preprocess(sample, sample_rate=sample_rate), 1)[0]

    def predict_batch(
        self, samples: Sequence[Any] | np.ndarray, *, sample_rates: Sequence[int] | None = None
    ) -> list[Any]:
        """predict() of N samples in one backend call."""
        if self.heads:
            return self._predict_head(samples, sample_rates)
        return self._predict(
            lambda: self.preprocess_batch(samples, sample_rates=sample_rates), len(samples)
        )

    def _predict_head(self, samples: Sequence[Any], rates: Sequence[int] | None) -> list[Any]:
        if len(self.heads) > 1:
            return predict_heads(self, samples)
        if isinstance(self.heads[0], EventHead):
            return predict_events(self, samples, rates)
        if isinstance(self.heads[0], SegmentationHead):
            return predict_masks(self, samples)
        return predict_detections(self, samples)

    def predict_frame(self, frame: Any) -> Prediction | None:
        """Video bundles, frame by frame: pushes one frame into the model's FrameStack and
        classifies the newest clip once clip_len frames (at the spec's stride) have arrived;
        None before that and for frames the stride skips."""
        if self.spec is None or self.spec.kind != "video" or len(self.inputs) != 1:
            raise PreprocessError(f"bundle {self.bundle.name!r} is not a single-input video model")
        if self._stack is None:
            self._stack = pp.FrameStack(self.spec)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        clip = self._stack.push(frame)
        if clip is None:
            return None
        pushed = time.perf_counter() - t0
        result = self._predict(lambda: {self.input_name: clip}, 1)[0]
        return Prediction(
            result.label,
            result.index,
            result.score,
            result.probs,
            result.latency_ms + pushed * 1e3,
            result.preprocess_ms + pushed * 1e3,
            result.infer_ms,
            result.outputs,
        )

    def reset_stream(self) -> None:
        """Forgets the frames predict_frame has collected."""
        if self._stack is not None:
            self._stack.reset()

    def _predict(self, make_feeds: Callable[[], dict[str, np.ndarray]], n: int) -> list[Prediction]:
        if self.output.kind not in ("logits", "probs"):
            raise BackendError(
                f"predict needs a logits or probs output; "
                f"{self.output.name!r} is {self.output.kind}; use infer()"
            )
        t0 = time.perf_counter()
        feeds = make_feeds()
        t1 = time.perf_counter()
        results = self.backend.infer(feeds)
        t2 = time.perf_counter()
        raw = results[self.output.name]
        probs = softmax(raw) if self.output.kind == "logits" else raw.astype(np.float32)
        t3 = time.perf_counter()
        per = 1000.0 / n
        predictions = []
        for i, row in enumerate(probs):
            index = int(row.argmax())
            label = self.labels[index] if index < len(self.labels) else str(index)
            predictions.append(
                Prediction(
                    label,
                    index,
                    float(row[index]),
                    row,
                    (t3 - t0) * per,
                    (t1 - t0) * per,
                    (t2 - t1) * per,
                    {name: value[i] for name, value in results.items()},
                )
            )
        return predictions

    # -- reporting -----------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Which bundle, artifact, backend and providers run, why that artifact, and with what
        preprocessing."""
        return {
            "bundle": self.bundle.name,
            "source": str(self.bundle.source),
            "modality": self.bundle.modality,
            "artifact": {
                "file": self.artifact.file,
                "format": self.artifact.format,
                "precision": self.artifact.precision,
            },
            "selected_because": self.selection.reason,
            **self.backend.describe(),
            "inputs": [t.name for t in self.inputs],
            "input": self.input_name,
            "preprocess": {
                n: s.to_dict() if s is not None else None for n, s in self.specs.items()
            },
            "outputs": {o.name: o.kind for o in self.outputs},
            "heads": [h.to_dict() for h in self.heads],
            "labels": len(self.labels),
            **({"engine_build": self.engine_build.describe()} if self.engine_build else {}),
        }

    def __str__(self) -> str:
        d = self.describe()
        runs_on = ", ".join(d.get("providers", [])) or d["backend"]
        return (
            f"{d['bundle']}: {d['artifact']['file']} ({d['artifact']['format']} "
            f"{d['artifact']['precision']}) on {d['backend']} [{runs_on}]"
        )

    def _switch(self, backend: Backend, artifact: Any) -> bool:
        """Runs `artifact` on `backend` from the next call on (engine_swap); False when the
        Model is closed. The previous backend stays open until close()."""
        with self._swap_lock:
            if self._closed:
                return False
            self._retired.append(self.backend)
            self.backend, self.backend_name, self.artifact = backend, "tensorrt", artifact
            self.selection = Selection("tensorrt", artifact, "a TensorRT engine built here "
                                       "while ONNX Runtime served")  # fmt: skip
            return True

    def close(self) -> None:
        """Releases the backend, and the bundle when this Model opened it."""
        with self._swap_lock:
            self._closed = True
        for backend in [*self._retired, self.backend]:
            backend.close()
        if self._owns_bundle:
            self.bundle.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
