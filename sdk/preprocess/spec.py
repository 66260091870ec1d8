"""The vocabulary every preprocessing spec speaks, and the registry that finds a spec class by the
`kind` a manifest names. Code that handles "a spec" (Model, the pipeline's branches, export)
calls these methods instead of asking which spec it holds; a new modality (depth, IMU, radar) is
one class with these members, registered with @register_spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from mmedge.errors import PreprocessError


@runtime_checkable
class Spec(Protocol):
    """How raw samples of one modality become one model input.

    kind: the modality ('image', 'audio', 'video'); the manifest's preprocess `kind`.
    layout: the tensor layout the spec produces (NCHW, NTF, NFT, N1FT, NCTHW, NTCHW).
    """

    kind: str
    layout: str

    def apply(self, sample: Any, *, sample_rate_hz: int | None = None) -> np.ndarray:
        """One raw sample -> the model input with batch 1. sample_rate_hz: of audio samples
        (other kinds ignore it)."""
        ...

    def apply_batch(
        self, samples: Sequence[Any], *, sample_rates: Sequence[int | None] | None = None
    ) -> np.ndarray:
        """N raw samples -> the model input with batch N."""
        ...

    def dynamic_axes(self) -> dict[int, str]:
        """Axes of the model input, besides the batch, whose size varies: {axis: name}."""
        ...

    def sample_shape(self) -> tuple[int | str, ...]:
        """Shape of one sample's tensor without the batch axis (names for dynamic axes)."""
        ...

    def random_sample(self, rng: np.random.Generator) -> Any:
        """A seeded raw sample of plausible size (export parity without real data)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the manifest (with `kind`)."""
        ...


SPEC_KINDS: dict[str, type] = {}
"""Spec classes by kind, filled by @register_spec."""

S = TypeVar("S", bound=type)


def register_spec(cls: S) -> S:
    """Class decorator: makes `cls` the spec of its `kind` for spec_from_dict."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} needs a class attribute `kind` (a non-empty string)")
    SPEC_KINDS[kind] = cls
    return cls


def spec_from_dict(d: Mapping[str, Any]) -> Spec:
    """Builds the spec a manifest's `preprocess` entry describes (by its `kind`)."""
    kind = d.get("kind")
    if kind not in SPEC_KINDS:
        raise PreprocessError(
            f"unknown preprocessing kind {kind!r}; this mmedge knows {sorted(SPEC_KINDS)}"
        )
    return SPEC_KINDS[kind].from_dict(d)  # type: ignore[attr-defined, no-any-return]
