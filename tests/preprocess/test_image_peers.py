"""The image options of the fidelity issue against the peers that define them, on real frames:
bicubic (OpenCV INTER_CUBIC; PIL BICUBIC = torchvision antialias=True), nearest (OpenCV
INTER_NEAREST; INTER_NEAREST_EXACT = PIL NEAREST), torchvision's Resize + CenterCrop in one pass,
the packed 4:2:2 camera formats (OpenCV cvtColor), BT.709 and full-range YUV (FFmpeg swscale)."""

from __future__ import annotations

import numpy as np
import pytest

from mmedge import preprocess
from mmedge.preprocess import ImageSpec, reference

RAW = {"scale": 1.0}  # outputs in grey levels (0..255), so bounds read as levels
SIZES = [(224, 224), (100, 75), (333, 500), (800, 600), (1536, 1152), (767, 577)]


@pytest.fixture(scope="module")
def frame(video_frames: list[np.ndarray]) -> np.ndarray:
    """A real 768x576 BGR frame (vtest.avi)."""
    return video_frames[0]


def _hwc(t: np.ndarray) -> np.ndarray:
    return t[0].transpose(1, 2, 0)


@pytest.mark.parametrize("size", SIZES)
def test_bicubic_matches_opencv(frame: np.ndarray, size) -> None:
    """cv2.resize(INTER_CUBIC) on uint8: OpenCV rounds to an integer (0.5) with 11-bit weights
    and saturates to 0..255 as we do; measured within 0.503 levels on these sizes, so bounded
    at 0.51, mean near the 0.25 of uniform rounding. And the float64 reference at 1e-3."""
    cv2 = pytest.importorskip("cv2")
    spec = ImageSpec(*size, output_format="BGR", interpolation="bicubic", **RAW)
    ours = _hwc(preprocess.image(frame, spec))
    theirs = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    diff = np.abs(ours - theirs)
    assert diff.max() <= 0.51, (size, diff.max())
    assert diff.mean() <= 0.26
    np.testing.assert_allclose(ours, _hwc(reference.image(frame, spec)), rtol=0, atol=1e-3)


@pytest.mark.parametrize("size", [(224, 224), (333, 500), (800, 600)])
def test_bicubic_matches_torch(frame: np.ndarray, size) -> None:
    """torch interpolate(bicubic, antialias=False) in float64, saturated: the same cubic
    (a = -0.75, clamped edge taps); within 0.01 levels (torch's coordinates in float32 and
    OpenCV's, which we follow, round differently)."""
    torch = pytest.importorskip("torch")
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    w, h = size
    spec = ImageSpec(w, h, input_format="RGB", interpolation="bicubic", **RAW)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double()
    theirs = torch.nn.functional.interpolate(
        x, size=(h, w), mode="bicubic", align_corners=False, antialias=False
    )
    np.testing.assert_allclose(
        preprocess.image(rgb, spec)[0], theirs.clamp(0, 255)[0].numpy(), rtol=0, atol=0.01
    )


@pytest.mark.parametrize("size", SIZES)
def test_bicubic_antialias_matches_pil_and_torch(frame: np.ndarray, size) -> None:
    """PIL's Image.resize(BICUBIC) (timm's eval resize): PIL rounds and saturates the
    horizontal pass to uint8 (0.5, carried through weights whose absolute sum is at most 1.25)
    and the result (0.5): within 0.5 * 1.25 + 0.5 = 1.125 levels. torch interpolate(bicubic,
    antialias=True) in float64 along one axis (no intermediate rounding to hide behind): 1e-3."""
    torch = pytest.importorskip("torch")
    pil_image = pytest.importorskip("PIL.Image")
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    w, h = size
    spec = ImageSpec(w, h, input_format="RGB", interpolation="bicubic_antialias", **RAW)
    ours = preprocess.image(rgb, spec)[0]
    pil = np.asarray(pil_image.fromarray(rgb).resize(size, pil_image.BICUBIC))
    diff = np.abs(ours - pil.transpose(2, 0, 1))
    assert diff.max() <= 1.125, (size, diff.max())
    assert diff.mean() <= 0.3
    np.testing.assert_allclose(ours, reference.image(rgb, spec)[0], rtol=0, atol=1e-3)
    across = ImageSpec(w, rgb.shape[0], input_format="RGB", interpolation="bicubic_antialias")
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double()
    theirs = torch.nn.functional.interpolate(
        x, size=(rgb.shape[0], w), mode="bicubic", align_corners=False, antialias=True
    )
    np.testing.assert_allclose(
        preprocess.image(rgb, across)[0] * 255,
        theirs.clamp(0, 255)[0].numpy(),
        rtol=0,
        atol=1e-3,
    )


