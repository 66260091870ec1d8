// NEON driver of one output row of the fused two-tap pass (aarch64, where NEON is the baseline):
// the AVX2 driver's design with four output pixels per 128-bit vector. Four 32-bit loads per tap
// fetch whole pixels (channel c in byte c), a shift and mask pick a channel, and the shared
// bilinear / colour / normalise math runs as fused multiply-adds (the AVX2 driver's FMAs, the
// same roundings). Columns past plan.simd_columns (whose 4-byte loads would leave the row) use
// the scalar driver.
#include <arm_neon.h>

#include <cstring>

#include "resize_plan.h"

namespace mmedge::image::detail {
namespace {

// Four unaligned 32-bit loads from row + offset[i].
inline uint32x4_t load4(const uint8_t* row, const int32_t* offset) {
  uint32_t w[4];
  for (int i = 0; i < 4; ++i) std::memcpy(&w[i], row + offset[i], sizeof(uint32_t));
  return vld1q_u32(w);
}

// Byte c of every 32-bit lane (little endian: channel c), as float.
inline float32x4_t channel_as_float(uint32x4_t pixels, int32x4_t shift) {
  return vcvtq_f32_u32(vandq_u32(vshlq_u32(pixels, shift), vdupq_n_u32(0xffu)));
}

// lerp(a, b, w) = a + w * (b - a), as in bilinear.h.
inline float32x4_t lerp4(float32x4_t a, float32x4_t b, float32x4_t w) {
  return vfmaq_f32(a, w, vsubq_f32(b, a));
}

template <int SC, int OC, bool kPick, bool kHalf>
void row_simd(const ResizePlan& plan, int y) {
  const ResizeNormalizeParams& p = *plan.params;
  const Normalize& n = p.norm;
  const LinearTap ty = plan.ytaps[y];
  const Plane& plane = p.src.planes[0];
  const uint8_t* row0 = plane.data + ty.i0 * plane.row_stride;
  const uint8_t* row1 = plane.data + ty.i1 * plane.row_stride;
  const int64_t out_row = static_cast<int64_t>(p.roi.y + y) * p.dst.row_stride + p.roi.x;
  const float32x4_t wy = vdupq_n_f32(ty.w);
  constexpr int kValues = kPick ? OC : SC;  // channels interpolated per pixel
  int32x4_t shift[kValues];
  float32x4_t weight[OC][kValues], bias[OC];
  for (int j = 0; j < kValues; ++j) shift[j] = vdupq_n_s32(-8 * (kPick ? n.pick[j] : j));
  for (int c = 0; c < OC; ++c) {
    bias[c] = vdupq_n_f32(n.bias[c]);
    for (int j = 0; j < kValues; ++j) {
      weight[c][j] =
          vdupq_n_f32(kPick ? (j == c ? n.weight[c][n.pick[c]] : 0.0f) : n.weight[c][j]);
    }
  }
  // Four columns at a time; the last group may overlap the previous one (its columns are
  // written twice with the same values).
  auto columns = [&](int x) {
    const float32x4_t wx = vld1q_f32(&plan.wx[x]);
    const uint32x4_t p00 = load4(row0, &plan.gather0[x]);
    const uint32x4_t p01 = load4(row0, &plan.gather1[x]);
    const uint32x4_t p10 = load4(row1, &plan.gather0[x]);
    const uint32x4_t p11 = load4(row1, &plan.gather1[x]);
    float32x4_t v[kValues];
    for (int j = 0; j < kValues; ++j) {
      const float32x4_t top =
          lerp4(channel_as_float(p00, shift[j]), channel_as_float(p01, shift[j]), wx);
      const float32x4_t bottom =
          lerp4(channel_as_float(p10, shift[j]), channel_as_float(p11, shift[j]), wx);
      v[j] = lerp4(top, bottom, wy);
    }
    for (int c = 0; c < OC; ++c) {
      float32x4_t out;
      if constexpr (kPick) {
        out = vfmaq_f32(bias[c], weight[c][c], v[c]);
      } else {
        out = bias[c];
        for (int j = 0; j < kValues; ++j) out = vfmaq_f32(out, weight[c][j], v[j]);
      }
      const int64_t at = c * p.dst.plane_stride + out_row + x;
      if constexpr (kHalf) {  // round to nearest even, as F16C's _MM_FROUND_TO_NEAREST_INT
        vst1_u16(static_cast<uint16_t*>(p.dst.data) + at, vreinterpret_u16_f16(vcvt_f16_f32(out)));
      } else {
        vst1q_f32(static_cast<float*>(p.dst.data) + at, out);
      }
    }
  };
  int x = 0;
  for (; x + 4 <= plan.simd_columns; x += 4) columns(x);
  if (x < plan.simd_columns && plan.simd_columns >= 4) {
    columns(plan.simd_columns - 4);
    x = plan.simd_columns;
  }
  if (x < p.roi.width) resize_row_scalar(plan, y, x, p.roi.width);
}

#include "row_select.inl"

}  // namespace

RowFunction select_row_neon(const ResizePlan& plan) { return select_row(plan); }

}  // namespace mmedge::image::detail
