"""MFCC and log-mel against librosa 0.11 (librosa preset) and kaldi-native-fbank (kaldi preset,
dither 0) on real recordings and synthetic edge cases, and against the float64 NumPy definition
of the same pipeline (mmedge.preprocess.reference); streaming against batch.

Bounds (the issue's): max |ours - reference| <= 1e-4 * max |reference|, against the float64
definition everywhere. Against the libraries the same 1e-4, plus the library's own distance from
the float64 definition where that is larger: both sides compute in float32, and on the bird call
(resampled to 16 kHz, so its upper mel bands are ~70 dB below the chirp) kaldi-native-fbank's own
float32 FFT error reaches 3.5e-3 in log-mel against float64 (ours: 1.7e-3).

Every test runs once per CPU driver: the AVX2 lanes (8 frames per vector) and the portable
one-frame lanes that CPUs without AVX2 (the Jetson's ARM cores) run.
"""

from __future__ import annotations

import numpy as np
import pytest
from audio_data import REL_TOL, assert_close, bird, fsdd_clips, relative_error, synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedge import _C as C
from mmedge import PreprocessError
from mmedge import preprocess as pp
from mmedge.preprocess import AudioSpec, reference


@pytest.fixture(autouse=True, scope="module", params=["simd", "scalar"])
def driver(request: pytest.FixtureRequest):
    """Every test once per driver: the vector one (AVX2 on x86, NEON on aarch64) and scalar."""
    if request.param == "simd" and C.audio_driver() not in ("avx2", "neon"):
        pytest.skip("this CPU or build has no vector (AVX2 or NEON) audio driver")
    C.force_scalar_driver(request.param == "scalar")
    assert (C.audio_driver() == "scalar") == (request.param == "scalar")
    yield request.param
    C.force_scalar_driver(False)


def librosa_reference(x: np.ndarray, spec: AudioSpec, feature: str) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    kwargs = dict(
        sr=spec.sample_rate_hz,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        win_length=spec.win_length,
        n_mels=spec.n_mels,
        fmin=spec.fmin_hz,
        fmax=spec.fmax_resolved_hz,
        htk=spec.mel_scale == "htk",
        norm="slaney" if spec.slaney_norm else None,
        power=spec.power,
        center=True,
        pad_mode="constant" if spec.padding == "center_zero" else "reflect",
    )
    mel = librosa.feature.melspectrogram(y=x, **kwargs)
    db = librosa.power_to_db(mel, ref=spec.db_ref, amin=spec.log_floor, top_db=spec.top_db)
    if feature == "logmel":
        return db.T
    return librosa.feature.mfcc(S=db, n_mfcc=spec.n_mfcc, lifter=spec.lifter).T


def kaldi_reference(x: np.ndarray, spec: AudioSpec, feature: str) -> np.ndarray:
    knf = pytest.importorskip("kaldi_native_fbank")
    if feature == "mfcc":
        opts = knf.MfccOptions()
        opts.num_ceps = spec.n_mfcc
        opts.use_energy = spec.use_energy
        opts.cepstral_lifter = spec.lifter
    else:
        opts = knf.FbankOptions()
    opts.mel_opts.num_bins = spec.n_mels
    opts.mel_opts.low_freq = spec.fmin_hz
    opts.mel_opts.high_freq = spec.fmax_hz
    opts.frame_opts.samp_freq = spec.sample_rate_hz
    opts.frame_opts.dither = 0.0
    computer = (knf.OnlineMfcc if feature == "mfcc" else knf.OnlineFbank)(opts)
    computer.accept_waveform(spec.sample_rate_hz, (x * spec.sample_scale).tolist())
    computer.input_finished()
    return np.stack([computer.get_frame(i) for i in range(computer.num_frames_ready)])


def librosa_spec(rate: int, **kw) -> AudioSpec:
    if rate <= 16000:  # speech settings: 25 ms window, 10 ms hop, 40 mel, 13 MFCC
        win, hop = int(rate * 0.025), int(rate * 0.010)
        return AudioSpec.librosa(
            rate,
            n_fft=1 << (win - 1).bit_length(),
            win_length=win,
            hop_length=hop,
            n_mels=40,
            n_mfcc=13,
            **kw,
        )
    return AudioSpec.librosa(rate, **kw)  # librosa's own defaults (2048/512, 128 mel, 20 MFCC)


@pytest.mark.parametrize("feature", ["mfcc", "logmel"])
def test_librosa_preset_on_speech(data_dir, feature: str) -> None:
    for name, x, rate in fsdd_clips(data_dir):
        spec = librosa_spec(rate)
        assert_close(
            pp.mfcc(x, spec) if feature == "mfcc" else pp.logmel(x, spec),
            librosa_reference(x, spec, feature),
            f"{name} {feature}",
            x,
            spec,
            feature,
        )


