"""Where frames go: `VideoWriter`, an MP4 (or AVI) file written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

from mmedge.errors import MMEdgeError


class VideoWriter:
    """Writes uint8 (H, W, 3) BGR frames of one size to `path` through OpenCV: into a temporary
    file beside it, renamed to `path` by close() (a run that fails or is interrupted leaves no
    half-written video). fps: frame rate (Hz). fourcc: 'mp4v' for .mp4 (OpenCV's own FFmpeg
    build has no H.264 encoder), 'MJPG' for .avi."""

    def __init__(
        self, path: str | Path, fps: float, size: tuple[int, int], fourcc: str = ""
    ) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise MMEdgeError(
                f"writing video needs OpenCV ({exc}): pip install opencv-python"
            ) from exc
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise MMEdgeError(f"cannot write {self.path}: {self.path.parent} is not a folder")
        if not fps > 0:
            raise MMEdgeError(f"fps must be > 0, got {fps}")
        fourcc = fourcc or ("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v")
        self.size, self.frames = (int(size[0]), int(size[1])), 0
        self._tmp = self.path.with_name(
            f".{self.path.stem}.{os.getpid()}.partial{self.path.suffix}"
        )
        self._writer = cv2.VideoWriter(
            str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), fps, self.size
        )
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise MMEdgeError(f"OpenCV cannot write {fourcc} video to {self.path}")

    def write(self, frame: np.ndarray) -> None:
        """Appends a frame (uint8 (H, W, 3) BGR of the writer's (width, height))."""
        if frame.dtype != np.uint8 or frame.shape != (self.size[1], self.size[0], 3):
            raise MMEdgeError(
                f"video frame must be uint8 {(self.size[1], self.size[0], 3)}, "
                f"got {frame.dtype} {frame.shape}"
            )
        self._writer.write(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        """Finishes the file and moves it into place (keep=False: discards it)."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if keep and self.frames:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(keep=exc_type is None)
