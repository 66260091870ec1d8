"""The CUDA masks (one thread per source pixel with mask.h's math) against the CPU driver and
the float64 definition: the same masks up to float ties (nvcc may contract a lerp into an FMA
where the host compiler does not), the same non-finite counts and confidences. Runs only where a
CUDA device and a CUDA build of mmedge._C exist (marker `gpu`)."""

from __future__ import annotations

import numpy as np
import pytest
from segmentation_data import assert_masks_agree, reference, smooth_logits

from mmedge._ext import C
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.tasks.geometry import mask_map

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize(
    "spec",
    [
        ImageSpec(96, 72),
        ImageSpec(128, 96, letterbox="opencv"),
        ImageSpec(96, 96, resize_short_side=110),
    ],
    ids=["stretch", "letterbox", "centre-crop"],
)
def test_cuda_masks_match_cpu(spec: ImageSpec) -> None:
    from mmedge.preprocess.cuda import DeviceArray

    sizes = [(640, 480), (1280, 720)]
    tw, th = spec.tensor_size(*sizes[0])
    logits = np.concatenate([smooth_logits(9, th // 2, tw // 2, s) for s in (1, 2)])
    logits[1, 3, 5, 7] = np.nan
    maps = np.stack([mask_map(spec, w, h, tw // 2, th // 2) for w, h in sizes])
    device = DeviceArray.from_host(logits)
    for confidence in (False, True):
        cpu = C.segment(logits, maps, confidence)
        gpu = C.segment_cuda(device.ptr, list(logits.shape), maps, confidence)
        np.testing.assert_array_equal(cpu[2], gpu[2])  # non-finite logit pixels
        for i in range(2):
            _, margin, softmax = reference(logits[i : i + 1], maps[i])
            assert_masks_agree(gpu[0][i], cpu[0][i], margin)
            if confidence:
                finite = gpu[0][i] != 255
                np.testing.assert_allclose(gpu[1][i][finite], softmax[finite], atol=1e-5)
