"""Input health: what a sensor delivers that no model should be trusted on, checked on every
item before inference, so that late fusion leaves the modality out (the result still shows
what the model said, and why it was not used).

  dark      a frame's mean grey level below DARK_LEVEL (of 255): a covered lens, lights off
  frozen    FROZEN_S seconds of bit-identical frames: a stuck driver or a hung encoder repeating
            its last frame (a live sensor's noise never repeats a frame exactly; a static scene
            through a lossy codec can, but rarely for a whole second)
  silent    an audio window's RMS below SILENT_DBFS: a muted or unplugged microphone
  clipping  more than CLIPPED_SHARE of a window's samples at full scale: an overloaded input

Checks cost one pass over the item (a mean, an equality test against the previous frame, an
RMS) and report the first problem found, or None.
"""

from __future__ import annotations

import numpy as np

DARK_LEVEL = 12.0  # grey levels of 255
FROZEN_S = 1.0  # seconds of identical frames
SILENT_DBFS = -70.0  # RMS re full scale (1.0)
CLIPPED_SHARE = 0.05  # of the samples at |x| >= CLIP_LEVEL
CLIP_LEVEL = 0.999


class FrameHealth:
    """The health of one stream's frames, frame after frame (it remembers the last one)."""

    def __init__(self) -> None:
        self._last: np.ndarray | None = None
        self._same_since: float | None = None

    def check(self, image: np.ndarray, t_s: float) -> str | None:
        """'dark', 'frozen' or None for the frame at source time t_s (s)."""
        same = (
            self._last is not None
            and self._last.shape == image.shape
            and np.array_equal(self._last, image)
        )
        if not same:
            self._same_since = t_s
        self._last = image
        if float(image.mean()) < DARK_LEVEL:
            return "dark"
        if self._same_since is not None and t_s - self._same_since >= FROZEN_S:
            return "frozen"
        return None


def audio_health(samples: np.ndarray) -> str | None:
    """'silent', 'clipping' or None for a window of float samples in [-1, 1]."""
    if samples.size == 0:
        return None
    x = samples.astype(np.float64, copy=False)
    rms = float(np.sqrt(np.mean(x * x)))
    if rms <= 10 ** (SILENT_DBFS / 20):
        return "silent"
    if float(np.mean(np.abs(x) >= CLIP_LEVEL)) > CLIPPED_SHARE:
        return "clipping"
    return None
