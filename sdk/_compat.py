"""The module paths of mmedge 0.1, kept importable after the runtime was split into packages
(bundle/, runtime/, preprocess/, pipeline/): `import mmedge.parity` gives the very module
`mmedge.bundle.parity` (same object, so monkeypatching either name patches both) and a
DeprecationWarning naming the new path. Nothing inside mmedge imports an old path."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    "mmedge.bundle_writer": "mmedge.bundle.writer",
    "mmedge.parity": "mmedge.bundle.parity",
    "mmedge.model": "mmedge.runtime.model",
    "mmedge.selection": "mmedge.runtime.selection",
    "mmedge.speed": "mmedge.runtime.speed",
    "mmedge.validate": "mmedge.runtime.validate",
    "mmedge.backends": "mmedge.runtime.backends",
    "mmedge.backends.base": "mmedge.runtime.backends.base",
    "mmedge.backends.ort": "mmedge.runtime.backends.ort",
    "mmedge.backends.tensorrt": "mmedge.runtime.tensorrt.backend",
    "mmedge.engine": "mmedge.runtime.tensorrt.engine",
    "mmedge.engine_build": "mmedge.runtime.tensorrt.build",
    "mmedge.cuda": "mmedge.preprocess.cuda",
    "mmedge.fusion": "mmedge.pipeline.fusion",
    "mmedge.queues": "mmedge.sources.queues",
    "mmedge.telemetry": "mmedge.pipeline.telemetry",
    "mmedge.pipeline_config": "mmedge.pipeline.config",
    "mmedge.export.scene": "mmedge.export.recipes.scene",
    "mmedge.export.av_digits": "mmedge.export.recipes.av_digits",
    "mmedge.export.training": "mmedge.export.recipes.training",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module has run already."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Puts the alias finder first on sys.meta_path, once: ahead of the path finder, so that
    an aliased package's submodules (mmedge.backends.ort) resolve to the same modules instead
    of loading a second copy from the package's __path__."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
