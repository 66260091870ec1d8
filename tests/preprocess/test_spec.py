"""The Spec protocol and registry, and the vocabulary shared with the binding: every spec kind
speaks the protocol and its apply() is the kernel's result; the registry finds a spec by kind,
takes a new kind, refuses an unknown one; the audio options and image names the binding declares
are the specs' own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmedge import preprocess as pp
from mmedge._ext import C
from mmedge.errors import PreprocessError
from mmedge.preprocess.image_formats import INTERPOLATIONS, PACKED_422, PLANE_LAYOUT

SPECS = {
    "image": pp.ImageSpec(32, 24, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2)),
    "audio": pp.AudioSpec.librosa(8000, n_fft=256, hop_length=80, n_mels=32, analysis_seconds=0.5),
    "video": pp.VideoSpec(4, pp.ImageSpec(16, 16), stride=2),
}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_spec_speaks_the_protocol(kind: str) -> None:
    spec = SPECS[kind]
    assert isinstance(spec, pp.Spec) and spec.kind == kind and pp.SPEC_KINDS[kind] is type(spec)
    assert pp.spec_from_dict(spec.to_dict()) == spec
    rng = np.random.default_rng(0)
    samples = [spec.random_sample(rng) for _ in range(3)]
    one = spec.apply(samples[0])
    batch = spec.apply_batch(samples)
    assert one.shape == (1, *spec.sample_shape()) and batch.shape == (3, *spec.sample_shape())
    np.testing.assert_array_equal(batch[:1], one)
    assert spec.dynamic_axes() == {}


def test_apply_is_the_kernel() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(SPECS["image"].apply(frame), pp.image(frame, SPECS["image"]))
    audio = (0.1 * rng.standard_normal(6000)).astype(np.float32)
    np.testing.assert_array_equal(
        SPECS["audio"].apply(audio, sample_rate_hz=12000),
        pp.audio(audio, SPECS["audio"], 12000),
    )
    clip = rng.integers(0, 256, (9, 20, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(SPECS["video"].apply(clip), pp.video_clip(clip, SPECS["video"]))
    assert SPECS["video"].span_frames == 7  # 4 frames, 2 apart


def test_audio_without_a_window_has_a_dynamic_time_axis() -> None:
    for layout, axis in (("NTF", 1), ("NFT", 2), ("N1FT", 3)):
        spec = pp.AudioSpec.librosa(16000, layout=layout)
        assert spec.dynamic_axes() == {axis: "frames"}
        assert spec.sample_shape()[axis - 1] == "frames"


def test_yuv_random_frames_are_valid_frames() -> None:
    spec = pp.ImageSpec(30, 20, input_format="NV12")
    frame = spec.random_sample(np.random.default_rng(2))
    assert frame.shape[0] % 3 == 0 and frame.shape[1] % 2 == 0
    assert spec.apply(frame).shape == (1, 3, 20, 30)


@dataclasses.dataclass(frozen=True)
class ImuSpec:
    """A fourth modality: a window of 6-axis IMU samples, standardised."""

    window: int = 50
    kind: str = dataclasses.field(default="imu", init=False)
    layout: str = dataclasses.field(default="NTC", init=False)

    def apply(self, sample, *, sample_rate_hz=None):
        x = np.asarray(sample, np.float32)[-self.window :]
        return ((x - x.mean(0)) / (x.std(0) + 1e-6))[None]

    def apply_batch(self, samples, *, sample_rates=None):
        return np.concatenate([self.apply(s) for s in samples])

    def dynamic_axes(self):
        return {}

    def sample_shape(self):
        return (self.window, 6)

    def random_sample(self, rng):
        return rng.standard_normal((self.window, 6)).astype(np.float32)

    def to_dict(self):
        return {"kind": "imu", "window": self.window}

    @classmethod
    def from_dict(cls, d):
        return cls(d["window"])


def test_a_new_modality_is_one_registered_class() -> None:
    try:
        pp.register_spec(ImuSpec)
        spec = pp.spec_from_dict({"kind": "imu", "window": 20})
        assert spec == ImuSpec(20) and isinstance(spec, pp.Spec)
        assert spec.apply(spec.random_sample(np.random.default_rng(0))).shape == (1, 20, 6)
    finally:
        pp.SPEC_KINDS.pop("imu")
    with pytest.raises(PreprocessError, match="unknown preprocessing kind 'imu'"):
        pp.spec_from_dict({"kind": "imu", "window": 20})


def test_the_binding_declares_the_specs_vocabulary() -> None:
    fields = {f.name for f in dataclasses.fields(pp.AudioSpec)}
    assert set(C.FEATURE_OPTIONS) <= fields  # every kernel option is an AudioSpec field
    assert set(pp.AudioSpec().kernel_params()) == set(C.FEATURE_OPTIONS)
    for option, values in C.FEATURE_OPTION_VALUES.items():
        with pytest.raises(PreprocessError, match=f"AudioSpec.{option} must be one of"):
            pp.AudioSpec(**{option: "nonsense"})
        for value in values:  # every name the kernel knows is accepted by the spec
            other = {"top_db": None} if option == "log" else {}  # top_db is a dB clamp
            if option == "log" and value == "none":  # MFCC need a log
                other["feature"] = "logmel"
            if option == "filter_norm":  # librosa's norm is slaney or a p-norm, not both
                other = {"slaney_norm": False}
            assert getattr(pp.AudioSpec(**{option: value}, **other), option) == value
    assert tuple(C.INTERPOLATIONS) == INTERPOLATIONS
    assert set(PLANE_LAYOUT.values()) | {"packed", *PACKED_422} == set(C.PLANE_LAYOUTS)
    out, src = np.zeros((3, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="interpolation must be one of bilinear, area"):
        C.resize_normalize("packed", [src], out, [[1, 0, 0]] * 3, [0] * 3, [0] * 3, (0, 0, 4, 4),
                           "lanczos")  # fmt: skip
