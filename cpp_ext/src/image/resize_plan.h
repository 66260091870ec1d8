// Per-call tables of the fused two-tap CPU drivers of resize_normalize_cpu(): the taps of every
// output column and row, plus the byte offsets the SIMD driver loads from.
#pragma once

#include <cstdint>
#include <vector>

#include "mmedge/common/half.h"
#include "mmedge/image/bilinear.h"
#include "mmedge/image/preprocess.h"

namespace mmedge::image::detail {

struct ResizePlan;
using RowFunction = void (*)(const ResizePlan& plan, int y);

struct ResizePlan {
  const ResizeNormalizeParams* params = nullptr;  // with norm.pick[] prepared
  int used = 0;                                   // bit k: some output channel reads source value k
  std::vector<LinearTap> xtaps;                   // one per roi column
  std::vector<LinearTap> ytaps;                   // one per roi row

  // SIMD load tables, one entry per roi column (filled only for the SIMD driver): byte
  // offsets of pixels xtaps[x].i0 and .i1 in a row, so a 32-bit load there holds the pixel's
  // channel c in byte c. Columns [0, simd_columns) have both loads inside the row; the few
  // after them (whose taps reach the row's last pixel) are left to the scalar driver.
  std::vector<int32_t> gather0, gather1;
  std::vector<float> wx;
  int simd_columns = 0;
};

// Taps of every roi column and row by `rule` (and the load tables when `simd`).
ResizePlan make_plan(const ResizeNormalizeParams& p, int used, TapRule rule, bool simd);

// Writes one output value (float or half) of plane `c` at element index `i`.
inline void store_value(const DstPlanes& d, int c, int64_t i, float v) {
  const int64_t at = c * d.plane_stride + i;
  if (d.type == OutType::kFloat32) {
    static_cast<float*>(d.data)[at] = v;
  } else {
    static_cast<uint16_t*>(d.data)[at] = float_to_half_bits(v);
  }
}

// Sets columns [x_begin, x_end) of output row `row` of every plane to the pad value.
void fill_pad(const ResizeNormalizeParams& p, int row, int x_begin, int x_end);

// Two-tap resize + colour + normalise of roi row `y`, columns [x_begin, x_end), with the
// shared scalar math; any source format.
void resize_row_scalar(const ResizePlan& plan, int y, int x_begin, int x_end);

#if defined(MMEDGE_HAVE_AVX2)
// The AVX2 + FMA + F16C row function for this plan's channel counts and colour matrix, or
// nullptr when there is none (then the scalar driver runs). Needs make_plan(simd=true),
// simd_layout_ok() and a CPU with those extensions. Defined in preprocess_avx2.cpp.
RowFunction select_row_avx2(const ResizePlan& plan);
#endif
#if defined(MMEDGE_HAVE_NEON)
// The NEON row function (aarch64; same contract as select_row_avx2). preprocess_neon.cpp.
RowFunction select_row_neon(const ResizePlan& plan);
#endif

// Whether the SIMD driver can read `src`: packed pixels (col_stride == channels, channel
// stride 1), 1, 3 or 4 channels, and rows of at least 4 bytes for the 32-bit loads.
inline bool simd_layout_ok(const SrcImage& s) {
  return s.format == PixelFormat::kPacked && s.channel_stride == 1 &&
         s.planes[0].col_stride == s.channels &&
         (s.channels == 1 || s.channels == 3 || s.channels == 4) &&
         static_cast<int64_t>(s.width) * s.channels >= 4;
}

// Area reduction and antialiased bilinear: horizontal pass into a float buffer, then vertical
// pass + colour + normalise. Defined in resample_cpu.cpp.
void resize_separable_cpu(const ResizeNormalizeParams& p, int used);

}  // namespace mmedge::image::detail