@pytest.mark.parametrize("size", [*SIZES, (7, 5), (1, 1), (769, 575)])
def test_nearest_modes_equal_opencv_and_pil(frame: np.ndarray, size) -> None:
    """Nearest copies pixels, so the bound is equality: 'nearest' = cv2 INTER_NEAREST,
    'nearest_exact' = cv2 INTER_NEAREST_EXACT = PIL NEAREST (OpenCV documents the latter as
    PIL's rule)."""
    cv2 = pytest.importorskip("cv2")
    pil_image = pytest.importorskip("PIL.Image")
    for mode, flag in (("nearest", cv2.INTER_NEAREST), ("nearest_exact", cv2.INTER_NEAREST_EXACT)):
        spec = ImageSpec(*size, output_format="BGR", interpolation=mode, **RAW)
        ours = _hwc(preprocess.image(frame, spec))
        np.testing.assert_array_equal(ours, cv2.resize(frame, size, interpolation=flag))
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    spec = ImageSpec(*size, input_format="RGB", interpolation="nearest_exact", **RAW)
    pil = np.asarray(pil_image.fromarray(rgb).resize(size, pil_image.NEAREST))
    np.testing.assert_array_equal(_hwc(preprocess.image(rgb, spec)), pil)


def test_nearest_exact_ties_follow_pil() -> None:
    """1-D resizes of every size pair up to 300 px where the centre lands exactly on a pixel
    edge: PIL's accumulated centre (and OpenCV, which matches it) decide those ties; the
    closed form floor((d + 0.5) * s) would not."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    for _ in range(300):
        src, dst = (int(v) for v in rng.integers(1, 1500, 2))
        row = np.tile(np.arange(src, dtype=np.float32)[None, :, None], (1, 1, 1))
        spec = ImageSpec(dst, 1, input_format="GRAY", output_format="GRAY",
                         interpolation="nearest_exact", **RAW)  # fmt: skip
        ours = preprocess.image((row % 256).astype(np.uint8)[..., 0], spec)[0, 0, 0]
        picked = cv2.resize(row[..., 0], (dst, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0]
        np.testing.assert_array_equal(ours, picked.astype(np.int64) % 256)


def torchvision_eval(rgb: np.ndarray, short: int, crop: tuple[int, int], mode: str) -> np.ndarray:
    """torchvision's Resize(short) + CenterCrop((h, w)) on a float64 tensor, written out as
    its code computes the sizes (the long side truncated) and the crop offsets (rounded)."""
    torch = pytest.importorskip("torch")
    h, w = rgb.shape[:2]
    long = int(short * max(h, w) / min(h, w))
    new_w, new_h = (short, long) if w <= h else (long, short)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double()
    kind, antialias = mode.split("_")[0], mode.endswith("antialias")
    resized = torch.nn.functional.interpolate(
        x, size=(new_h, new_w), mode=kind, align_corners=False, antialias=antialias
    )[0]
    if kind == "bicubic":
        resized = resized.clamp(0, 255)
    top, left = round((new_h - crop[1]) / 2.0), round((new_w - crop[0]) / 2.0)
    return resized[:, top : top + crop[1], left : left + crop[0]].numpy()


@pytest.mark.parametrize("mode", ["bilinear", "bilinear_antialias", "bicubic"])
@pytest.mark.parametrize(
    ("short", "crop"), [(256, (224, 224)), (232, (224, 224)), (320, (288, 256))]
)
def test_resize_and_centre_crop_match_torchvision(
    frame: np.ndarray, mode: str, short: int, crop
) -> None:
    """resize_short_side = torchvision's eval transform Resize(short) + CenterCrop in one pass,
    against the same transform on a float64 tensor (1e-3 levels antialiased; 0.01 for the
    two- and four-tap modes, whose source coordinates we round to float32 as OpenCV does, see
    test_bicubic_matches_torch), and equal to resizing to the full size and slicing."""
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    spec = ImageSpec(*crop, input_format="RGB", interpolation=mode, resize_short_side=short, **RAW)
    ours = preprocess.image(rgb, spec)[0]
    tol = 1e-3 if mode.endswith("antialias") else 0.01
    np.testing.assert_allclose(ours, torchvision_eval(rgb, short, crop, mode), rtol=0, atol=tol)
    full_w, full_h, x, y = spec.resize_window(rgb.shape[1], rgb.shape[0])
    whole = ImageSpec(full_w, full_h, input_format="RGB", interpolation=mode, **RAW)
    sliced = preprocess.image(rgb, whole)[0][:, y : y + crop[1], x : x + crop[0]]
    np.testing.assert_allclose(ours, sliced, rtol=0, atol=1e-4)


def test_timm_eval_transform_matches_pil(frame: np.ndarray) -> None:
    """timm's default eval transform on a PIL image: Resize(248, BICUBIC) + CenterCrop(224)
    (crop_pct 0.9), within the PIL bicubic bound of 1.125 levels."""
    pil_image = pytest.importorskip("PIL.Image")
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    spec = ImageSpec(224, 224, input_format="RGB", interpolation="bicubic_antialias",
                     resize_short_side=248, **RAW)  # fmt: skip
    full_w, full_h, x, y = spec.resize_window(rgb.shape[1], rgb.shape[0])
    pil = pil_image.fromarray(rgb).resize((full_w, full_h), pil_image.BICUBIC)
    theirs = np.asarray(pil.crop((x, y, x + 224, y + 224))).transpose(2, 0, 1)
    assert np.abs(preprocess.image(rgb, spec)[0] - theirs).max() <= 1.125


@pytest.mark.parametrize("fmt", ["YUYV", "UYVY"])
def test_packed_422_matches_opencv(frame: np.ndarray, fmt: str) -> None:
    """YUYV and UYVY (USB cameras) against cv2.cvtColor(COLOR_YUV2BGR_YUYV / _UYVY) of a real
    frame: OpenCV rounds to integers, so within 0.5 levels; then through a resize against the
    float64 reference."""
    cv2 = pytest.importorskip("cv2")
    packed = cv2.cvtColor(frame, getattr(cv2, f"COLOR_BGR2YUV_{fmt}"))
    spec = ImageSpec(*frame.shape[1::-1], input_format=fmt, output_format="BGR", **RAW)
    theirs = cv2.cvtColor(packed, getattr(cv2, f"COLOR_YUV2BGR_{fmt}")).astype(np.float32)
    assert np.abs(_hwc(preprocess.image(packed, spec)) - theirs).max() <= 0.5 + 1e-4
    small = ImageSpec(320, 240, input_format=fmt, interpolation="area", **RAW)
    np.testing.assert_allclose(
        preprocess.image(packed, small), reference.image(packed, small), rtol=0, atol=1e-3
    )
    strided = np.zeros((packed.shape[0], packed.shape[1], 4), np.uint8)
    strided[:, :, 1:3] = packed  # the same bytes 2 apart within a pixel, 4 between pixels
    np.testing.assert_array_equal(
        preprocess.image(strided[:, :, 1:3], small), preprocess.image(packed, small)
    )


def _swscale_rgb(av, planes: list[np.ndarray], fmt: str, size, matrix: str, value_range: str):
    """FFmpeg swscale's RGB of a YUV frame (planes as byte rows) with the chroma replicated
    (POINT), exact rounding (ACCURATE_RND, BITEXACT) and full chroma interpolation
    (FULL_CHR_H_INT) so no horizontal chroma filter applies."""
    from av.video.reformatter import Interpolation

    frame = av.VideoFrame(size[0], size[1], fmt)
    for plane, rows in zip(frame.planes, planes, strict=True):
        padded = np.zeros((rows.shape[0], plane.line_size), np.uint8)
        padded[:, : rows.shape[1]] = rows
        plane.update(padded.tobytes())
    flags = (
        Interpolation.POINT
        | Interpolation.ACCURATE_RND
        | Interpolation.BITEXACT
        | Interpolation.FULL_CHR_H_INT
    )
    out = frame.reformat(
        format="rgb24",
        src_colorspace={"bt601": "ITU601", "bt709": "ITU709"}[matrix],
        src_color_range={"limited": "MPEG", "full": "JPEG"}[value_range],
        interpolation=flags,
    )
    return out.to_ndarray().astype(np.float32)


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("value_range", ["limited", "full"])
@pytest.mark.parametrize("fmt", ["YUYV", "NV12"])
def test_yuv_matrices_match_swscale(frame: np.ndarray, matrix, value_range, fmt) -> None:
    """BT.601 / BT.709 in limited and full range against FFmpeg's swscale (PyAV) on real YUV
    bytes: swscale rounds to integers with 15-bit coefficients, so within 0.5 levels plus
    0.15 (measured up to 0.62 for BT.601 limited, whose OpenCV coefficients we keep, 0.51 for
    the rest); and our float64 reference from the standards' Kr, Kb at 1e-3."""
    av = pytest.importorskip("av")
    cv2 = pytest.importorskip("cv2")
    h, w = frame.shape[:2]
    if fmt == "YUYV":
        data = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_YUYV)
        planes, av_fmt = [data.reshape(h, 2 * w)], "yuyv422"
    else:
        i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
        u = i420[h : h + h // 4].reshape(h // 2, w // 2)
        v = i420[h + h // 4 :].reshape(h // 2, w // 2)
        data = np.concatenate([i420[:h], np.stack([u, v], -1).reshape(h // 2, w)])
        planes, av_fmt = [data[:h], data[h:]], "nv12"
    spec = ImageSpec(w, h, input_format=fmt, yuv_matrix=matrix, yuv_range=value_range, **RAW)
    ours = _hwc(preprocess.image(data, spec))
    theirs = _swscale_rgb(av, planes, av_fmt, (w, h), matrix, value_range)
    diff = np.abs(ours - theirs)
    assert diff.max() <= 0.65, diff.max()
    assert diff.mean() <= 0.26
    np.testing.assert_allclose(ours, _hwc(reference.image(data, spec)), rtol=0, atol=1e-3)
