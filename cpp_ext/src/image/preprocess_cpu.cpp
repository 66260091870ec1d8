// CPU entry point of the fused image preprocessing (resize_normalize_cpu), the scalar two-tap
// driver, and the argument checks shared with the CUDA launcher.
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

// NEON is the baseline of aarch64.
bool cpu_has_neon() {
#if defined(MMEDGE_HAVE_NEON)
  return true;
#else
  return false;
#endif
}

// The SIMD row driver's name for this CPU ("avx2", "neon"), or nullptr for none.
const char* cpu_simd_name() {
  if (g_force_scalar.load(std::memory_order_relaxed)) return nullptr;
  if (cpu_has_avx2()) return "avx2";
  if (cpu_has_neon()) return "neon";
  return nullptr;
}

bool use_simd(const ResizeNormalizeParams& p) {
  return cpu_simd_name() != nullptr && detail::simd_layout_ok(p.src) &&
         !uses_separable_filter(p);
}

const char* format_name(PixelFormat f) {
  switch (f) {
    case PixelFormat::kPacked:
      return "packed";
    case PixelFormat::kNV12:
      return "NV12";
    case PixelFormat::kI420:
      return "I420";
    case PixelFormat::kYUV422:
      return "YUV 4:2:2";
  }
  return "unknown";
}

void check_source(const SrcImage& s, std::ostringstream& err) {
  const bool one_plane = s.format == PixelFormat::kPacked || s.format == PixelFormat::kYUV422;
  const int planes = one_plane ? 1 : s.format == PixelFormat::kNV12 ? 2 : 3;
  if (s.format != PixelFormat::kPacked && s.format != PixelFormat::kNV12 &&
      s.format != PixelFormat::kI420 && s.format != PixelFormat::kYUV422) {
    err << "source format code " << static_cast<int>(s.format) << " is unknown";
    return;
  }
  for (int i = 0; i < planes; ++i) {
    if (s.planes[i].data == nullptr) {
      err << format_name(s.format) << " source plane " << i << " is null";
      return;
    }
  }
  if (s.height <= 0 || s.width <= 0) {
    err << "source image is empty: " << s.height << "x" << s.width << " px";
  } else if (s.format == PixelFormat::kPacked && (s.channels < 1 || s.channels > kMaxChannels)) {
    err << "source channels must be 1.." << kMaxChannels << ", got " << s.channels;
  } else if (s.format == PixelFormat::kYUV422 && s.width % 2) {
    err << format_name(s.format) << " needs an even width, got " << s.width << " px";
  } else if (s.format == PixelFormat::kYUV422 &&
             (s.order.y_channel < 0 || s.order.y_channel > 1 || s.order.u_byte < 0 ||
              s.order.u_byte > 3 || s.order.v_byte < 0 || s.order.v_byte > 3)) {
    err << "YUV 4:2:2 byte order " << s.order.y_channel << ", " << s.order.u_byte << ", "
        << s.order.v_byte << " is out of range";
  } else if ((s.format == PixelFormat::kNV12 || s.format == PixelFormat::kI420) &&
             (s.width % 2 || s.height % 2)) {
    err << format_name(s.format) << " needs an even width and height, got " << s.width << "x"
        << s.height << " px";
  } else if (s.format != PixelFormat::kPacked && s.channels != 4) {
    err << format_name(s.format) << " sources yield 4 values (R, G, B, Y), got channels "
        << s.channels;
  }
}

// No crop (all zero), or a resized image that contains the region at the window's offset.
bool window_ok(const ResizeNormalizeParams& p) {
  const ResizeWindow& w = p.window;
  if (w.resized_width == 0 && w.resized_height == 0 && w.x == 0 && w.y == 0) return true;
  return w.resized_width > 0 && w.resized_height > 0 && w.x >= 0 && w.y >= 0 &&
         static_cast<int64_t>(w.x) + p.roi.width <= w.resized_width &&
         static_cast<int64_t>(w.y) + p.roi.height <= w.resized_height;
}

}  // namespace

bool uses_separable_filter(const ResizeNormalizeParams& p) {
  switch (p.interpolation) {
    case Interpolation::kArea:
      // OpenCV averages areas only when no axis is enlarged; otherwise it blends two taps.
      return p.src.width >= resized_width(p) && p.src.height >= resized_height(p);
    case Interpolation::kBilinear:
      return false;
    default:  // antialiased, cubic and nearest modes: tables from resample.h
      return true;
  }
}

TapRule two_tap_rule(const ResizeNormalizeParams& p) {
  return p.interpolation == Interpolation::kArea ? TapRule::kAreaUpscale : TapRule::kLinear;
}

std::string validate(const ResizeNormalizeParams& p) {
  std::ostringstream err;
  check_source(p.src, err);
  if (!err.str().empty()) return err.str();
  const DstPlanes& d = p.dst;
  const Roi& r = p.roi;
  if (d.data == nullptr)
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
  else if (static_cast<int>(p.interpolation) < 0 ||
           static_cast<int>(p.interpolation) > static_cast<int>(Interpolation::kNearestExact))
    err << "interpolation code " << static_cast<int>(p.interpolation) << " is unknown";
  else if (!window_ok(p))
    err << "resize window " << p.window.resized_width << "x" << p.window.resized_height << "+"
        << p.window.x << "+" << p.window.y << " does not hold the " << r.width << "x" << r.height
        << " region";
  else {
    for (int c = 0; c < p.norm.out_channels && err.str().empty(); ++c) {
      for (int k = p.src.channels; k < kMaxChannels; ++k) {
        if (p.norm.weight[c][k] != 0.0f) {
          err << "output channel " << c << " reads source value " << k << ", but the source has "
              << p.src.channels;
          break;
        }
      }
    }
  }
  return err.str();
}

