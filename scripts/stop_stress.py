"""Start/stop stress: pipelines over real video files stopped at random moments.

Each round builds a pipeline whose video file feeds an image model and, through tee(), a video
model; starts it; sleeps a random 0-300 ms (inside decode, inference, fusion or at the end);
stops it from the main thread (every other round from a helper thread, as a signal handler or a
watchdog would). Decoders alternate between PyAV and OpenCV. After the rounds: no thread beyond
the main one, the same open file descriptors as after the first round (decoders and models
warm their libraries once), and the process did not crash (the caller checks the exit status).

    python scripts/stop_stress.py --rounds 500            # the full check
    python scripts/stop_stress.py --rounds 40 --json      # what tests/pipeline/test_shutdown runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from pathlib import Path

import mmedge
from mmedge.datasets import data_dir
from mmedge.sources import VideoFile, tee

IMAGE, VIDEO = (mmedge.builtin_bundle(f"scene_{m}") for m in ("image", "video"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def one_round(clip: Path, decoder: str, sleep_s: float, from_thread: bool) -> int:
    """Runs one start/sleep/stop round; returns the number of fused results it saw."""
    for_image, for_clips = tee(VideoFile(clip, decoder=decoder), 2, queue_size=4)
    pipe = (
        mmedge.Pipeline(queue_size=4)
        .add("image", for_image, IMAGE)
        .add("video", for_clips, VIDEO)
        .fuse("log_linear", trigger="image")
    )
    seen: list[object] = []
    pipe.on_result(seen.append)
    pipe.start()
    time.sleep(sleep_s)
    if from_thread:
        stopper = threading.Thread(target=pipe.stop)
        stopper.start()
        stopper.join()
    else:
        pipe.stop()
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-sleep-ms", type=float, default=300.0)
    parser.add_argument("--json", action="store_true", help="print one JSON summary line")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    clips = [data_dir() / "video_clips" / n for n in ("box.mp4", "cup.mp4", "vtest.avi")]
    decoders = ("pyav", "opencv")
    fds_after_first = results = 0
    t0 = time.monotonic()
    for i in range(args.rounds):
        results += one_round(
            clips[i % len(clips)],
            decoders[i % 2],
            rng.uniform(0.0, args.max_sleep_ms / 1e3),
            from_thread=bool(i % 3 == 2),
        )
        if i == 1:  # both decoders loaded
            fds_after_first = _fds()
    summary = {
        "rounds": args.rounds,
        "seconds": round(time.monotonic() - t0, 1),
        "fused_results": results,
        "threads_left": threading.active_count() - 1,
        "fds_after_warmup": fds_after_first,
        "fds_at_end": _fds(),
    }
    print(json.dumps(summary) if args.json else summary)


if __name__ == "__main__":
    main()
