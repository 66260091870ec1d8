// AVX2 + FMA + F16C driver of one output row of the fused two-tap pass, only called after a
// run-time CPU check. Every header is included before the target pragma, so inline functions
// from shared headers stay compiled for the baseline ISA (the linker can never hand an AVX2
// copy of one to the portable driver); only the code below, with internal linkage, uses AVX2.
//
// Eight output pixels at a time: four vectors of eight 32-bit loads fetch the two taps of both
// source rows (each load holds a whole pixel of up to 4 channels, channel c in byte c), one
// byte shuffle per tap picks a channel, and the shared bilinear / colour / normalise math runs
// as FMAs. Columns left over (the tail, and taps on a row's last pixel, whose 4-byte load would
// leave the row) use the scalar driver.
#include <immintrin.h>

#include <cstring>

#include "resize_plan.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace mmedge::image::detail {
namespace {

// Eight unaligned 32-bit loads from row + offset[i] in one vector. Scalar loads and inserts
// beat vpgatherdd on AMD Zen (0.124 -> 0.089 ms for 1080p -> 224x224 on the CI machine).
inline __m256i load8(const uint8_t* row, const int32_t* offset) {
  auto word = [row](int32_t at) {
    int32_t v;
    std::memcpy(&v, row + at, sizeof(v));
    return v;
  };
  return _mm256_setr_epi32(word(offset[0]), word(offset[1]), word(offset[2]), word(offset[3]),
                           word(offset[4]), word(offset[5]), word(offset[6]), word(offset[7]));
}

// Byte c of every 32-bit lane, zero-extended: the shuffle mask that picks channel c.
inline __m256i channel_mask(int c) {
  const char z = static_cast<char>(0x80);  // shuffle source index with the top bit: zero
  const char k = static_cast<char>(c);
  return _mm256_setr_epi8(k, z, z, z, k + 4, z, z, z, k + 8, z, z, z, k + 12, z, z, z, k, z, z, z,
                          k + 4, z, z, z, k + 8, z, z, z, k + 12, z, z, z);
}

inline __m256 channel_as_float(__m256i pixels, __m256i mask) {
  return _mm256_cvtepi32_ps(_mm256_shuffle_epi8(pixels, mask));
}

// lerp(a, b, w) = a + w * (b - a), as in bilinear.h.
inline __m256 lerp8(__m256 a, __m256 b, __m256 w) {
  return _mm256_fmadd_ps(w, _mm256_sub_ps(b, a), a);
}

// One output row. SC source channels per pixel, OC output channels; kPick: every output
// channel is one source channel times a weight (the common case), else a full colour matrix.
// All loops have compile-time bounds so the vectors stay in registers.
template <int SC, int OC, bool kPick, bool kHalf>
void row_simd(const ResizePlan& plan, int y) {
  const ResizeNormalizeParams& p = *plan.params;
  const Normalize& n = p.norm;
  const LinearTap ty = plan.ytaps[y];
  const Plane& plane = p.src.planes[0];
  const uint8_t* row0 = plane.data + ty.i0 * plane.row_stride;
  const uint8_t* row1 = plane.data + ty.i1 * plane.row_stride;
  const int64_t out_row = static_cast<int64_t>(p.roi.y + y) * p.dst.row_stride + p.roi.x;
  const __m256 wy = _mm256_set1_ps(ty.w);
  constexpr int kValues = kPick ? OC : SC;  // channels interpolated per pixel
  __m256i mask[kValues];
  __m256 weight[OC][kValues], bias[OC];
  for (int j = 0; j < kValues; ++j) mask[j] = channel_mask(kPick ? n.pick[j] : j);
  for (int c = 0; c < OC; ++c) {
    bias[c] = _mm256_set1_ps(n.bias[c]);
    for (int j = 0; j < kValues; ++j) {
      weight[c][j] =
          _mm256_set1_ps(kPick ? (j == c ? n.weight[c][n.pick[c]] : 0.0f) : n.weight[c][j]);
    }
  }
  // Eight columns at a time; the last group may overlap the previous one (its columns are
  // simply written twice with the same values), so only the columns past simd_columns, whose
  // loads would leave the row, need the scalar driver.
  auto columns = [&](int x) {
    const __m256 wx = _mm256_loadu_ps(&plan.wx[x]);
    const __m256i p00 = load8(row0, &plan.gather0[x]);
    const __m256i p01 = load8(row0, &plan.gather1[x]);
    const __m256i p10 = load8(row1, &plan.gather0[x]);
    const __m256i p11 = load8(row1, &plan.gather1[x]);
    __m256 v[kValues];
    for (int j = 0; j < kValues; ++j) {
      const __m256 top = lerp8(channel_as_float(p00, mask[j]), channel_as_float(p01, mask[j]), wx);
      const __m256 bottom =
          lerp8(channel_as_float(p10, mask[j]), channel_as_float(p11, mask[j]), wx);
      v[j] = lerp8(top, bottom, wy);
    }
    for (int c = 0; c < OC; ++c) {
      __m256 out;
      if constexpr (kPick) {
        out = _mm256_fmadd_ps(weight[c][c], v[c], bias[c]);
      } else {
        out = bias[c];
        for (int j = 0; j < kValues; ++j) out = _mm256_fmadd_ps(weight[c][j], v[j], out);
      }
      const int64_t at = c * p.dst.plane_stride + out_row + x;
      if constexpr (kHalf) {
        const __m128i h = _mm256_cvtps_ph(out, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(p.dst.data) + at), h);
      } else {
        _mm256_storeu_ps(static_cast<float*>(p.dst.data) + at, out);
      }
    }
  };
  int x = 0;
  for (; x + 8 <= plan.simd_columns; x += 8) columns(x);
  if (x < plan.simd_columns && plan.simd_columns >= 8) {
    columns(plan.simd_columns - 8);
    x = plan.simd_columns;
  }
  if (x < p.roi.width) resize_row_scalar(plan, y, x, p.roi.width);
}

#include "row_select.inl"

}  // namespace

RowFunction select_row_avx2(const ResizePlan& plan) { return select_row(plan); }

}  // namespace mmedge::image::detail

#pragma GCC pop_options
