"""The one exception hierarchy of mmedge. Every message names the offending thing (path, shape,
dtype, version) and, where there is one, the fix."""

from __future__ import annotations


class MMEdgeError(Exception):
    """Base class of every error mmedge raises on purpose."""


class BundleError(MMEdgeError):
    """A bundle is missing, malformed, tampered with, unsafe, or built for something else."""


class PreprocessError(MMEdgeError, ValueError):
    """An input does not fit its preprocessing spec (rank, dtype, channels, size), or the spec
    itself is invalid."""


class PostprocessError(MMEdgeError, ValueError):
    """A task head does not fit the model's outputs (shape, layout, class count), or its
    options are invalid."""


class BackendError(MMEdgeError):
    """An inference backend is unavailable, refused a model, or failed while running it."""


class SourceError(MMEdgeError):
    """A camera, microphone or media file could not be opened or read."""


class ExportError(MMEdgeError):
    """Exporting a PyTorch model failed (exporter error, invalid graph)."""


class ParityError(ExportError):
    """An exported artifact's outputs differ from PyTorch's beyond the tolerance; the report
    says by how much. No bundle was written."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report
