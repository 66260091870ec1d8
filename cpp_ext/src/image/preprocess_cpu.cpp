// CPU driver of the fused image preprocessing (resize_normalize_cpu) and the argument checks
// shared with the CUDA launcher.
#include <algorithm>
#include <atomic>
#include <sstream>
#include <stdexcept>

#include "mmedge/common/parallel.h"
#include "resize_plan.h"

namespace mmedge::image {
namespace {

std::atomic<bool> g_force_scalar{false};

bool cpu_has_avx2() {
#if defined(MMEDGE_HAVE_AVX2)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok;
#else
  return false;
#endif
}

bool use_avx2(const ResizeNormalizeParams& p) {
  return !g_force_scalar.load(std::memory_order_relaxed) && cpu_has_avx2() &&
         detail::simd_layout_ok(p.src);
}

// Sets columns [x_begin, x_end) of output row `row` of every plane to the pad value.
void fill_pad(const ResizeNormalizeParams& p, int row, int x_begin, int x_end) {
  for (int c = 0; c < p.norm.out_channels; ++c) {
    const int64_t base = static_cast<int64_t>(row) * p.dst.row_stride;
    for (int x = x_begin; x < x_end; ++x) detail::store_value(p.dst, c, base + x, p.norm.pad[c]);
  }
}

}  // namespace

std::string validate(const ResizeNormalizeParams& p) {
  std::ostringstream err;
  const SrcImage& s = p.src;
  const DstPlanes& d = p.dst;
  const Roi& r = p.roi;
  if (s.data == nullptr)
    err << "source data is null";
  else if (s.height <= 0 || s.width <= 0)
    err << "source image is empty: " << s.height << "x" << s.width << " px";
  else if (s.channels < 1 || s.channels > kMaxChannels)
    err << "source channels must be 1.." << kMaxChannels << ", got " << s.channels;
  else if (d.data == nullptr)
    err << "output data is null";
  else if (d.height <= 0 || d.width <= 0)
    err << "output size must be positive, got " << d.height << "x" << d.width << " px";
  else if (d.type != OutType::kFloat32 && d.type != OutType::kFloat16)
    err << "output type must be float32 or float16, got code " << static_cast<int>(d.type);
  else if (d.row_stride < d.width)
    err << "output row stride " << d.row_stride << " is smaller than the width " << d.width;
  else if (d.plane_stride < d.row_stride * d.height)
    err << "output plane stride " << d.plane_stride << " is smaller than a plane ("
        << d.row_stride * d.height << " elements)";
  else if (p.norm.out_channels < 1 || p.norm.out_channels > kMaxChannels)
    err << "output channels must be 1.." << kMaxChannels << ", got " << p.norm.out_channels;
  else if (r.width <= 0 || r.height <= 0 || r.x < 0 || r.y < 0 || r.x + r.width > d.width ||
           r.y + r.height > d.height)
    err << "resize region " << r.width << "x" << r.height << "+" << r.x << "+" << r.y
        << " does not fit the " << d.width << "x" << d.height << " output";
  else {
    for (int c = 0; c < p.norm.out_channels; ++c) {
      if (p.norm.src_channel[c] < 0 || p.norm.src_channel[c] >= s.channels) {
        err << "output channel " << c << " reads source channel " << p.norm.src_channel[c]
            << ", but the source has " << s.channels;
        break;
      }
    }
  }
  return err.str();
}

namespace detail {

ResizePlan make_plan(const ResizeNormalizeParams& p, bool simd) {
  ResizePlan plan;
  plan.params = &p;
  const double sx = linear_scale(p.src.width, p.roi.width);
  const double sy = linear_scale(p.src.height, p.roi.height);
  plan.xtaps.resize(p.roi.width);
  plan.ytaps.resize(p.roi.height);
  for (int x = 0; x < p.roi.width; ++x) plan.xtaps[x] = linear_tap(x, sx, p.src.width);
  for (int y = 0; y < p.roi.height; ++y) plan.ytaps[y] = linear_tap(y, sy, p.src.height);
  if (simd) {
    const int64_t row_bytes = static_cast<int64_t>(p.src.width) * p.src.channels;
    const size_t n = plan.xtaps.size();
    plan.gather0.resize(n);
    plan.gather1.resize(n);
    plan.wx.resize(n);
    for (size_t x = 0; x < n; ++x) {
      plan.gather0[x] = plan.xtaps[x].i0 * p.src.channels;
      plan.gather1[x] = plan.xtaps[x].i1 * p.src.channels;
      plan.wx[x] = plan.xtaps[x].w;
      // i1 never decreases with x, so the columns whose loads fit form a prefix.
      if (plan.gather1[x] + 4 <= row_bytes) plan.simd_columns = static_cast<int>(x) + 1;
    }
  }
  return plan;
}

void resize_row_scalar(const ResizePlan& plan, int y, int x_begin, int x_end) {
  const ResizeNormalizeParams& p = *plan.params;
  const SrcImage& s = p.src;
  const LinearTap ty = plan.ytaps[y];
  const uint8_t* row0 = s.data + ty.i0 * s.row_stride;
  const uint8_t* row1 = s.data + ty.i1 * s.row_stride;
  const int64_t out_row = static_cast<int64_t>(p.roi.y + y) * p.dst.row_stride + p.roi.x;
  for (int x = x_begin; x < x_end; ++x) {
    const LinearTap tx = plan.xtaps[x];
    const int64_t a = tx.i0 * s.col_stride;
    const int64_t b = tx.i1 * s.col_stride;
    for (int c = 0; c < p.norm.out_channels; ++c) {
      const int64_t k = p.norm.src_channel[c] * s.channel_stride;
      const float v = bilinear(row0[a + k], row0[b + k], row1[a + k], row1[b + k], tx.w, ty.w);
      store_value(p.dst, c, out_row + x, normalize_value(p.norm, c, v));
    }
  }
}

}  // namespace detail

void resize_normalize_cpu(const ResizeNormalizeParams& p) {
  const std::string err = validate(p);
  if (!err.empty()) throw std::invalid_argument(err);
  const bool avx2 = use_avx2(p);
  const detail::ResizePlan plan = detail::make_plan(p, avx2);
  const int roi_end_x = p.roi.x + p.roi.width;
  auto rows = [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int y = static_cast<int>(row) - p.roi.y;
      if (y < 0 || y >= p.roi.height) {
        fill_pad(p, static_cast<int>(row), 0, p.dst.width);
        continue;
      }
      fill_pad(p, static_cast<int>(row), 0, p.roi.x);
#if defined(MMEDGE_HAVE_AVX2)
      if (avx2) {
        detail::resize_row_avx2(plan, y);
      } else {
        detail::resize_row_scalar(plan, y, 0, p.roi.width);
      }
#else
      detail::resize_row_scalar(plan, y, 0, p.roi.width);
#endif
      fill_pad(p, static_cast<int>(row), roi_end_x, p.dst.width);
    }
  };
  // About 16k output pixels per chunk: below that, waking a thread costs more than it saves.
  const int64_t grain = std::max<int64_t>(1, 16384 / p.dst.width);
  parallel::parallel_for(p.dst.height, grain, rows);
}

const char* cpu_driver_name(const ResizeNormalizeParams& p) {
  return use_avx2(p) ? "avx2" : "scalar";
}

const char* best_cpu_driver() {
  return !g_force_scalar.load(std::memory_order_relaxed) && cpu_has_avx2() ? "avx2" : "scalar";
}

void force_scalar_driver(bool force) { g_force_scalar.store(force); }

}  // namespace mmedge::image
