"""FrameStack: normalise-on-arrival ring of video frames, against the naive stack of
separately preprocessed frames on a real clip, and zero-copy clips."""

from __future__ import annotations

import numpy as np
import pytest

from mmedge import PreprocessError
from mmedge import preprocess as pp
from mmedge.preprocess import FrameStack, ImageSpec, VideoSpec, reference

FRAME = ImageSpec(112, 112, mean=(0.43, 0.39, 0.38), std=(0.23, 0.22, 0.22))


def clip_frames(data_dir, name: str = "vtest.avi", count: int = 40) -> list[np.ndarray]:
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(data_dir / "video_clips" / name))
    frames = []
    for _ in range(count):
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    return frames


def naive_clip(frames: list[np.ndarray], spec: VideoSpec) -> np.ndarray:
    """np.stack of separately preprocessed frames: what FrameStack must equal."""
    per_frame = [pp.image(f, spec.frame)[0] for f in frames]
    axis = 1 if spec.layout == "NCTHW" else 0
    return np.stack(per_frame, axis=axis)[None]


@pytest.mark.parametrize("layout", ["NCTHW", "NTCHW"])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_matches_naive_stack_on_real_clip(data_dir, layout: str, stride: int) -> None:
    frames = clip_frames(data_dir)
    spec = VideoSpec(clip_len=16, frame=FRAME, stride=stride, layout=layout)
    stack = FrameStack(spec)
    taken: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        clip = stack.push(frame)
        if i % stride == 0:
            taken.append(frame)
        if len(taken) < 16 or i % stride:
            assert clip is None
            continue
        assert clip.shape == spec.clip_shape
        np.testing.assert_array_equal(clip, naive_clip(taken[-16:], spec))


def test_clip_is_a_view_of_the_ring(data_dir) -> None:
    frames = clip_frames(data_dir, count=20)
    stack = FrameStack(VideoSpec(16, FRAME))
    clips = [stack.push(f) for f in frames]
    last = clips[-1]
    assert last is not None and np.shares_memory(last, stack._ring)
    assert last.base is not None  # a view, not a copy
    # NCTHW: every channel's 16 frames are contiguous (strides of one (2T, H, W) channel)
    assert last.strides[2:] == (112 * 112 * 4, 112 * 4, 4)


def test_values_match_float64_reference(data_dir) -> None:
    frames = clip_frames(data_dir, "box.mp4", 8)
    spec = VideoSpec(8, FRAME)
    stack = FrameStack(spec)
    for f in frames:
        clip = stack.push(f)
    expected = np.stack([reference.image(f, FRAME)[0] for f in frames], axis=1)[None]
    np.testing.assert_allclose(clip, expected, rtol=0, atol=1e-4)


def test_reset_and_float16() -> None:
    frame = np.full((50, 60, 3), 128, np.uint8)
    spec = VideoSpec(4, ImageSpec(32, 32, dtype="float16"))
    stack = FrameStack(spec)
    for _ in range(4):
        clip = stack.push(frame)
    assert clip.dtype == np.float16 and clip.shape == (1, 3, 4, 32, 32)
    stack.reset()
    assert stack.push(frame) is None and stack.frames_taken == 1


def test_errors() -> None:
    with pytest.raises(PreprocessError, match="clip_len must be a positive int"):
        VideoSpec(0, FRAME)
    with pytest.raises(PreprocessError, match="layout must be one of"):
        VideoSpec(4, FRAME, layout="NTHWC")
    stack = FrameStack(VideoSpec(4, FRAME))
    with pytest.raises(PreprocessError, match="has 4 channels"):
        stack.push(np.zeros((20, 20, 4), np.uint8))


def test_spec_round_trip() -> None:
    spec = VideoSpec(16, FRAME, stride=2, layout="NTCHW")
    assert VideoSpec.from_dict(spec.to_dict()) == spec
    assert pp.spec_from_dict(spec.to_dict()) == spec
