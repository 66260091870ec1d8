"""What every task head declares besides its post-processing: its `name` (the key of its result
when a bundle has several heads) and its own `labels` (None: the bundle's labels), both
keyword-only and written to the manifest only when set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mmedge.errors import PostprocessError


@dataclass(frozen=True, kw_only=True)
class HeadBase:
    """name: the head's result key in a multi-task bundle (letters, digits, '_' and '-').
    labels: the head's class names when they differ from the bundle's."""

    name: str | None = None
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        kind = type(self).__name__
        if self.name is not None and (
            not isinstance(self.name, str)
            or not self.name
            or not all(c.isalnum() or c in "_-" for c in self.name)
        ):
            raise PostprocessError(
                f"{kind}.name must be a non-empty word (letters, digits, '_', '-'), got "
                f"{self.name!r}"
            )
        if self.labels is not None:
            if isinstance(self.labels, str) or not all(isinstance(x, str) for x in self.labels):
                raise PostprocessError(f"{kind}.labels must be a list of strings")
            object.__setattr__(self, "labels", tuple(self.labels))

    def labels_or(self, bundle_labels: Sequence[str]) -> list[str]:
        """This head's labels, else the bundle's."""
        return list(self.labels if self.labels is not None else bundle_labels)

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry: every option; name and labels only when set."""
        d = asdict(self)
        for key in ("name", "labels"):
            if d[key] is None:
                d.pop(key)
        if "labels" in d:
            d["labels"] = list(d["labels"])
        return d
