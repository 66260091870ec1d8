"""The CUDA path of the fused image kernel against the CPU path (same MMEDGE_HD math).

Runs only where a CUDA device and a CUDA build of mmedge._C exist (marker `gpu`); elsewhere the
CPU tests cover the shared math and CI checks that the CUDA sources compile.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmedge import PreprocessError, preprocess
from mmedge.preprocess import AudioSpec, FrameStack, ImageSpec, VideoSpec, reference

pytestmark = pytest.mark.gpu

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
# CPU (AVX2 FMA or scalar) and CUDA (FMA-contracted) round the last bits differently.
DEVICE_TOL = 2e-6


class StridedView:
    """A device array view with explicit byte strides (as CuPy/PyTorch expose slices)."""

    def __init__(
        self, base: Any, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]
    ) -> None:
        self.base = base
        cai = base.__cuda_array_interface__
        self.__cuda_array_interface__ = {
            **cai,
            "data": (cai["data"][0] + offset, False),
            "shape": shape,
            "strides": strides,
        }


@pytest.mark.parametrize(
    ("src_hw", "dst_wh", "fmt"),
    [
        ((1080, 1920), (224, 224), ("BGR", "RGB")),
        ((28, 28), (224, 224), ("GRAY", "GRAY")),
        ((37, 51), (17, 9), ("RGB", "RGB")),
        ((1, 1), (5, 3), ("BGR", "RGB")),
        ((720, 1280), (640, 640), ("GRAY", "RGB")),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_cuda_matches_cpu(src_hw, dst_wh, fmt, dtype) -> None:
    from mmedge.preprocess.cuda import DeviceArray

    spec = ImageSpec(
        *dst_wh,
        input_format=fmt[0],
        output_format=fmt[1],
        dtype=dtype,
        **({} if fmt[1] == "GRAY" else IMAGENET),
    )
    rng = np.random.default_rng(0)
    shape = src_hw if spec.input_channels == 1 else (*src_hw, spec.input_channels)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    gpu = preprocess.image(DeviceArray.from_host(img), spec).to_host()
    cpu = preprocess.image(img, spec)
    assert gpu.shape == cpu.shape
    assert gpu.dtype == cpu.dtype
    if dtype == "float16":  # one float16 ulp where the float32 values straddle a rounding edge
        np.testing.assert_allclose(
            gpu.astype(np.float32), cpu.astype(np.float32), rtol=1e-3, atol=1e-3
        )
    else:
        np.testing.assert_allclose(gpu, cpu, rtol=0, atol=DEVICE_TOL)
        np.testing.assert_allclose(gpu, reference.image(img, spec), rtol=0, atol=1e-4)


def test_cuda_strided_input_and_out_buffer() -> None:
    from mmedge.preprocess.cuda import DeviceArray

    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    dev = DeviceArray.from_host(base)
    # rows 10..189, columns 20..279: offset into the allocation, the parent's row stride
    view = StridedView(dev, offset=(10 * 300 + 20) * 3, shape=(180, 260, 3), strides=(900, 3, 1))
    spec = ImageSpec(96, 64, **IMAGENET)
    out = DeviceArray((1, 3, 64, 96), np.float32)
    assert preprocess.image(view, spec, out=out) is out
    np.testing.assert_allclose(
        out.to_host(), preprocess.image(base[10:190, 20:280], spec), rtol=0, atol=DEVICE_TOL
    )


def test_cuda_input_errors() -> None:
    from mmedge.preprocess.cuda import DeviceArray

    spec = ImageSpec(8, 8)
    with pytest.raises(PreprocessError, match="has 4 channels"):
        preprocess.image(DeviceArray((10, 10, 4), np.uint8), spec)
    with pytest.raises(PreprocessError, match="dtype must be uint8"):
        preprocess.image(DeviceArray((10, 10, 3), np.float32), spec)
    with pytest.raises(PreprocessError, match="out has shape"):
        preprocess.image(
            DeviceArray((10, 10, 3), np.uint8), spec, out=DeviceArray((1, 3, 8, 9), np.float32)
        )


# -- the kernels of the preprocessing issue on the GPU ---------------------------------------------


@pytest.mark.parametrize(
    "interpolation",
    ["bilinear", "area", "bilinear_antialias", "bicubic", "bicubic_antialias", "nearest",
     "nearest_exact"],
)  # fmt: skip
@pytest.mark.parametrize("geometry", [None, "opencv", "crop"])
def test_cuda_modes_match_cpu(interpolation: str, geometry) -> None:
    from mmedge.preprocess.cuda import DeviceArray

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    spec = ImageSpec(
        320,
        320,
        interpolation=interpolation,
        letterbox=None if geometry == "crop" else geometry,
        resize_short_side=352 if geometry == "crop" else None,
        pad_value=114,
        **IMAGENET,
    )
    gpu = preprocess.image(DeviceArray.from_host(img), spec).to_host()
    np.testing.assert_allclose(gpu, preprocess.image(img, spec), rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", ["NV12", "I420", "YUYV", "UYVY"])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_cuda_yuv_matches_cpu(fmt: str, matrix: str) -> None:
    from mmedge.preprocess.cuda import DeviceArray

    rng = np.random.default_rng(6)
    shape = (720, 1280, 2) if fmt in ("YUYV", "UYVY") else (720 * 3 // 2, 1280)
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    spec = ImageSpec(640, 384, input_format=fmt, yuv_matrix=matrix, yuv_range="full", **IMAGENET)
    gpu = preprocess.image(DeviceArray.from_host(frame), spec).to_host()
    np.testing.assert_allclose(gpu, preprocess.image(frame, spec), rtol=0, atol=1e-5)


def test_cuda_batch_in_one_launch() -> None:
    from mmedge.preprocess.cuda import DeviceArray, preprocess_batch

    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (8, 1080, 1920, 3), dtype=np.uint8)
    spec = ImageSpec(224, 224, **IMAGENET)
    gpu = preprocess_batch(DeviceArray.from_host(frames), spec).to_host()
    assert gpu.shape == (8, 3, 224, 224)
    np.testing.assert_allclose(
        gpu, preprocess.image_batch(list(frames), spec), rtol=0, atol=DEVICE_TOL
    )


@pytest.mark.parametrize("preset", ["librosa", "kaldi", "librosa_n400"])
@pytest.mark.parametrize("feature", ["mfcc", "logmel"])
def test_cuda_audio_matches_cpu(preset: str, feature: str) -> None:
    from mmedge.preprocess.cuda import DeviceArray

    spec = {
        "librosa": AudioSpec.librosa(
            16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, n_mfcc=13
        ),
        "kaldi": AudioSpec.kaldi(),
        "librosa_n400": AudioSpec.librosa(16000, n_fft=400, hop_length=160, n_mels=40),
    }[preset]
    rng = np.random.default_rng(8)
    batch = (0.2 * rng.standard_normal((3, 16000))).astype(np.float32)
    run = preprocess.mfcc if feature == "mfcc" else preprocess.logmel
    gpu = run(DeviceArray.from_host(batch), spec).to_host()
    cpu = np.stack([run(x, spec) for x in batch])
    assert gpu.shape == cpu.shape
    assert np.abs(gpu - cpu).max() <= 1e-4 * np.abs(cpu).max()


def test_cuda_frame_stack_matches_cpu() -> None:
    from mmedge.preprocess.cuda import DeviceArray

    spec = VideoSpec(4, ImageSpec(112, 112, **IMAGENET))
    rng = np.random.default_rng(9)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(6)]
    cpu_stack, gpu_stack = FrameStack(spec), FrameStack(spec, device="cuda")
    for f in frames:
        cpu_clip = cpu_stack.push(f)
        gpu_clip = gpu_stack.push(DeviceArray.from_host(f))
    assert gpu_clip.__cuda_array_interface__["shape"] == cpu_clip.shape
    start = gpu_stack.frames_taken % spec.clip_len
    ring = gpu_stack._ring.to_host()  # (C, 2T, H, W)
    np.testing.assert_allclose(
        ring[None, :, start : start + spec.clip_len], cpu_clip, rtol=0, atol=DEVICE_TOL
    )
