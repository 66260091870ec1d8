// AVX2 + FMA + F16C driver of one output row of resize_normalize_cpu(), only called after a
// run-time CPU check. The ISA is enabled per function (MMEDGE_AVX2_FN) rather than for the
// whole file: inline functions from shared headers are then compiled for the baseline ISA, so
// the linker can never hand an AVX2 copy of one to the portable driver.
//
// Eight output pixels at a time: four vectors of eight 32-bit loads fetch the two taps of both
// source rows (each load holds a whole pixel of up to 4 channels, channel c in byte c), one
// byte shuffle per tap picks a channel, and the shared bilinear/normalise math runs as FMAs.
// Columns left over (the tail, and taps on a row's last pixel, whose 4-byte load would leave the
// row) use the scalar driver.
#include <immintrin.h>

#include <cstring>

#include "resize_plan.h"

#define MMEDGE_AVX2_FN __attribute__((target("avx2,fma,f16c")))

namespace mmedge::image::detail {
namespace {

// Byte c of every 32-bit lane, zero-extended: the shuffle mask that picks channel c.
MMEDGE_AVX2_FN inline __m256i channel_mask(int c) {
  const char z = static_cast<char>(0x80);  // shuffle source index with the top bit: zero
  const char k = static_cast<char>(c);
  return _mm256_setr_epi8(k, z, z, z, k + 4, z, z, z, k + 8, z, z, z, k + 12, z, z, z, k, z, z, z,
                          k + 4, z, z, z, k + 8, z, z, z, k + 12, z, z, z);
}

// Eight unaligned 32-bit loads from row + offset[i] in one vector. Scalar loads and inserts
// beat vpgatherdd on AMD Zen (gathers there cost about one cycle per element and then some).
MMEDGE_AVX2_FN inline __m256i load8(const uint8_t* row, const int32_t* offset) {
  auto word = [row](int32_t at) {
    int32_t v;
    std::memcpy(&v, row + at, sizeof(v));
    return v;
  };
  return _mm256_setr_epi32(word(offset[0]), word(offset[1]), word(offset[2]), word(offset[3]),
                           word(offset[4]), word(offset[5]), word(offset[6]), word(offset[7]));
}

MMEDGE_AVX2_FN inline __m256 channel_as_float(__m256i pixels, __m256i mask) {
  return _mm256_cvtepi32_ps(_mm256_shuffle_epi8(pixels, mask));
}

// lerp(a, b, w) = a + w * (b - a), as in bilinear.h.
MMEDGE_AVX2_FN inline __m256 lerp8(__m256 a, __m256 b, __m256 w) {
  return _mm256_fmadd_ps(w, _mm256_sub_ps(b, a), a);
}

template <bool kHalf>
MMEDGE_AVX2_FN void row_avx2(const ResizePlan& plan, int y) {
  const ResizeNormalizeParams& p = *plan.params;
  const LinearTap ty = plan.ytaps[y];
  const uint8_t* row0 = p.src.data + ty.i0 * p.src.row_stride;
  const uint8_t* row1 = p.src.data + ty.i1 * p.src.row_stride;
  const int64_t out_row = static_cast<int64_t>(p.roi.y + y) * p.dst.row_stride + p.roi.x;
  const int channels = p.norm.out_channels;
  const __m256 wy = _mm256_set1_ps(ty.w);
  __m256i mask[kMaxChannels];
  __m256 alpha[kMaxChannels], beta[kMaxChannels];
  for (int c = 0; c < channels; ++c) {
    mask[c] = channel_mask(p.norm.src_channel[c]);
    alpha[c] = _mm256_set1_ps(p.norm.alpha[c]);
    beta[c] = _mm256_set1_ps(p.norm.beta[c]);
  }
  int x = 0;
  for (; x + 8 <= plan.simd_columns; x += 8) {
    const __m256 wx = _mm256_loadu_ps(&plan.wx[x]);
    const __m256i p00 = load8(row0, &plan.gather0[x]);
    const __m256i p01 = load8(row0, &plan.gather1[x]);
    const __m256i p10 = load8(row1, &plan.gather0[x]);
    const __m256i p11 = load8(row1, &plan.gather1[x]);
    for (int c = 0; c < channels; ++c) {
      const __m256 top = lerp8(channel_as_float(p00, mask[c]), channel_as_float(p01, mask[c]), wx);
      const __m256 bottom =
          lerp8(channel_as_float(p10, mask[c]), channel_as_float(p11, mask[c]), wx);
      const __m256 v = _mm256_fmadd_ps(alpha[c], lerp8(top, bottom, wy), beta[c]);
      const int64_t at = c * p.dst.plane_stride + out_row + x;
      if constexpr (kHalf) {
        const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(p.dst.data) + at), h);
      } else {
        _mm256_storeu_ps(static_cast<float*>(p.dst.data) + at, v);
      }
    }
  }
  if (x < p.roi.width) resize_row_scalar(plan, y, x, p.roi.width);
}

}  // namespace

MMEDGE_AVX2_FN void resize_row_avx2(const ResizePlan& plan, int y) {
  if (plan.params->dst.type == OutType::kFloat16) {
    row_avx2<true>(plan, y);
  } else {
    row_avx2<false>(plan, y);
  }
}

}  // namespace mmedge::image::detail
