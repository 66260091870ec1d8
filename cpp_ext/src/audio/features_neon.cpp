// NEON lanes of the audio feature pipeline (aarch64, where NEON is the baseline ISA): four frames
// per vector, the same lane templates as the AVX2 driver (feature_lanes.inl, lane_driver.inl)
// with 128-bit vectors. Chosen at run time like the AVX2 driver (features_cpu.cpp), so
// force_scalar_driver() still selects the scalar reference on an ARM CPU.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

#include "features_internal.h"

namespace mmedge::audio {
namespace {

struct NeonOps {
  using V = float32x4_t;
  static constexpr int kLanes = 4;
  static V zero() { return vdupq_n_f32(0.0f); }
  static V set1(float x) { return vdupq_n_f32(x); }
  static V add(V a, V b) { return vaddq_f32(a, b); }
  static V sub(V a, V b) { return vsubq_f32(a, b); }
  static V mul(V a, V b) { return vmulq_f32(a, b); }
  static V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }  // a * b + c, one rounding
  static V max(V a, V b) { return vmaxq_f32(a, b); }
  static V sqrt(V a) { return vsqrtq_f32(a); }

  // Natural log of positive normal floats: the AVX2 driver's frexp and Cephes polynomial.
  static V log(V x) {
    const uint32x4_t bits = vreinterpretq_u32_f32(x);
    V e = vcvtq_f32_s32(
        vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(bits, 23)), vdupq_n_s32(126)));
    V m = vreinterpretq_f32_u32(
        vorrq_u32(vandq_u32(bits, vdupq_n_u32(0x007fffffu)), vdupq_n_u32(0x3f000000u)));
    const uint32x4_t small = vcltq_f32(m, vdupq_n_f32(0.707106781186547524f));
    const V one = vdupq_n_f32(1.0f);
    e = vsubq_f32(e, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(one), small)));
    m = vaddq_f32(vsubq_f32(m, one),
                  vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(m), small)));
    const V z = vmulq_f32(m, m);
    V y = vdupq_n_f32(7.0376836292e-2f);
    const float coeffs[] = {-1.1514610310e-1f, 1.1676998740e-1f,  -1.2420140846e-1f,
                            1.4249322787e-1f,  -1.6668057665e-1f, 2.0000714765e-1f,
                            -2.4999993993e-1f, 3.3333331174e-1f};
    for (float c : coeffs) y = vfmaq_f32(vdupq_n_f32(c), y, m);
    y = vmulq_f32(vmulq_f32(y, m), z);
    y = vfmaq_f32(y, e, vdupq_n_f32(-2.12194440e-4f));
    y = vfmsq_f32(y, vdupq_n_f32(0.5f), z);
    return vfmaq_f32(vaddq_f32(m, y), e, vdupq_n_f32(0.693359375f));
  }

  static V load(const float* const* rows, int i) {
    const float lanes[4] = {rows[0][i], rows[1][i], rows[2][i], rows[3][i]};
    return vld1q_f32(lanes);
  }
  // out[j] = lanes rows[0..3][i + j] for j < count: 4x4 transposes of contiguous loads.
  static void load_rows(const float* const* rows, int i, int count, V* out) {
    int j = 0;
    for (; j + 4 <= count; j += 4) {
      const V r[4] = {vld1q_f32(rows[0] + i + j), vld1q_f32(rows[1] + i + j),
                      vld1q_f32(rows[2] + i + j), vld1q_f32(rows[3] + i + j)};
      transpose4(r, out + j);
    }
    for (; j < count; ++j) out[j] = load(rows, i + j);
  }
  // rows[0..3][i + j] = lanes of v[j] for j < count.
  static void store_rows(const V* v, float* const* rows, int i, int count) {
    int j = 0;
    for (; j + 4 <= count; j += 4) {
      V r[4];
      transpose4(v + j, r);
      for (int l = 0; l < 4; ++l) vst1q_f32(rows[l] + i + j, r[l]);
    }
    for (; j < count; ++j) store(v[j], rows, i + j);
  }
  // out[c] lane l = r[l] lane c.
  static void transpose4(const V* r, V* out) {
    const float32x4x2_t t01 = vtrnq_f32(r[0], r[1]);  // (r0[0] r1[0] r0[2] r1[2]), (.. [1], [3])
    const float32x4x2_t t23 = vtrnq_f32(r[2], r[3]);
    out[0] = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
    out[1] = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
    out[2] = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
    out[3] = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
  }
  static void store(V v, float* const* rows, int i) {
    float lanes[4];
    vst1q_f32(lanes, v);
    for (int l = 0; l < 4; ++l) rows[l][i] = lanes[l];
  }
};

#include "feature_lanes.inl"
#include "lane_driver.inl"

}  // namespace

namespace detail {
void features_neon(const Pipeline& pl, const SignalView& s, int64_t f0, int64_t f1, float* logmel,
                   float* mfcc, bool dct) {
  feature_groups<NeonOps>(pl, s, f0, f1, logmel, mfcc, dct);
}
void clamp_neon(const Pipeline& pl, float* logmel, float* mfcc, int64_t n, float floor) {
  clamp_groups<NeonOps>(pl, logmel, mfcc, n, floor);
}
}  // namespace detail

}  // namespace mmedge::audio
