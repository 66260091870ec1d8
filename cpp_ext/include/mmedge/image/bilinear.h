// Bilinear sampling in OpenCV's INTER_LINEAR convention, shared by host and device.
//
// Output pixel d (0-based, in the resized image) looks at source coordinate
//     f = (d + 0.5) * scale - 0.5,     scale = 1 / (dst_size / src_size)
// (pixel centres at half-integers, "align_corners=False"), computed in double and rounded to
// float as cv::resize does. The two taps are floor(f) and floor(f) + 1 with weight
// w = f - floor(f) on the second. At the borders the coordinate is clamped to the edge pixel with
// weight 0 (OpenCV's BORDER_REPLICATE for INTER_LINEAR), never extrapolated.
// This is not jetson-utils' convention (no half-pixel offset), which shifts the image by half a
// pixel and costs accuracy against a model trained on cv2 or torchvision preprocessing.
#pragma once

#include <cmath>

#include "mmedge/common/hd.h"

namespace mmedge::image {

// The two source taps of one output coordinate along one axis.
struct LinearTap {
  int i0;   // first source index, 0 <= i0 < src_size
  int i1;   // second source index, i0 <= i1 <= i0 + 1, i1 < src_size
  float w;  // weight of i1, in [0, 1); i0 gets 1 - w
};

// Source pixels per destination pixel along one axis, as cv::resize computes it.
MMEDGE_HD double linear_scale(int src_size, int dst_size) {
  return 1.0 / (static_cast<double>(dst_size) / static_cast<double>(src_size));
}

// Taps of destination index `dst` along an axis with `src_size` source pixels.
MMEDGE_HD LinearTap linear_tap(int dst, double scale, int src_size) {
  const float f = static_cast<float>((dst + 0.5) * scale - 0.5);
  int i0 = static_cast<int>(floorf(f));
  float w = f - static_cast<float>(i0);
  if (i0 < 0) {
    i0 = 0;
    w = 0.0f;
  }
  if (i0 >= src_size - 1) {
    i0 = src_size - 1;
    w = 0.0f;
  }
  const int i1 = i0 + 1 < src_size ? i0 + 1 : i0;
  return LinearTap{i0, i1, w};
}

// OpenCV's INTER_AREA when an axis is enlarged: two taps again, but the weight is the share
// of destination pixel d that overlaps source pixel floor(d * scale) + 1, so enlarged pixels
// keep flat centres and blend only at their edges. `inv_scale` = dst_size / src_size.
MMEDGE_HD LinearTap area_upscale_tap(int dst, double scale, double inv_scale, int src_size) {
  int i0 = static_cast<int>(floor(dst * scale));
  float w = static_cast<float>((dst + 1) - (i0 + 1) * inv_scale);
  w = w <= 0.0f ? 0.0f : w - floorf(w);
  if (i0 < 0) {
    i0 = 0;
    w = 0.0f;
  }
  if (i0 >= src_size - 1) {
    i0 = src_size - 1;
    w = 0.0f;
  }
  const int i1 = i0 + 1 < src_size ? i0 + 1 : i0;
  return LinearTap{i0, i1, w};
}

// The tap rule of the fused two-tap drivers.
enum class TapRule : int { kLinear = 0, kAreaUpscale = 1 };

MMEDGE_HD LinearTap tap_for(TapRule rule, int dst, int src_size, int dst_size) {
  const double scale = linear_scale(src_size, dst_size);
  if (rule == TapRule::kAreaUpscale) {
    return area_upscale_tap(dst, scale, static_cast<double>(dst_size) / src_size, src_size);
  }
  return linear_tap(dst, scale, src_size);
}

// a + w * (b - a): the interpolation every driver uses, so that CPU, SIMD and CUDA agree.
MMEDGE_HD float lerp(float a, float b, float w) { return a + w * (b - a); }

// Bilinear value from the four neighbours p00 (row i0, col i0), p01 (row i0, col i1),
// p10 (row i1, col i0), p11 (row i1, col i1), with horizontal weight wx and vertical weight wy.
MMEDGE_HD float bilinear(float p00, float p01, float p10, float p11, float wx, float wy) {
  return lerp(lerp(p00, p01, wx), lerp(p10, p11, wx), wy);
}

}  // namespace mmedge::image
