"""A remote backend: the model's inference on a Triton Inference Server, the rest (the bundle's
preprocessing and post-processing) where the Model runs. `Model(bundle,
backend="triton://HOST:PORT/MODEL")` sends the input tensors over gRPC to MODEL (the tensor
model `mmedge serve` exposes as BUNDLE_model, or `mmedge export-triton`'s BUNDLE_model) and
gets the outputs back, so the results are the local fp32 ones.

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
from mmedge.errors import BackendError
from mmedge.runtime.backends.base import TensorInfo

SCHEME = "triton://"
URL = re.compile(r"^triton://(?P<host>[^:/]+):(?P<port>\d+)/(?P<model>[A-Za-z0-9_.-]+)$")
TIMEOUT_S = 10.0
RETRIES = 3
BACKOFF_S = 0.05


def parse(url: str) -> tuple[str, str]:
    """('host:port', model) of a triton:// URL; raises BackendError for anything else."""
    m = URL.match(url)
    if m is None:
        raise BackendError(f"a remote backend is triton://HOST:PORT/MODEL, got {url!r}")
    return f"{m['host']}:{m['port']}", m["model"]


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
        intra_op_threads: int | None = None,
    ) -> None:
        """timeout_s: per call (s); retries: further tries of a failed call; intra_op_threads:
        ignored (a local ONNX Runtime option that pipelines pass to every model)."""
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

    def _call(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        grpc = self._grpc
        tensors = []
        for t in self._inputs:
            x = np.ascontiguousarray(feeds[t.name], np.float32)
            tensor = grpc.InferInput(t.name, list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            tensors.append(tensor)
        wanted = [grpc.InferRequestedOutput(t.name) for t in self._outputs]
        result = self._client.infer(
            self.model, tensors, outputs=wanted, client_timeout=self.timeout_s
        )
        return {t.name: result.as_numpy(t.name) for t in self._outputs}

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
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead server's client must not raise
            self._client.close()
