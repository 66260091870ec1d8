"""Many streams, one model (mmedge.pipeline.streams): frames of several real clips batched into
one backend call give each stream exactly what Model.predict gives on its frame; batches form
within max_delay_ms; a stalled stream holds the others no longer than that; detection streams
keep a tracker each; what cannot be batched is refused at add()."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import mmedge
from mmedge.errors import MMEdgeError
from mmedge.pipeline.streams import check_batchable
from mmedge.sources import AudioArray, ImageSequence
from mmedge.sources.base import Source, VideoFrame
from mmedge.sources.digit_scene import DigitScene
from mmedge.track import LineCounter

cv2 = pytest.importorskip("cv2")
CLIPS = ("box.mp4", "cup.mp4", "vtest.avi")


def _frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n and (read := cap.read())[0]:
        frames.append(read[1])
    cap.release()
    return frames


@pytest.fixture(scope="module")
def clips(data_dir: Path) -> dict[str, list[np.ndarray]]:
    """40 frames of each real clip (640x480, 640x480 and 768x576)."""
    return {c: _frames(data_dir / "video_clips" / c, 40) for c in CLIPS}


@pytest.mark.parametrize("pad", [False, True])
def test_batched_streams_get_what_predict_gives(clips, pad: bool) -> None:
    bundle = mmedge.builtin_bundle("scene_image")
    sources = {c: ImageSequence(f, 1 / 30, name=c) for c, f in clips.items()}
    pipe = mmedge.Pipeline().add("cams", sources, bundle, batch=True, max_delay_ms=50, pad=pad)
    results = pipe.run(timeout_s=120)
    assert len(results) == 40  # one per frame of the trigger stream (the first)
    with mmedge.Model(bundle) as model:
        seen = 0
        for r in results:
            for c in r.contributors:
                clip = c.modality.split("/", 1)[1]
                k = round(c.t_start_s * 30)
                expected = model.predict(clips[clip][k])
                assert c.label == expected.label, (c.modality, k)
                assert c.score == pytest.approx(expected.score, abs=1e-5)
                seen += 1
    assert seen >= 40 * 3 - 6  # every stream contributes (at the start, one may not yet)
    stats = pipe.stats()["modalities"]
    sizes = {int(k[6:]): v for k, v in stats["cams"].items() if k.startswith("batch_")}
    assert sum(n * count for n, count in sizes.items()) == 3 * 40  # every frame, once
    assert sizes.get(3, 0) > sizes.get(1, 0)  # file streams fill their batches
    assert {"wait", "latency"} <= set(stats["cams/cup.mp4"])


class _Paced(Source):
    """A live camera stand-in: `frame` every 1/fps s; stalls for stall_s after frame
    stall_after (a stream whose device hangs)."""

    kind, live = "video", True

    def __init__(self, name: str, frame: np.ndarray, n: int, stall_after: int = -1) -> None:
        self.name, self.frame, self.n, self.stall_after = name, frame, n, stall_after
        self.k, self.t0 = 0, None

    def read(self) -> VideoFrame | None:
        if self.k >= self.n:
            return None
        self.t0 = self.t0 or time.monotonic()
        time.sleep(max(0.0, self.t0 + self.k / 30 - time.monotonic()))
        if self.k == self.stall_after:
            time.sleep(1.0)
            self.t0 += 1.0
        self.k += 1
        return VideoFrame(self.frame, (self.k - 1) / 30, 1 / 30, self.k - 1)

    def stats(self) -> dict[str, Any]:
        return {"frames": self.k, "dropped": 0}


def test_a_stalled_stream_holds_the_others_no_longer_than_max_delay(clips) -> None:
    frame = clips["box.mp4"][0]
    sources = [_Paced("a", frame, 60), _Paced("b", frame, 60), _Paced("stuck", frame, 60, 10)]
    pipe = mmedge.Pipeline().add(
        "cams", sources, mmedge.builtin_bundle("scene_image"), batch=True, max_delay_ms=20
    )
    pipe.run(timeout_s=60)
    stats = pipe.stats()["modalities"]
    for stream in ("cams/0", "cams/1"):  # 60 frames each, 1 s of them while "stuck" hangs
        wait = stats[stream]["wait"]
        assert wait["count"] == 60
        assert wait["max_ms"] < 20 + 40, wait  # the budget + this 2-core machine's scheduling
    sizes = {int(k[6:]): v for k, v in stats["cams"].items() if k.startswith("batch_")}
    assert sizes.get(2, 0) >= 25  # the stall: batches of the two live streams


def test_detection_streams_each_keep_their_own_tracks() -> None:
    scenes = [DigitScene(2.0, seed=s, digits=2) for s in (0, 1)]
    pipe = mmedge.Pipeline().add(
        "cams", [s.video for s in scenes], mmedge.builtin_bundle("digit_detector"),
        batch=True, max_delay_ms=30, track=True,
    )  # fmt: skip
    results = pipe.run(timeout_s=120)
    assert len(results) == scenes[0].frames
    trackers = {pipe.modalities[f"cams/{i}"].tracker for i in (0, 1)}
    assert len(trackers) == 2 and None not in trackers
    with mmedge.Model(mmedge.builtin_bundle("digit_detector")) as model:
        for r in results[::10]:
            for stream, d in r.detections.items():
                assert d.stream == stream and d.track_ids is not None
                scene = scenes[int(stream[-1])]
                expected = model.predict(scene.frame(round(d.t_s * scene.fps)))
                np.testing.assert_allclose(np.sort(d.scores), np.sort(expected.scores), atol=1e-5)


def test_unbatched_streams_get_a_model_each(clips) -> None:
    sources = [ImageSequence(f, 1 / 30) for f in clips.values()]
    pipe = mmedge.Pipeline().add("cams", sources, mmedge.builtin_bundle("scene_image"))
    models = {id(pipe.modalities[f"cams/{i}"].model) for i in range(3)}
    assert len(models) == 3 and all(m.group is None for m in pipe.modalities.values())
    pipe.stop()


def test_what_cannot_be_batched_is_refused(clips) -> None:
    bundle = mmedge.builtin_bundle("scene_image")
    video = ImageSequence(clips["box.mp4"], 1 / 30)
    audio = AudioArray(np.zeros(16000, np.float32), 16000)
    with pytest.raises(MMEdgeError, match=r"of one kind, got \['audio', 'video'\]"):
        mmedge.Pipeline().add("cams", [video, audio], bundle, batch=True)
    for delay in (-1.0, 5000.0):
        with pytest.raises(MMEdgeError, match=r"max_delay_ms must be in \[0, 1000\] ms"):
            mmedge.Pipeline().add("cams", [video, video], bundle, batch=True, max_delay_ms=delay)
    with pytest.raises(MMEdgeError, match="batching takes video streams"):
        mmedge.Pipeline().add(
            "mics", [audio, audio], mmedge.builtin_bundle("scene_audio"), batch=True
        )
    door = LineCounter("door", (0, 0), (0, 10))
    with pytest.raises(MMEdgeError, match="counters= are drawn in one camera's pixels"):
        mmedge.Pipeline().add(
            "cams", [video, video], mmedge.builtin_bundle("digit_detector"), batch=True,
            track=True, counters=[door],
        )  # fmt: skip
    with pytest.raises(MMEdgeError, match=r"not an mmedge\.sources\.Source"):
        mmedge.Pipeline().add("cams", [video, "cam1"], bundle)


def test_a_fixed_batch_bundle_is_refused_with_the_fix() -> None:
    with mmedge.Model(mmedge.builtin_bundle("scene_image")) as real:
        fixed = SimpleNamespace(
            spec=real.spec,
            bundle=real.bundle,
            inputs=[SimpleNamespace(name="image", shape=(1, 3, 48, 48))],
        )
        video = ImageSequence([np.zeros((8, 8, 3), np.uint8)], 1 / 30)
        with pytest.raises(
            MMEdgeError, match=r"fixed batch of 1.*re-export it with a dynamic batch axis"
        ):
            check_batchable("cams", fixed, {"cams/0": video}, 10.0)  # type: ignore[arg-type]


def test_a_failing_model_ends_the_group_without_hanging(clips) -> None:
    model = mmedge.Model(mmedge.builtin_bundle("scene_image"))

    def broken(feeds: Any) -> Any:
        raise RuntimeError("device lost")

    model.infer = broken  # type: ignore[method-assign]
    sources = [ImageSequence(f, 1 / 30) for f in clips.values()]
    pipe = mmedge.Pipeline().add("cams", sources, model, batch=True, max_delay_ms=5)
    assert pipe.run(timeout_s=30) == []
    errors = [e["error"] for e in pipe.stats()["errors"]]
    assert errors.count("RuntimeError: device lost") == 10
    assert "MMEdgeError: cams stopped after 10 failures in a row" in errors
    model.close()


def test_streams_from_a_pipeline_file(data_dir: Path, tmp_path: Path) -> None:
    """`mmedge run` files: `sources` as a table (streams by name) or a list, batched."""
    from mmedge.pipeline.config import ConfigError, load_pipeline

    clips = data_dir / "video_clips"
    config = tmp_path / "cams.toml"
    config.write_text(
        '[[modality]]\nname = "cams"\nbundle = "builtin:scene_image"\nbatch = true\n'
        "max_delay_ms = 20\nevery_n = 10\n"
        f'sources.front = {{ type = "video_file", path = "{clips / "box.mp4"}" }}\n'
        f'sources.rear = {{ type = "video_file", path = "{clips / "cup.mp4"}" }}\n'
    )
    pipe = load_pipeline(config)
    assert set(pipe.modalities) == {"cams/front", "cams/rear"}
    results = pipe.run(timeout_s=120)
    assert len(results) == 46  # every 10th of box.mp4's 455 frames
    sizes = {k: v for k, v in pipe.stats()["modalities"]["cams"].items() if k.startswith("batch_")}
    assert sizes and sum(int(k[6:]) * v for k, v in sizes.items()) > 46
    config.write_text('[[modality]]\nname = "cams"\nsources = []\n')
    with pytest.raises(ConfigError, match="sources must be a non-empty list or table"):
        load_pipeline(config)
    config.write_text('[[modality]]\nname = "cams"\n')
    with pytest.raises(ConfigError, match="needs a source table or sources"):
        load_pipeline(config)
