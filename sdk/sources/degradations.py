"""Sensor failures for the SyntheticScene, one at a time, so a demo (and a test) can show what
fusion is for: each modality is wrong or absent for a while, the others are not.

  dark      camera: the light goes out (frames at 5% brightness)
  frozen    camera: the driver hangs and repeats the frame it had when it froze
  noise     microphone: loud broadband noise on top of the scene (std NOISE_STD: it
            overloads the input, as a siren next to the microphone would)
  muted     microphone: nothing (zeros)

`schedule(seconds, seed, changes)` spreads one of each over a scene, in a seeded order, each
1.6-2.2 s long, apart from each other and from the scene's first second; a freeze starts
shortly before one of the scene's changes (`changes`, s) when its slot holds one: a camera
that froze on a scene that never changes would show no harm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("dark", "frozen", "noise", "muted")
CAMERA = ("dark", "frozen")
NOISE_STD = 1.0
FREEZE_LEAD_S = 0.6  # a freeze starts this long before the scene changes


@dataclass(frozen=True)
class Degradation:
    """One failure: `kind` (KINDS) from t_start_s to t_end_s (s of source time)."""

    kind: str
    t_start_s: float
    t_end_s: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"degradation kind must be one of {KINDS}, got {self.kind!r}")
        if not self.t_end_s > self.t_start_s:
            raise ValueError(f"degradation {self.kind}: t_end_s must be after t_start_s")

    @property
    def camera(self) -> bool:
        return self.kind in CAMERA

    def covers(self, t_s: float) -> bool:
        return self.t_start_s <= t_s < self.t_end_s


def schedule(seconds: float, seed: int, changes: Sequence[float] = ()) -> list[Degradation]:
    """One degradation of each kind over [1 s, seconds), seeded, none overlapping (an empty
    list for scenes shorter than 6 s); see the module docstring."""
    if seconds < 6.0:
        return []
    rng = np.random.default_rng([seed, 7])
    order = [KINDS[i] for i in rng.permutation(len(KINDS))]
    slot = (seconds - 1.0) / len(order)
    out = []
    for k, kind in enumerate(order):
        length = float(min(rng.uniform(1.6, 2.2), 0.8 * slot))
        lo, hi = 1.0 + k * slot, 1.0 + k * slot + slot - length
        start = lo + float(rng.uniform(0.0, hi - lo))
        if kind == "frozen":
            near = [c - FREEZE_LEAD_S for c in changes if lo <= c - FREEZE_LEAD_S <= hi]
            start = near[0] if near else start
        out.append(Degradation(kind, round(start, 2), round(start + length, 2)))
    return out


def active(degradations: list[Degradation], t_s: float, camera: bool) -> Degradation | None:
    """The camera's (or microphone's) degradation at time t_s, if any."""
    return next((d for d in degradations if d.camera == camera and d.covers(t_s)), None)
