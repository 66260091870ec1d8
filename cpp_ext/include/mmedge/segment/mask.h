// Class masks at source resolution from a segmenter's logits, shared by host and device.
//
// Definition: source pixel (u, v) takes the first argmax over classes of the logits bilinearly
// sampled at logit coordinate
//     f_x = (u + 0.5) * scale_x + offset_x - 0.5,   clamped to [lo_x, hi_x]
// (the same along y): OpenCV's INTER_LINEAR convention (half-pixel centres, the edge pixel
// repeated, never extrapolated) through the inverse of the preprocessing geometry, so a
// stretched input gives exactly cv2.resize(logits, (W, H), INTER_LINEAR) then argmax, and a
// letterboxed one the same on the letterbox's content region (lo..hi) only. A tap with zero
// weight is not read. A pixel whose taps hold a NaN or Inf logit gets kUnknown.
//
// Speed: a logit pixel's own class (the first argmax of its logits) is found once; where the
// up-to-four taps of a source pixel share one class, that class is the argmax of any convex
// combination of their logits, so the pixel takes it without sampling C planes (equal to the
// full computation except where two classes' interpolated logits tie within float rounding).
// Only pixels near a class boundary sample every plane.
#pragma once

#include <cmath>
#include <cstdint>

#include "mmedge/common/hd.h"

namespace mmedge::segment {

constexpr uint8_t kUnknown = 255;  // no class: a tap held a non-finite logit
constexpr int kMaxClasses = 255;   // class ids 0..254 fit a uint8 mask beside kUnknown

// One axis of the source -> logit map (see the file comment). `size`: logits along the axis.
struct AxisMap {
  double scale;
  double offset;
  double lo;
  double hi;
  int size;
};

// The two logit taps of one source coordinate, i1 == i0 when w == 0.
struct Tap {
  int i0;
  int i1;
  float w;
};

MMEDGE_HD bool finite(float v) { return v - v == 0.0f; }

MMEDGE_HD Tap axis_tap(const AxisMap& a, int u) {
  float f = static_cast<float>((u + 0.5) * a.scale + a.offset - 0.5);
  const float lo = static_cast<float>(a.lo), hi = static_cast<float>(a.hi);
  f = f < lo ? lo : (f > hi ? hi : f);
  int i0 = static_cast<int>(floorf(f));
  float w = f - static_cast<float>(i0);
  if (i0 < 0) {
    i0 = 0;
    w = 0.0f;
  }
  if (i0 >= a.size - 1) {
    i0 = a.size - 1;
    w = 0.0f;
  }
  return Tap{i0, w > 0.0f ? i0 + 1 : i0, w};
}

// a + w * (b - a), as the image kernels interpolate.
MMEDGE_HD float lerp(float a, float b, float w) { return a + w * (b - a); }

// One plane (H_l x W_l floats, row-major) sampled at taps (ty, tx).
MMEDGE_HD float sample(const float* plane, int width, const Tap& ty, const Tap& tx) {
  const float* r0 = plane + static_cast<int64_t>(ty.i0) * width;
  const float* r1 = plane + static_cast<int64_t>(ty.i1) * width;
  const float top = lerp(r0[tx.i0], r0[tx.i1], tx.w);
  const float bottom = lerp(r1[tx.i0], r1[tx.i1], tx.w);
  return lerp(top, bottom, ty.w);
}

// The class of a logit pixel: first argmax over the C planes at index `at`, kUnknown when any
// of its logits is NaN or Inf.
MMEDGE_HD uint8_t logit_class(const float* logits, int classes, int64_t plane, int64_t at) {
  float best = logits[at];
  int k = 0;
  bool ok = finite(best);
  for (int c = 1; c < classes; ++c) {
    const float v = logits[c * plane + at];
    ok = ok && finite(v);
    if (v > best) {
      best = v;
      k = c;
    }
  }
  return ok ? static_cast<uint8_t>(k) : kUnknown;
}

// The full computation for one source pixel: first argmax of the C sampled planes (kUnknown
// when any is non-finite); *confidence (when not null) = its softmax probability.
MMEDGE_HD uint8_t pixel_class(const float* logits, int classes, int height, int width,
                              const Tap& ty, const Tap& tx, float* confidence) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  float best = sample(logits, width, ty, tx);
  int k = 0;
  bool ok = finite(best);
  for (int c = 1; c < classes; ++c) {
    const float v = sample(logits + c * plane, width, ty, tx);
    ok = ok && finite(v);
    if (v > best) {
      best = v;
      k = c;
    }
  }
  if (!ok) {
    if (confidence != nullptr) *confidence = 0.0f;
    return kUnknown;
  }
  if (confidence != nullptr) {
    float total = 0.0f;
    for (int c = 0; c < classes; ++c) total += expf(sample(logits + c * plane, width, ty, tx) - best);
    *confidence = 1.0f / total;
  }
  return static_cast<uint8_t>(k);
}

// The shared class of the taps (ty, tx) in the logit-class map, or -1 when they differ.
MMEDGE_HD int shared_class(const uint8_t* classes_map, int width, const Tap& ty, const Tap& tx) {
  const uint8_t* r0 = classes_map + static_cast<int64_t>(ty.i0) * width;
  const uint8_t* r1 = classes_map + static_cast<int64_t>(ty.i1) * width;
  const uint8_t a = r0[tx.i0];
  return (r0[tx.i1] == a && r1[tx.i0] == a && r1[tx.i1] == a) ? a : -1;
}

}  // namespace mmedge::segment
