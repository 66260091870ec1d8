// AVX2 + FMA lanes of the audio feature pipeline: eight frames per vector. Every header is
// included before the target pragma, so only the code defined below (the Ops, the lane
// templates and their instantiations, all with internal linkage) is compiled for AVX2; the
// driver is chosen at run time (features_cpu.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

#include "features_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace mmedge::audio {
namespace {

struct Avx2Ops {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }

  // Natural log of positive normal floats: frexp into m in [sqrt(1/2), sqrt(2)) and e, then
  // Cephes' minimax polynomial for ln(1 + (m - 1)) (about 1 ulp).
  static V log(V x) {
    const __m256i bits = _mm256_castps_si256(x);
    __m256 e =
        _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
    const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    const __m256 one = _mm256_set1_ps(1.0f);
    e = _mm256_sub_ps(e, _mm256_and_ps(one, small));
    m = _mm256_add_ps(_mm256_sub_ps(m, one), _mm256_and_ps(m, small));
    const __m256 z = _mm256_mul_ps(m, m);
    __m256 y = _mm256_set1_ps(7.0376836292e-2f);
    const float coeffs[] = {-1.1514610310e-1f, 1.1676998740e-1f,  -1.2420140846e-1f,
                            1.4249322787e-1f,  -1.6668057665e-1f, 2.0000714765e-1f,
                            -2.4999993993e-1f, 3.3333331174e-1f};
    for (float c : coeffs) y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(c));
    y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
  }

  static V load(const float* const* rows, int i) {
    return _mm256_setr_ps(rows[0][i], rows[1][i], rows[2][i], rows[3][i], rows[4][i], rows[5][i],
                          rows[6][i], rows[7][i]);
  }
  // out[j] = lanes rows[0..7][i + j] for j < count: 8x8 transposes of contiguous loads.
  static void load_rows(const float* const* rows, int i, int count, V* out) {
    int j = 0;
    for (; j + 8 <= count; j += 8) {
      __m256 r[8];
      for (int l = 0; l < 8; ++l) r[l] = _mm256_loadu_ps(rows[l] + i + j);
      transpose8(r, out + j);
    }
    for (; j < count; ++j) out[j] = load(rows, i + j);
  }

  // rows[0..7][i + j] = lanes of v[j] for j < count: the same transposes, the other way.
  static void store_rows(const V* v, float* const* rows, int i, int count) {
    int j = 0;
    for (; j + 8 <= count; j += 8) {
      __m256 r[8];
      transpose8(v + j, r);
      for (int l = 0; l < 8; ++l) _mm256_storeu_ps(rows[l] + i + j, r[l]);
    }
    for (; j < count; ++j) store(v[j], rows, i + j);
  }

  // out[c] lane l = r[l] lane c: an 8x8 transpose in registers.
  static void transpose8(const __m256* r, __m256* out) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    out[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    out[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    out[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    out[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    out[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    out[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    out[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    out[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
  }

  static void store(V v, float* const* rows, int i) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    for (int l = 0; l < 8; ++l) rows[l][i] = lanes[l];
  }
};

#include "feature_lanes.inl"
#include "lane_driver.inl"

}  // namespace

namespace detail {
// 32 samples per step: their exponent bits all set means NaN or Inf; the exact index comes from
// the scalar scan of the block that has one.
int64_t first_nonfinite_avx2(const float* x, int64_t n) {
  const __m256i exponent = _mm256_set1_epi32(0x7f800000);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i hit = _mm256_setzero_si256();
    for (int k = 0; k < 32; k += 8) {
      const __m256i bits = _mm256_and_si256(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + k)), exponent);
      hit = _mm256_or_si256(hit, _mm256_cmpeq_epi32(bits, exponent));
    }
    if (!_mm256_testz_si256(hit, hit)) break;
  }
  const int64_t found = first_nonfinite_scalar(x + i, n - i);
  return found < 0 ? -1 : i + found;
}
void features_avx2(const Pipeline& pl, const SignalView& s, int64_t f0, int64_t f1, float* logmel,
                   float* mfcc, bool dct) {
  feature_groups<Avx2Ops>(pl, s, f0, f1, logmel, mfcc, dct);
}
void clamp_avx2(const Pipeline& pl, float* logmel, float* mfcc, int64_t n, float floor) {
  clamp_groups<Avx2Ops>(pl, logmel, mfcc, n, floor);
}
}  // namespace detail

}  // namespace mmedge::audio

#pragma GCC pop_options
