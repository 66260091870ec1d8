"""A remote backend: the model's inference on a Triton Inference Server, the post-processing
where the Model runs, the preprocessing where the user chooses. `Model(bundle,
backend="triton://HOST:PORT/MODEL")` sends the input tensors over gRPC to MODEL (the tensor
model `mmedge serve` and `mmedge export-triton` expose as BUNDLE_model) and gets the outputs
back, so the results are the local fp32 ones. With `preprocess="server"` the Model sends the raw
samples instead (uint8 frames as RAW; audio as SAMPLES float32 and SAMPLE_RATE int32, Hz) to
BUNDLE_raw, which runs the bundle's preprocessing and network on the server and returns the
network's outputs: less traffic for small models on large frames, and nothing but the
post-processing on the client.

A server model with max_batch_size > 0 gets the samples in requests of at most that many; a
raw model without a batch axis (export-triton's BUNDLE_raw ensemble) gets one request per
sample.

Every call has a timeout; a failed call is retried with back-off (RETRIES times, doubling from
BACKOFF_S); when the server stays unreachable the call raises BackendError naming the server,
which a Pipeline reports as a failing modality while the others keep running.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmedge.bundle.manifest import TensorSpec
from mmedge.errors import BackendError, PreprocessError
from mmedge.runtime.backends.base import TensorInfo

SCHEME = "triton://"
URL = re.compile(r"^triton://(?P<host>[^:/]+):(?P<port>\d+)/(?P<model>[A-Za-z0-9_.-]+)$")
DTYPES = {np.dtype(np.uint8): "UINT8", np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32"}
TIMEOUT_S = 10.0
RETRIES = 3
BACKOFF_S = 0.05


def parse(url: str) -> tuple[str, str]:
    """('host:port', model) of a triton:// URL; raises BackendError for anything else."""
    m = URL.match(url)
    if m is None:
        raise BackendError(f"a remote backend is triton://HOST:PORT/MODEL, got {url!r}")
    return f"{m['host']}:{m['port']}", m["model"]


def _rows(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays stacked on a new batch axis; arrays of different shapes as an object array
    of them (sent one request each)."""
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    rows = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        rows[i] = a
    return rows


def raw_feeds(
    spec: Any, samples: Sequence[Any], sample_rates: Sequence[int | None] | None = None
) -> dict[str, np.ndarray]:
    """What preprocess='server' sends for N samples: RAW, uint8 frames (N, H, W[, C]); or
    SAMPLES (N, S) float32 and SAMPLE_RATE (N, 1) int32 (Hz; None = the spec's own rate).
    Samples of different sizes go as an object array and one request each."""
    if len(samples) == 0:
        raise PreprocessError("predict_batch needs at least one sample")
    if spec.kind == "audio":
        rates = list(sample_rates) if sample_rates is not None else [None] * len(samples)
        hz = [spec.sample_rate_hz if r is None else int(r) for r in rates]
        arrays = [np.asarray(s, np.float32).reshape(-1) for s in samples]
        return {"SAMPLES": _rows(arrays), "SAMPLE_RATE": np.array(hz, np.int32)[:, None]}
    frames = [np.asarray(s) for s in samples]
    if any(f.dtype != np.uint8 for f in frames):
        kinds = sorted({str(f.dtype) for f in frames})
        raise PreprocessError(f"preprocess='server' sends uint8 frames, got {kinds}")
    return {"RAW": _rows(frames)}


class TritonRemoteBackend:
    """Runs MODEL on the Triton server at `url` (see the module docstring)."""

    name = "triton"

    def __init__(
        self,
        url: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        *,
        timeout_s: float = TIMEOUT_S,
        retries: int = RETRIES,
        preprocess: str = "local",
        intra_op_threads: int | None = None,
    ) -> None:
        """timeout_s: per call (s); retries: further tries of a failed call; preprocess:
        'local' (tensors to MODEL) or 'server' (raw samples to MODEL); intra_op_threads:
        ignored (a local ONNX Runtime option that pipelines pass to every model)."""
        if preprocess not in ("local", "server"):
            raise BackendError(f"preprocess is 'local' or 'server', got {preprocess!r}")
        self.raw = preprocess == "server"
        self._max_batch: int | None = None  # the server model's max_batch_size, asked once
        self.url = url
        self.address, self.model = parse(url)
        try:
            import tritonclient.grpc as grpc
        except ImportError as exc:
            raise BackendError(
                f"the triton backend needs tritonclient ({exc}): pip install 'tritonclient[grpc]'"
            ) from exc
        self._grpc = grpc
        self._client = grpc.InferenceServerClient(self.address)
        self.timeout_s, self.retries = timeout_s, retries
        self._inputs = [TensorInfo(t.name, t.shape, np.dtype(np.float32)) for t in inputs]
        self._outputs = [TensorInfo(t.name, t.shape, np.dtype(np.float32)) for t in outputs]

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def _request(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        grpc = self._grpc
        tensors = []
        for name, array in feeds.items():
            x = np.ascontiguousarray(array)
            if x.dtype not in DTYPES:
                raise BackendError(f"input {name!r}: dtype {x.dtype} is not sent; {list(DTYPES)}")
            tensor = grpc.InferInput(name, list(x.shape), DTYPES[x.dtype])
            tensor.set_data_from_numpy(x)
            tensors.append(tensor)
        wanted = [grpc.InferRequestedOutput(t.name) for t in self._outputs]
        result = self._client.infer(
            self.model, tensors, outputs=wanted, client_timeout=self.timeout_s
        )
        return {t.name: result.as_numpy(t.name) for t in self._outputs}

    def _call(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.raw:
            feeds = {t.name: np.asarray(feeds[t.name], np.float32) for t in self._inputs}
        if self._max_batch is None:
            config = self._client.get_model_config(self.model, client_timeout=self.timeout_s)
            self._max_batch = int(config.config.max_batch_size)
        n = len(next(iter(feeds.values())))
        ragged = any(v.dtype == object for v in feeds.values())
        if self._max_batch == 0 and not self.raw:  # a fixed batch axis: the tensors as they are
            return self._request(feeds)
        if self._max_batch == 0 or ragged:  # one sample per request (with a batch axis of 1
            # where the model has one)
            lead = (1,) if self._max_batch > 0 else ()
            parts = [
                self._request(
                    {k: np.reshape(v[i], lead + np.shape(v[i])) for k, v in feeds.items()}
                )
                for i in range(n)
            ]
        else:
            step = self._max_batch
            parts = [
                self._request({k: v[i : i + step] for k, v in feeds.items()})
                for i in range(0, n, step)
            ]
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs by name; retries a failed call with back-off, then raises."""
        delay, last = BACKOFF_S, None
        for attempt in range(self.retries + 1):
            try:
                return self._call(feeds)
            except Exception as exc:  # the server's, grpc's and connection errors alike
                last = exc
                if attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
        raise BackendError(
            f"triton server {self.address} (model {self.model}) failed {self.retries + 1} "
            f"calls in a row: {type(last).__name__}: {str(last)[:300]}"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "triton",
            "url": self.url,
            "providers": [f"triton {self.address}"],
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "preprocess_on": "server" if self.raw else "client",
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead server's client must not raise
            self._client.close()
