"""The CUDA decode of the detection post-processing (decode on the GPU with decode.h's math, NMS
on the host) against the CPU driver: the same detections. Runs only where a CUDA device and a
CUDA build of mmedge._C exist (marker `gpu`)."""

from __future__ import annotations

import numpy as np
import pytest
from detection_data import realistic_head

from mmedge._ext import C
from mmedge.tasks import DetectionHead

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize(
    "options",
    [{}, {"class_agnostic": True}, {"layout": "candidates_first", "objectness": True}],
)
def test_cuda_decode_matches_cpu(options: dict) -> None:
    from mmedge.preprocess.cuda import DeviceArray

    rng = np.random.default_rng(8)
    heads = np.stack([realistic_head(rng) for _ in range(3)])  # (3, 84, 8400)
    if options.get("objectness"):
        obj = rng.uniform(0.2, 1.0, (3, 1, heads.shape[2])).astype(np.float32)
        heads = np.concatenate([heads[:, :4], obj, heads[:, 4:]], axis=1)
    if options.get("layout") == "candidates_first":
        heads = np.ascontiguousarray(heads.transpose(0, 2, 1))
    head = DetectionHead(**options)
    opts = head.kernel_options(80)
    maps = np.tile(np.array([[2.0, -3.0, 2.0, 5.0, 1280, 720]], np.float32), (3, 1))
    cpu = C.detect(heads, opts, maps)
    device = DeviceArray.from_host(heads)
    gpu = C.detect_cuda(device.ptr, list(heads.shape), opts, maps)
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_array_equal(a, b)
