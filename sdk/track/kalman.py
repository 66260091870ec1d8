"""A constant-velocity Kalman filter of one box, as SORT and ByteTrack use: state (cx, cy, w, h)
and their velocities in px per frame, noise proportional to the box's size."""

from __future__ import annotations

import numpy as np

# Process and measurement noise per unit of box height, ByteTrack's weights.
POSITION_STD = 1.0 / 20
VELOCITY_STD = 1.0 / 160

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)  # x += v per frame
_H = np.eye(4, 8)


def xyxy_to_state(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


def state_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    cx, cy, w, h = cxcywh[:4]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


class BoxFilter:
    """One track's filter: predict() once per frame, update(box) when a detection matches."""

    def __init__(self, box: np.ndarray) -> None:
        z = xyxy_to_state(box)
        self.x = np.concatenate([z, np.zeros(4)])
        scale = max(z[3], 1.0)
        std = np.array([2 * POSITION_STD * scale] * 4 + [10 * VELOCITY_STD * scale] * 4)
        self.P = np.diag(std**2)

    def predict(self) -> np.ndarray:
        """Advances one frame; returns the predicted box (xyxy)."""
        scale = max(self.x[3], 1.0)
        q = np.array([POSITION_STD * scale] * 4 + [VELOCITY_STD * scale] * 4) ** 2
        self.x = _F @ self.x
        self.P = _F @ self.P @ _F.T + np.diag(q)
        return self.box()

    def update(self, box: np.ndarray) -> None:
        z = xyxy_to_state(box)
        r = np.diag([(POSITION_STD * max(z[3], 1.0)) ** 2] * 4)
        s = _H @ self.P @ _H.T + r
        k = np.linalg.solve(s, _H @ self.P).T  # P H^T S^-1 (S symmetric)
        self.x = self.x + k @ (z - _H @ self.x)
        self.P = (np.eye(8) - k @ _H) @ self.P

    def box(self) -> np.ndarray:
        return state_to_xyxy(self.x)
