"""A device's first run without its TensorRT engine: `Model(bundle, allow_fallback=True,
build_engine="fp16")` serves with ONNX Runtime at once while a thread builds the engine for this
GPU into the bundle (runtime.tensorrt.build.add_engine with if_stale: a current engine is not
rebuilt), then switches the Model to it. Predictions never wait for the build; the switch
happens between two of them (the backend attribute is replaced in one step; the ONNX Runtime
session is kept open until the Model closes, for calls already inside it). A failed build leaves
ONNX Runtime serving and says why (describe()['engine_build'])."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmedge.bundle import Bundle
from mmedge.errors import BackendError
from mmedge.runtime.backends import Backend, create_backend

if TYPE_CHECKING:
    from mmedge.runtime.model import Model

log = logging.getLogger(__name__)


def _add_engine(bundle: Path, precision: str, **options: Any) -> tuple[Path, dict[str, Any]]:
    from mmedge.runtime.tensorrt.build import add_engine

    return add_engine(bundle, precision, if_stale=True, **options)


class BackgroundEngine:
    """The build of one engine for a Model that runs on ONNX Runtime meanwhile.

    state: 'building', 'switched' (the Model runs the engine), 'failed' (error says why) or
    'abandoned' (the Model closed first). build / open_backend: the builder and the backend
    factory (tests give stand-ins; the real ones need TensorRT and a GPU).
    """

    def __init__(
        self,
        model: Model,
        precision: str,
        *,
        build: Callable[..., tuple[Path, dict[str, Any]]] | None = None,
        open_backend: Callable[..., Backend] | None = None,
        **build_options: Any,
    ) -> None:
        source = Path(model.bundle.source)
        if not source.is_dir():
            raise BackendError(
                f"build_engine writes the engine into the bundle: {source} is not a bundle "
                "directory (unpack the .tar first)"
            )
        self.model, self.precision, self.source = model, precision, source
        self._build = build or _add_engine
        self._open = open_backend or create_backend
        self._options = build_options
        self.state, self.error = "building", None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-build", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            path, entry = self._build(self.source, self.precision, **self._options)
            with Bundle.load(path) as fresh:
                artifact = next(a for a in fresh.artifacts if a.file == entry["file"])
            backend = self._open("tensorrt", artifact.path)
            if not self.model._switch(backend, artifact):
                backend.close()
                self.state = "abandoned"
                return
            self.state = "switched"
            log.info("%s: now running %s on TensorRT", self.model.bundle.name, entry["file"])
        except Exception as exc:  # the build is best effort: ONNX Runtime keeps serving
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.warning("%s: engine build failed, staying on ONNX Runtime: %s",
                        self.model.bundle.name, self.error)  # fmt: skip
        finally:
            self.done.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Blocks until the build ended (switched, failed or abandoned); False on timeout."""
        return self.done.wait(timeout_s)

    def describe(self) -> dict[str, Any]:
        return {"precision": self.precision, "state": self.state, "error": self.error}