@pytest.mark.parametrize("feature", ["mfcc", "logmel"])
def test_librosa_preset_defaults_on_bird_call(data_dir, feature: str) -> None:
    x, rate = bird(data_dir)  # 44.1 kHz, librosa's own defaults
    spec = AudioSpec.librosa(rate)
    assert (spec.n_fft, spec.hop_length, spec.n_mels, spec.n_mfcc) == (2048, 512, 128, 20)
    out = pp.mfcc(x, spec) if feature == "mfcc" else pp.logmel(x, spec)
    assert_close(out, librosa_reference(x, spec, feature), f"bird {feature}", x, spec, feature)


@pytest.mark.parametrize(
    "variant",
    [
        {"pad_mode": "reflect"},
        {"htk": True, "norm": None},
        {"fmin": 50.0, "fmax": 7000.0},
        {"power": 1.0},
        {"lifter": 22.0},
        {"top_db": None},
    ],
)
def test_librosa_options(data_dir, variant) -> None:
    _, x, rate = fsdd_clips(data_dir, 1)[0]
    x16 = pp.resample(x, rate, 16000)
    spec = librosa_spec(16000, **variant)
    assert_close(pp.mfcc(x16, spec), librosa_reference(x16, spec, "mfcc"), str(variant), x16, spec)


@pytest.mark.parametrize("feature", ["mfcc", "logmel"])
def test_kaldi_preset_on_speech(data_dir, feature: str) -> None:
    for name, x, rate in fsdd_clips(data_dir):
        spec = AudioSpec.kaldi(rate)  # 8 kHz: 200-sample window, 80-sample hop, 256-point FFT
        assert spec.n_fft == 256
        out = pp.mfcc(x, spec) if feature == "mfcc" else pp.logmel(x, spec)
        assert_close(out, kaldi_reference(x, spec, feature), f"{name} {feature}", x, spec, feature)


def test_top_db_with_energy_c0(data_dir) -> None:
    """top_db on a spec whose C0 is the frame energy: the log-mel is clamped, the other cepstra
    come from the clamped log-mel and C0 stays the energy (no library has this combination, so
    the float64 definition is the reference). FSDD clips give frame counts that are not a
    multiple of the 8 AVX2 lanes, which exercises the partial last group."""
    for name, x, rate in fsdd_clips(data_dir):
        spec = librosa_spec(rate, top_db=30.0).replace(use_energy=True)
        clamped = pp.logmel(x, spec)
        assert relative_error(clamped, reference.logmel(x, spec)) <= REL_TOL, name
        assert clamped.min() == pytest.approx(clamped.max() - 30.0, abs=1e-4), name
        ours = pp.mfcc(x, spec)
        assert_close(ours, reference.mfcc(x, spec), f"{name} top_db", x, spec)
        np.testing.assert_array_equal(ours[:, 0], pp.mfcc(x, spec.replace(top_db=None))[:, 0])


def test_kaldi_preset_on_resampled_bird_call(data_dir) -> None:
    """The hardest case for float32: the upper mel bands of the resampled call sit ~70 dB below
    the chirp in the same frame, where any float32 FFT is off by ~1e-3 in log-mel, and lifter 22
    multiplies the middle cepstra by up to 12. kaldi-native-fbank itself is 1.9e-4 (23 bins) and
    2.1e-4 (40 bins) from the float64 definition there; we are held to be as precise as it
    (measured 1.2e-4 and 2.1e-4) and within 1e-4 + its own error of its output."""
    x, rate = bird(data_dir)
    x16 = pp.resample(x, rate, 16000)
    for spec in (
        AudioSpec.kaldi(),
        AudioSpec.kaldi(num_mel_bins=40, sample_scale=32768.0),
        AudioSpec.kaldi(high_freq=-400.0, cepstral_lifter=0.0, use_energy=False),
    ):
        assert_close(
            pp.mfcc(x16, spec),
            kaldi_reference(x16, spec, "mfcc"),
            str(spec),
            x16,
            spec,
            as_precise_as_peer=True,
        )


@pytest.mark.parametrize("preset", ["librosa", "kaldi"])
@pytest.mark.parametrize("signal", ["silence", "full_scale", "dc", "clipped"])
def test_synthetic_edge_cases(preset: str, signal: str) -> None:
    x = synthetic(16000)[signal]
    if preset == "librosa":
        spec = librosa_spec(16000)
        ref = {f: librosa_reference(x, spec, f) for f in ("mfcc", "logmel")}
    else:
        spec = AudioSpec.kaldi()
        ref = {f: kaldi_reference(x, spec, f) for f in ("mfcc", "logmel")}
    assert_close(pp.mfcc(x, spec), ref["mfcc"], f"{signal} mfcc", x, spec, "mfcc")
    assert_close(pp.logmel(x, spec), ref["logmel"], f"{signal} logmel", x, spec, "logmel")


def test_mel_filters_match_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    spec = librosa_spec(16000)
    ref = librosa.filters.mel(sr=16000, n_fft=spec.n_fft, n_mels=spec.n_mels)
    np.testing.assert_allclose(pp.mel_filters(spec), ref, rtol=1e-5, atol=1e-8)


