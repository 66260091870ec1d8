"""Shutdown and hangs (issue 9): stop() at random moments over real decoders, Ctrl-C and
SIGTERM of the CLI, an interrupted run(), a failing model behind tee(), a slow consumer of a
live pipeline, specs that would hang a worker. Anything that could crash or hang runs in a
subprocess with a timeout, so a regression fails the test instead of killing or hanging CI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import mmedge
import mmedge.preprocess as pp
from mmedge import Pipeline
from mmedge.errors import PreprocessError
from mmedge.sources import SyntheticScene

ROOT = Path(__file__).resolve().parents[2]
MMEDGE = Path(sys.executable).with_name("mmedge")


def _default_sigint() -> None:
    """A child started from a shell's background job inherits SIGINT ignored (POSIX), and
    Python then installs no KeyboardInterrupt handler: give the child the default, so the
    signal tests do not depend on how pytest was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _python(code: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Runs code in a fresh interpreter; a hang fails the test (TimeoutExpired)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
        preexec_fn=_default_sigint,
    )


def test_stop_at_random_moments_over_pyav_and_opencv_never_crashes(data_dir: Path) -> None:
    """Before: PyAV segfaulted and OpenCV aborted ('Assertion fctx->async_lock failed') within
    100 rounds: stop() freed the decoder under a running read()."""
    pytest.importorskip("av")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stop_stress.py"), "--rounds", "40", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MMEDGE_DATA": str(data_dir)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["threads_left"] == 0
    assert summary["fds_at_end"] == summary["fds_after_warmup"]
    assert summary["fused_results"] > 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_demo_cleanly(sig: signal.Signals, code: int) -> None:
    """Before: Ctrl-C of `mmedge demo` aborted the process ('terminate called without an
    active exception') in 9 of 14 trials: Python exited under running threads."""
    for delay_s in (1.5, 2.5):
        proc = subprocess.Popen(
            [str(MMEDGE), "demo", "--seconds", "600"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        time.sleep(delay_s)
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"mmedge demo did not exit within 30 s of {sig.name}")
        assert proc.returncode == code, err[-2000:]
        assert "terminate called" not in err


def test_an_interrupted_run_joins_every_thread() -> None:
    """Before: a KeyboardInterrupt in Pipeline.run() left 8 threads running."""
    done = _python(
        """
        import os, signal, threading
        import mmedge
        from mmedge.sources import SyntheticScene, tee
        scene = SyntheticScene(600, seed=0)
        a, b = tee(scene.video, 2)
        pipe = (mmedge.Pipeline()
            .add("image", a, mmedge.builtin_bundle("scene_image"))
            .add("video", b, mmedge.builtin_bundle("scene_video"))
            .add("audio", scene.audio, mmedge.builtin_bundle("scene_audio")))
        threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            pipe.run()
        except KeyboardInterrupt:
            print("threads", threading.active_count())
        """,
        timeout_s=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["threads", "1"]


def test_a_failing_model_behind_tee_does_not_starve_the_other_branch() -> None:
    """Before: the failing branch stopped taking items, the tee blocked on its full queue and
    run() never returned. Now the failed modality closes its branch and the video model sees
    every clip."""
    done = _python(
        """
        import json, tempfile, threading
        from pathlib import Path
        import mmedge
        from mmedge.bundle import write_bundle
        from mmedge.sources import SyntheticScene, tee
        image, video = (mmedge.builtin_bundle(f"scene_{m}") for m in ("image", "video"))
        with mmedge.Bundle.load(image) as src:  # grey input: every colour frame fails
            manifest = json.loads(json.dumps(src.manifest))
            manifest["preprocess"]["image"]["input_format"] = "GRAY"
            wrong = write_bundle(Path(tempfile.mkdtemp()) / "grey.mmb", manifest, src.contents())
        a, b = tee(SyntheticScene(6, seed=1).video, 2, queue_size=2)
        pipe = (mmedge.Pipeline(queue_size=2).add("image", a, wrong).add("video", b, video)
            .fuse("log_linear", trigger="video"))
        results = pipe.run()
        stats = pipe.stats()
        clips = stats["modalities"]["video"]["infer"]["count"]
        errors = [e["error"] for e in stats["errors"]]
        threads = threading.active_count()
        print(json.dumps({"results": len(results), "clips": clips, "errors": errors,
            "threads": threads}))
        """,
        timeout_s=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["clips"] == out["results"] == 38  # 90 frames, stride 2, from frame 14
    assert out["errors"][-1].endswith("image stopped after 10 failures in a row")
    assert out["threads"] == 1


def test_a_slow_consumer_of_a_live_pipeline_gets_recent_results() -> None:
    """Before: iteration made the result queue blocking for live sources too, so a consumer
    slower than the camera got results ever later (18 s in the report). Now it gets the
    newest LIVE_RESULTS_BUFFER results and the dropped ones are counted."""
    threads = threading.active_count()
    scene = SyntheticScene(3, seed=0, realtime=True)
    pipe = Pipeline().add("image", scene.video, mmedge.builtin_bundle("scene_image"))
    fused_at: dict[int, float] = {}
    pipe.on_result(lambda r: fused_at.__setitem__(id(r), time.monotonic()))
    lags = []
    for result in pipe:  # 45 results in 3 s; 0.25 s each here
        lags.append(time.monotonic() - fused_at[id(result)])
        time.sleep(0.25)
    assert max(lags) < 16 * 0.25 + 1.0  # blocking: the last would be ~8 s late
    assert pipe.stats()["modalities"]["fusion"]["dropped"] >= 45 - len(lags) > 0
    assert threading.active_count() == threads


def test_leaving_a_live_loop_early_joins_the_fuser() -> None:
    """Before: stop() after a consumer left joined nothing while the fuser was blocked
    handing a result to the consumer's full queue."""
    threads = threading.active_count()
    scene = SyntheticScene(30, seed=0, realtime=True)
    pipe = Pipeline().add("image", scene.video, mmedge.builtin_bundle("scene_image"))
    for n, _ in enumerate(pipe):
        if n == 3:
            break
    assert threading.active_count() == threads
    with pytest.raises(mmedge.MMEdgeError, match="does not restart"):
        pipe.start()


def test_specs_that_would_hang_a_worker_are_refused() -> None:
    """Before: n_fft 2**20 with hop 1 ran for minutes on one second of audio; a clip_len of
    1e9 killed the video worker."""
    with pytest.raises(PreprocessError, match="n_fft is 1,048,576, over the limit of 65,536"):
        pp.AudioSpec.librosa(16000, n_fft=1 << 20, hop_length=1)
    with pytest.raises(PreprocessError, match="FFT points per second of audio"):
        pp.AudioSpec.librosa(16000, n_fft=4096, hop_length=1)
    with pytest.raises(PreprocessError, match=r"clip_len \* stride is 1,000,000,000"):
        pp.VideoSpec(clip_len=10**9, frame=pp.ImageSpec(width=32, height=32))
    with pytest.raises(PreprocessError, match="width is 100,000"):
        pp.ImageSpec(width=100_000, height=32)
    pp.AudioSpec.librosa(48000, n_fft=4096, hop_length=256)  # a large real one still passes


def test_stop_from_a_callback_while_the_main_thread_stops() -> None:
    """stop() from an on_result callback (the fuser thread) while another thread is stopping
    returns at once: the stopping thread joins the fuser, so the two must not wait on each
    other (they would until the join timed out, 10 s)."""
    done = _python(
        """
        import threading, time
        import mmedge
        from mmedge.sources import SyntheticScene
        pipe = mmedge.Pipeline().add(
            "image", SyntheticScene(600, seed=0).video, mmedge.builtin_bundle("scene_image"))
        main_stopping = threading.Event()
        def callback(result):
            main_stopping.wait(5)
            pipe.stop()
        pipe.on_result(callback)
        pipe.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        main_stopping.set()
        pipe.stop()
        print(round(time.monotonic() - t0, 2), threading.active_count())
        """,
        timeout_s=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seconds, threads = done.stdout.split()
    assert float(seconds) < 5.0 and threads == "1"