namespace detail {

ResizePlan make_plan(const ResizeNormalizeParams& p, int used, TapRule rule, bool simd) {
  ResizePlan plan;
  plan.params = &p;
  plan.used = used;
  plan.xtaps.resize(p.roi.width);
  plan.ytaps.resize(p.roi.height);
  const int rw = resized_width(p), rh = resized_height(p);
  for (int x = 0; x < p.roi.width; ++x) {
    plan.xtaps[x] = tap_for(rule, x + p.window.x, p.src.width, rw);
  }
  for (int y = 0; y < p.roi.height; ++y) {
    plan.ytaps[y] = tap_for(rule, y + p.window.y, p.src.height, rh);
  }
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

void fill_pad(const ResizeNormalizeParams& p, int row, int x_begin, int x_end) {
  if (!p.fill_border) return;
  for (int c = 0; c < p.norm.out_channels; ++c) {
    const int64_t base = static_cast<int64_t>(row) * p.dst.row_stride;
    for (int x = x_begin; x < x_end; ++x) store_value(p.dst, c, base + x, p.norm.pad[c]);
  }
}

void resize_row_scalar(const ResizePlan& plan, int y, int x_begin, int x_end) {
  const ResizeNormalizeParams& p = *plan.params;
  const SrcImage& s = p.src;
  const LinearTap ty = plan.ytaps[y];
  const int64_t out_row = static_cast<int64_t>(p.roi.y + y) * p.dst.row_stride + p.roi.x;
  float v00[kMaxChannels], v01[kMaxChannels], v10[kMaxChannels], v11[kMaxChannels];
  float v[kMaxChannels] = {0, 0, 0, 0};
  for (int x = x_begin; x < x_end; ++x) {
    const LinearTap tx = plan.xtaps[x];
    read_pixel(s, tx.i0, ty.i0, v00);
    read_pixel(s, tx.i1, ty.i0, v01);
    read_pixel(s, tx.i0, ty.i1, v10);
    read_pixel(s, tx.i1, ty.i1, v11);
    for (int k = 0; k < s.channels; ++k) {
      if (plan.used & (1 << k)) v[k] = bilinear(v00[k], v01[k], v10[k], v11[k], tx.w, ty.w);
    }
    for (int c = 0; c < p.norm.out_channels; ++c) {
      store_value(p.dst, c, out_row + x, apply_normalize(p.norm, c, v));
    }
  }
}

}  // namespace detail

void resize_normalize_cpu(const ResizeNormalizeParams& params) {
  const std::string err = validate(params);
  if (!err.empty()) throw std::invalid_argument(err);
  ResizeNormalizeParams p = params;
  const int used = prepare_normalize(p.norm);
  if (uses_separable_filter(p)) {
    detail::resize_separable_cpu(p, used);
    return;
  }
  const bool simd = use_simd(p);
  const detail::ResizePlan plan = detail::make_plan(p, used, two_tap_rule(p), simd);
  detail::RowFunction simd_row = nullptr;
#if defined(MMEDGE_HAVE_AVX2)
  if (simd) simd_row = detail::select_row_avx2(plan);
#elif defined(MMEDGE_HAVE_NEON)
  if (simd) simd_row = detail::select_row_neon(plan);
#endif
  const int roi_end_x = p.roi.x + p.roi.width;
  // Without the border, only the region's rows are visited.
  const int first_row = p.fill_border ? 0 : p.roi.y;
  const int row_count = p.fill_border ? p.dst.height : p.roi.height;
  auto rows = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t row = r + first_row;
      const int y = static_cast<int>(row) - p.roi.y;
      if (y < 0 || y >= p.roi.height) {
        detail::fill_pad(p, static_cast<int>(row), 0, p.dst.width);
        continue;
      }
      detail::fill_pad(p, static_cast<int>(row), 0, p.roi.x);
      if (simd_row != nullptr) {
        simd_row(plan, y);
      } else {
        detail::resize_row_scalar(plan, y, 0, p.roi.width);
      }
      detail::fill_pad(p, static_cast<int>(row), roi_end_x, p.dst.width);
    }
  };
  // About 16k output pixels per chunk: below that, waking a thread costs more than it saves.
  const int64_t grain = std::max<int64_t>(1, 16384 / p.dst.width);
  parallel::parallel_for(row_count, grain, rows);
}

const char* cpu_driver_name(const ResizeNormalizeParams& p) {
  if (uses_separable_filter(p)) return "separable";
  return use_simd(p) ? cpu_simd_name() : "scalar";
}

const char* best_cpu_driver() {
  const char* name = cpu_simd_name();
  return name != nullptr ? name : "scalar";
}

void force_scalar_driver(bool force) { g_force_scalar.store(force); }

}  // namespace mmedge::image