STREAM_SPECS = {
    "librosa": AudioSpec.librosa(
        16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, n_mfcc=13, top_db=None
    ),
    "librosa_reflect_n400": AudioSpec.librosa(
        16000, n_fft=400, hop_length=160, n_mels=40, pad_mode="reflect", top_db=None
    ),
    "kaldi": AudioSpec.kaldi(),
}


@pytest.mark.parametrize("name", sorted(STREAM_SPECS))
@pytest.mark.parametrize("chunk", [1, 7, 160, 4001])
def test_stream_equals_batch_fixed_chunks(data_dir, name: str, chunk: int) -> None:
    _, x, rate = fsdd_clips(data_dir, 1)[0]
    x = pp.resample(x, rate, 16000)
    spec = STREAM_SPECS[name]
    stream = pp.MfccStream(spec)
    rows = [stream.push(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    rows.append(stream.flush())
    np.testing.assert_array_equal(np.concatenate(rows), pp.mfcc(x, spec))


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(STREAM_SPECS)),
    n=st.integers(0, 12000),
    seed=st.integers(0, 2**32 - 1),
    logmel=st.booleans(),
)
def test_stream_equals_batch_random_chunks(name: str, n: int, seed: int, logmel: bool) -> None:
    rng = np.random.default_rng(seed)
    x = (0.2 * rng.standard_normal(n)).astype(np.float32)
    spec = STREAM_SPECS[name]
    stream = pp.LogMelStream(spec) if logmel else pp.MfccStream(spec)
    rows, i = [], 0
    while i < n:
        k = int(rng.integers(1, 2000))
        rows.append(stream.push(x[i : i + k]))
        i += k
    rows.append(stream.flush())
    batch = pp.logmel(x, spec) if logmel else pp.mfcc(x, spec)
    out = np.concatenate(rows)
    assert out.shape == batch.shape == (spec.num_frames(n), batch.shape[1])
    np.testing.assert_array_equal(out, batch)
    # flush() starts the stream over: a second signal gives its own frames
    again = np.concatenate([stream.push(x), stream.flush()])
    np.testing.assert_array_equal(again, batch)


def test_stream_refuses_top_db() -> None:
    with pytest.raises(PreprocessError, match="cannot apply top_db"):
        pp.MfccStream(AudioSpec.librosa(16000))


@pytest.mark.parametrize(
    ("layout", "shape"), [("NTF", (1, 101, 13)), ("NFT", (1, 13, 101)), ("N1FT", (1, 1, 13, 101))]
)
def test_model_tensor_layout_and_window(layout: str, shape) -> None:
    spec = librosa_spec(16000, analysis_seconds=1.0, layout=layout)
    assert spec.tensor_shape() == shape
    short = np.random.default_rng(0).uniform(-1, 1, 4000).astype(np.float32)  # 0.5 s at 8 kHz
    t = pp.audio(short, spec, sample_rate_hz=8000)  # resampled to 16 kHz, padded to 1 s
    assert t.shape == shape and t.dtype == np.float32
    padded = np.concatenate([pp.resample(short, 8000, 16000), np.zeros(8000, np.float32)])
    ntf = pp.mfcc(padded, spec)
    np.testing.assert_array_equal(t.reshape(-1), (ntf if layout == "NTF" else ntf.T).reshape(-1))
    long = np.ones(40000, np.float32)  # trimmed to 16000 samples
    assert pp.audio(long, spec).shape == shape


def test_int16_input_is_scaled() -> None:
    spec = librosa_spec(16000)
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 16000).astype(np.float32)
    pcm = np.round(x * 32768).astype(np.int16)
    np.testing.assert_allclose(pp.mfcc(pcm, spec), pp.mfcc(pcm.astype(np.float32) / 32768, spec))


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros((100, 2), np.float32), r"must be mono \(1-D\), got shape \(100, 2\)"),
        (np.zeros(100, np.uint8), "dtype must be float or int16/int32 PCM"),
        ([0.0, 1.0], "must be a numpy array"),
    ],
)
def test_bad_samples(samples, message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        pp.mfcc(samples, librosa_spec(16000))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"win_length": 600}, r"win_length \(600\) must not exceed n_fft \(512\)"),
        ({"n_mfcc": 50}, r"n_mfcc \(50\) must not exceed n_mels \(40\)"),
        ({"fmax_hz": 9000.0}, "mel band must satisfy"),
        ({"window": "kaiser"}, "window must be one of"),
        ({"top_db": -1.0}, "top_db must be positive or None"),
        ({"log": "ln"}, r"top_db \(80.0\) is a clamp in dB: it needs log='db'"),
        ({"power": 3.0}, "power must be 1 or 2"),
    ],
)
def test_bad_spec(kwargs, message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        AudioSpec(**kwargs)


def test_spec_round_trips() -> None:
    import json

    for spec in (
        AudioSpec.kaldi(analysis_seconds=1.0, feature="logmel", layout="N1FT"),
        AudioSpec.librosa(22050),
    ):
        assert AudioSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
        assert pp.spec_from_dict(spec.to_dict()) == spec
