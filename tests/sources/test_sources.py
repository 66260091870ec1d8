"""Sources on real files (../shared/data): decoders agree, timestamps are media time, nothing is
dropped; the camera's reconnection and gap reports; the microphone's ring; the synthetic scene;
tee."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from mmedge.errors import SourceError
from mmedge.sources import (
    AudioFile,
    Camera,
    MediaFile,
    Microphone,
    SyntheticScene,
    VideoFile,
    tee,
)


def test_video_decoders_agree(data_dir: Path) -> None:
    path = data_dir / "video_clips" / "vtest.avi"
    pyav = list(VideoFile(path, decoder="pyav"))
    opencv = list(VideoFile(path, decoder="opencv"))
    assert len(pyav) == len(opencv) == 795
    assert [f.index for f in pyav] == list(range(795))
    for k in (0, 400, 794):
        assert pyav[k].image.shape == (576, 768, 3)
        # Both wrap FFmpeg's MS-MPEG4 decoder; colour conversion may differ by a grey level.
        assert np.abs(pyav[k].image.astype(int) - opencv[k].image.astype(int)).max() <= 2
    times = np.array([f.t_s for f in pyav])
    assert np.all(np.diff(times) > 0)
    assert times[-1] == pytest.approx(794 * pyav[0].duration_s, rel=1e-3)


def test_audio_file_chunks_are_the_file(data_dir: Path) -> None:
    import soundfile

    path = data_dir / "fsdd" / "recordings" / "3_jackson_7.wav"
    chunks = list(AudioFile(path, block_ms=20))
    whole, rate = soundfile.read(str(path), dtype="float32")
    assert all(c.sample_rate_hz == rate == 8000 for c in chunks)
    assert all(len(c.samples) == 160 for c in chunks[:-1])
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), whole)
    assert [c.t_s for c in chunks] == pytest.approx([160 * i / 8000 for i in range(len(chunks))])


def test_media_file_tracks_share_a_timeline(data_dir: Path) -> None:
    media = MediaFile(data_dir / "video_clips" / "box.mp4")
    frames, chunks = list(media.video), list(media.audio)
    assert len(frames) == 455 and frames[0].image.shape == (480, 640, 3)
    assert chunks[0].sample_rate_hz == 44100
    audio_end = chunks[-1].t_end_s
    assert audio_end == pytest.approx(15.1, abs=0.2)
    assert frames[-1].t_end_s == pytest.approx(audio_end, abs=0.2)
    assert np.all(np.diff([c.t_s for c in chunks]) > 0)
    media.close()


def test_camera_reconnects_and_reports_the_gap(data_dir: Path) -> None:
    """A capture that stops delivering (here a file that ends, read through the camera path)
    is released and reopened; the time without frames is a gap."""
    camera = Camera(str(data_dir / "video_clips" / "cup.mp4"), backoff_s=(0.01, 0.05))
    with camera:
        first = camera.read()
        n = 1
        while camera.stats()["reconnects"] == 0:
            assert camera.read() is not None
            n += 1
        after = camera.read()
    stats = camera.stats()
    assert first is not None and after is not None
    assert stats["reconnects"] == 1 and len(stats["gaps"]) == 1
    assert stats["gaps"][0]["duration_s"] >= 0
    assert after.t_s > first.t_s
    assert n > 100  # the whole clip came through before the reconnection


def test_camera_gives_up_after_max_reconnects() -> None:
    camera = Camera("/nonexistent/camera.mp4", backoff_s=(0.01, 0.01), max_reconnects=2)
    with pytest.raises(SourceError, match="no frames after 2 reconnection attempts"):
        camera.read()
    camera.close()


class _Status:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow


def test_microphone_ring_counts_drops_and_overflows() -> None:
    """The PortAudio callback path, fed directly: blocks are queued, the oldest dropped when
    the reader falls behind, driver overflows counted."""
    mic = Microphone(16000, 10, ring_blocks=4)
    for i in range(6):
        block = np.full((160, 1), i, np.float32)
        mic._callback(block, 160, None, _Status(overflow=i == 2))
    stats = mic.stats()
    assert stats["dropped"] == 2 and stats["overflows"] == 1 and stats["queued"] == 4
    got = [mic.read(timeout_s=0.1) for _ in range(4)]
    assert [int(c.samples[0]) for c in got] == [2, 3, 4, 5]
    assert all(c.sample_rate_hz == 16000 and len(c.samples) == 160 for c in got)
    assert mic.read(timeout_s=0.01) is None
    mic.close()


MIC_SCRIPT = """
import numpy as np, sounddevice as sd
from mmedge.sources import Microphone
rate = 16000
tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * rate) / rate)).astype(np.float32)
sd.play(tone, rate)  # plays in the background; the null sink's monitor carries it
mic = Microphone(16000, 50)
mic.open()
chunks = [mic.read(timeout_s=2.0) for _ in range(30)]
mic.close()
sd.wait()
x = np.concatenate([c.samples for c in chunks])
spectrum = np.abs(np.fft.rfft(x[-8000:]))
print("peak_hz", np.argmax(spectrum) * rate / 8000, "rms", float(np.sqrt(np.mean(x[-8000:] ** 2))))
"""


@pytest.fixture
def pulse_null_sink(tmp_path: Path):
    """A private PulseAudio server with a null sink whose monitor is the default input: what
    is played to it comes back through the microphone path (PortAudio -> ALSA -> Pulse)."""
    import shutil
    import subprocess

    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip(
            "PulseAudio is not installed (apt install pulseaudio libportaudio2 "
            "libasound2-plugins; .ci/run does)"
        )
    socket = tmp_path / "pulse" / "native"
    socket.parent.mkdir()
    env = {
        **os.environ,
        "PULSE_SERVER": f"unix:{socket}",
        "PULSE_RUNTIME_PATH": str(socket.parent),
        "HOME": str(tmp_path),
    }
    server = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "-n",
            "--disable-shm=yes",
            "--load=module-null-sink sink_name=mmedge_test",
            f"--load=module-native-protocol-unix socket={socket}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.skip(
                f"PulseAudio did not start: {server.stderr.read(2000) if server.stderr else ''}"
            )
        subprocess.run(["pactl", "set-default-source", "mmedge_test.monitor"], env=env, check=True)
        subprocess.run(["pactl", "set-default-sink", "mmedge_test"], env=env, check=True)
        yield env
    finally:
        server.terminate()
        server.wait(10)


def test_microphone_records_what_is_played(pulse_null_sink: dict[str, str]) -> None:
    """The real capture path: a 440 Hz tone played into PulseAudio's null sink is recorded by
    Microphone from the sink's monitor."""
    import subprocess
    import sys

    pytest.importorskip("sounddevice", reason="sounddevice is not installed (mmedge[audio])")
    result = subprocess.run(
        [sys.executable, "-c", MIC_SCRIPT],
        env=pulse_null_sink,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "PortAudio" in result.stderr and result.returncode:
        pytest.skip(f"PortAudio cannot reach PulseAudio here: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr
    _, peak, _, rms = result.stdout.split()
    assert float(peak) == pytest.approx(440, abs=4)
    assert 0.2 < float(rms) < 0.5  # the tone's 0.35 RMS, not silence


def test_synthetic_scene_is_deterministic() -> None:
    a, b = SyntheticScene(4, seed=3), SyntheticScene(4, seed=3)
    fa, fb = list(a.video), list(b.video)
    assert len(fa) == 60
    assert all(np.array_equal(x.image, y.image) for x, y in zip(fa, fb, strict=True))
    sa = np.concatenate([c.samples for c in a.audio])
    assert len(sa) == 4 * 16000
    np.testing.assert_array_equal(sa, np.concatenate([c.samples for c in b.audio]))
    assert a.segments[0].t_start_s == 0 and a.segments[-1].t_end_s == 4
    assert all(a.truth(s.t_start_s + 0.01) == s.label for s in a.segments)


def test_realtime_scene_is_paced() -> None:
    scene = SyntheticScene(0.5, realtime=True)
    assert scene.audio.live
    start = time.monotonic()
    n = len(list(scene.audio))
    assert n == 5
    assert time.monotonic() - start == pytest.approx(0.5, abs=0.15)


def test_tee_gives_every_branch_every_frame() -> None:
    scene = SyntheticScene(2, seed=1)
    left, right = tee(scene.video, 2)
    got_left, got_right = [], []
    import threading

    t = threading.Thread(target=lambda: got_right.extend(right))
    t.start()
    got_left.extend(left)
    t.join(10)
    assert len(got_left) == len(got_right) == 30
    assert all(x is y for x, y in zip(got_left, got_right, strict=True))
    left.close()
    right.close()


def test_camera_on_a_real_device() -> None:
    if not Path("/dev/video0").exists():
        pytest.skip(
            "no camera here (/dev/video0 is missing); reconnection is tested through a file"
        )
    pytest.importorskip("cv2", reason="Camera needs OpenCV (mmedge[video])")
    camera = Camera(0, max_reconnects=3, backoff_s=(0.1, 0.5))
    with camera:
        frames = [camera.read() for _ in range(5)]
    assert all(f is not None and f.image.ndim == 3 for f in frames)
    assert np.all(np.diff([f.t_s for f in frames]) > 0)
