// Per-call tables of the CPU drivers of resize_normalize_cpu(): the bilinear taps of every
// output column and row, plus the byte offsets the SIMD driver loads from.
#pragma once

#include <cstdint>
#include <vector>

#include "mmedge/common/half.h"
#include "mmedge/image/bilinear.h"
#include "mmedge/image/preprocess.h"

namespace mmedge::image::detail {

struct ResizePlan {
  const ResizeNormalizeParams* params = nullptr;
  std::vector<LinearTap> xtaps;  // one per roi column
  std::vector<LinearTap> ytaps;  // one per roi row

  // SIMD load tables, one entry per roi column (filled only for the SIMD driver): byte
  // offsets of pixels xtaps[x].i0 and .i1 in a row, so a 32-bit load there holds the pixel's
  // channel c in byte c. Columns [0, simd_columns) have both loads inside the row; the few
  // after them (whose taps reach the row's last pixel) are left to the scalar driver.
  std::vector<int32_t> gather0, gather1;
  std::vector<float> wx;
  int simd_columns = 0;
};

// Taps of every roi column and row (and the gather tables when `simd`).
ResizePlan make_plan(const ResizeNormalizeParams& p, bool simd);

// Writes one output value (float or half) of plane `c` at element index `i`.
inline void store_value(const DstPlanes& d, int c, int64_t i, float v) {
  const int64_t at = c * d.plane_stride + i;
  if (d.type == OutType::kFloat32) {
    static_cast<float*>(d.data)[at] = v;
  } else {
    static_cast<uint16_t*>(d.data)[at] = float_to_half_bits(v);
  }
}

// Bilinear + normalise of roi row `y`, columns [x_begin, x_end), with the shared scalar math.
void resize_row_scalar(const ResizePlan& plan, int y, int x_begin, int x_end);

#if defined(MMEDGE_HAVE_AVX2)
// The same row with AVX2 gathers, FMA and F16C; needs make_plan(simd=true), simd_layout_ok()
// and a CPU with those extensions. Defined in preprocess_avx2.cpp.
void resize_row_avx2(const ResizePlan& plan, int y);
#endif

// Whether the SIMD driver can read `src`: packed pixels (col_stride == channels, channel
// stride 1), 1, 3 or 4 channels, and rows of at least 4 bytes for the 32-bit loads.
inline bool simd_layout_ok(const SrcImage& s) {
  return s.channel_stride == 1 && s.col_stride == s.channels &&
         (s.channels == 1 || s.channels == 3 || s.channels == 4) &&
         static_cast<int64_t>(s.width) * s.channels >= 4;
}

}  // namespace mmedge::image::detail
