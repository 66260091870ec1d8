"""Field checks the preprocessing specs share."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmedge.errors import PreprocessError


def require_positive_ints(spec: Any, names: tuple[str, ...], unit: str = "") -> None:
    """Raises PreprocessError naming the first of spec's fields `names` that is not an int > 0
    (bools are refused; NumPy integers pass). unit, e.g. ' (px)', goes into the message."""
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise PreprocessError(
                f"{type(spec).__name__}.{name} must be a positive int{unit}, got {value!r}"
            )
