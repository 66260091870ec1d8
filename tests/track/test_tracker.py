"""mmedge.track: the assignment against SciPy's, the tracker on synthetic trajectories with
crossings, occlusions and score drops (identity switches counted exactly), and line / region
events with exact counts."""

from __future__ import annotations

import numpy as np
import pytest

from mmedge.tasks import Detections
from mmedge.track import LineCounter, Region, Tracker, linear_sum_assignment


@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (3, 9), (9, 3), (24, 17)])
def test_assignment_is_optimal_as_scipys(shape) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(sum(shape))
    for trial in range(40):
        cost = rng.uniform(0, 1, shape)
        if trial % 2:
            cost = np.round(cost * 3)  # many ties
        rows, cols = linear_sum_assignment(cost)
        ref_rows, ref_cols = optimize.linear_sum_assignment(cost)
        assert len(rows) == min(shape) and len(set(cols)) == len(cols)
        assert (np.diff(rows) > 0).all()
        assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum(), abs=1e-9)


def scene(frames: int = 90, seed: int = 0):
    """Five objects of two classes on straight paths over 640x480: objects 0 and 1 (class 0)
    cross each other head-on around frame 45; object 2 (class 1) is hidden for frames 30-37;
    object 3's score drops to 0.3 for frames 50-59 (a partial occlusion); object 4 crosses
    the counting line x = 320 twice (right, then back). Yields (frame, Detections, truth ids)."""
    rng = np.random.default_rng(seed)
    starts = np.array([[60, 200], [580, 230], [100, 60], [300, 400], [200, 120]], float)
    velocity = np.array([[5.8, 0.3], [-5.8, -0.3], [4.0, 1.5], [-1.0, -2.0], [3.0, 0.0]])
    sizes = np.array([[40, 80], [42, 84], [50, 50], [60, 40], [30, 60]], float)
    classes = np.array([0, 0, 1, 1, 0])
    for f in range(frames):
        centres = starts + velocity * f
        if f >= 60:  # object 4 turns back across the line
            centres[4, 0] = starts[4, 0] + velocity[4, 0] * 60 - velocity[4, 0] * (f - 60) * 1.5
        boxes, scores, ids = [], [], []
        for k in range(5):
            if k == 2 and 30 <= f < 38:
                continue
            c = centres[k] + rng.normal(0, 1.0, 2)
            w, h = sizes[k] * rng.uniform(0.97, 1.03, 2)
            boxes.append([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2])
            scores.append(0.3 if k == 3 and 50 <= f < 60 else rng.uniform(0.7, 0.95))
            ids.append(k)
        order = rng.permutation(len(ids))  # detectors give no order
        d = Detections(
            np.array(boxes, np.float32)[order],
            np.array(scores, np.float32)[order],
            classes[np.array(ids)][order].astype(np.int32),
            tuple(f"class{classes[ids[i]]}" for i in order),
            (640, 480),
        )
        yield f, d, np.array(ids)[order]


def test_no_identity_switch_through_crossings_occlusions_and_score_drops() -> None:
    tracker = Tracker(min_frames=3, lost_frames=15)
    assigned: dict[int, list[int]] = {k: [] for k in range(5)}
    for f, dets, truth in scene():
        tracked = tracker.update(dets)
        assert tracked.track_ids is not None and len(tracked) == len(dets)
        for tid, k in zip(tracked.track_ids, truth, strict=True):
            if tid >= 0:
                assigned[k].append(int(tid))
            elif f >= 3:  # after warm-up, every object is reported every frame it is seen
                pytest.fail(f"frame {f}: object {k} has no track")
    switches = {k: int(np.count_nonzero(np.diff(v))) for k, v in assigned.items()}
    assert switches == dict.fromkeys(range(5), 0), switches
    owners = {v[0]: k for k, v in assigned.items()}
    assert len(owners) == 5  # five distinct ids, one per object


def test_line_and_region_events_count_exactly() -> None:
    """The counting line x = 320: objects 0 and 2 cross it rightwards (frames 45 and 55), 1
    leftwards (45), 4 rightwards (40) and back (73); 3 never does. The region, the left quarter
    of the frame: objects 0 and 2 start in it (entered when confirmed) and leave it (frames 17
    and 15), object 1 enters it (frame 73)."""
    tracker = Tracker(min_frames=3, lost_frames=15)
    line = LineCounter("door", (320, 0), (320, 480))
    region = Region("left", [(0, 0), (160, 0), (160, 480), (0, 480)])
    crossings, entered, exited = [], [], []
    for _, dets, _ in scene():
        tracker.update(dets)
        crossings += line.update(tracker)
        for e in region.update(tracker):
            (entered if e.kind == "entered" else exited).append(e.track_id)
    by_direction = {d: sorted(e.track_id for e in crossings if e.direction == d) for d in (1, -1)}
    ids = {t.track_id for t in tracker.tracks}
    assert line.counts == {+1: 3, -1: 2}, by_direction  # 0, 2, 4 rightwards; 1, 4 back
    assert len(set(by_direction[1]) & set(by_direction[-1])) == 1  # object 4 both ways
    assert len(entered) == 3 and len(exited) == 2
    assert set(exited) < set(entered)
    assert ids  # tracks are still alive at the end


def test_tracker_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="low_score <= high_score"):
        Tracker(high_score=0.2, low_score=0.5)
    with pytest.raises(ValueError, match="min_frames"):
        Tracker(min_frames=0)
    with pytest.raises(ValueError, match="at least 3 points"):
        Region("r", [(0, 0), (1, 1)])
