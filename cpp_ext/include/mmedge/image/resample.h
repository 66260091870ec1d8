// Separable filters: OpenCV's INTER_AREA (box average with fractional edge weights),
// INTER_CUBIC, INTER_NEAREST and INTER_NEAREST_EXACT, and PIL / torchvision's antialiased
// bilinear and bicubic (the kernel widened by the reduction factor). Tables are computed on the
// host for both the CPU and CUDA drivers; the accumulation is the same sum of weight * value in
// both.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "mmedge/image/preprocess.h"

namespace mmedge::image {

// Per destination index d along one axis: taps first[d] .. first[d] + count[d] - 1 with
// weights weight[d * max_taps + k]; the weights of each d sum to 1.
struct AxisFilter {
  int max_taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weight;
};

// Packs per-destination (source index, weight) taps into an AxisFilter. Taps of one destination
// may repeat an index (edge-clamped taps of a cubic kernel): their weights add up on it.
inline AxisFilter pack_taps(const std::vector<std::vector<std::pair<int, double>>>& taps) {
  AxisFilter f;
  const size_t n = taps.size();
  f.first.assign(n, 0);
  f.count.assign(n, 0);
  f.max_taps = 1;
  for (size_t d = 0; d < n; ++d) {
    if (taps[d].empty()) continue;
    int lo = taps[d].front().first, hi = lo;
    for (const auto& t : taps[d]) {
      lo = std::min(lo, t.first);
      hi = std::max(hi, t.first);
    }
    f.first[d] = lo;
    f.count[d] = hi - lo + 1;
    f.max_taps = std::max(f.max_taps, f.count[d]);
  }
  f.weight.assign(n * f.max_taps, 0.0f);
  for (size_t d = 0; d < n; ++d) {
    std::vector<double> w(f.count[d], 0.0);
    for (const auto& t : taps[d]) w[t.first - f.first[d]] += t.second;
    for (int k = 0; k < f.count[d]; ++k) f.weight[d * f.max_taps + k] = static_cast<float>(w[k]);
  }
  return f;
}

// cv::resize INTER_AREA when the axis is reduced (src_size >= dst_size): destination pixel d
// covers source [d * s, (d + 1) * s), s = src/dst; each source pixel weighs its overlap.
inline AxisFilter area_filter(int src_size, int dst_size) {
  const double scale = 1.0 / (static_cast<double>(dst_size) / src_size);
  std::vector<std::vector<std::pair<int, float>>> taps(dst_size);
  int max_taps = 1;
  for (int d = 0; d < dst_size; ++d) {
    const double f1 = d * scale;
    const double f2 = f1 + scale;
    const double cell = std::min(scale, src_size - f1);
    int s1 = static_cast<int>(std::ceil(f1));
    int s2 = static_cast<int>(std::floor(f2));
    s2 = std::min(s2, src_size - 1);
    s1 = std::min(s1, s2);
    auto& t = taps[d];
    if (s1 - f1 > 1e-3) t.emplace_back(s1 - 1, static_cast<float>((s1 - f1) / cell));
    for (int s = s1; s < s2; ++s) t.emplace_back(s, static_cast<float>(1.0 / cell));
    if (f2 - s2 > 1e-3) {
      t.emplace_back(s2, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell));
    }
    max_taps = std::max<int>(max_taps, static_cast<int>(t.size()));
  }
  AxisFilter f;
  f.max_taps = max_taps;
  f.first.resize(dst_size);
  f.count.resize(dst_size);
  f.weight.assign(static_cast<size_t>(dst_size) * max_taps, 0.0f);
  for (int d = 0; d < dst_size; ++d) {
    const auto& t = taps[d];
    f.first[d] = t.empty() ? 0 : t.front().first;
    f.count[d] = static_cast<int>(t.size());
    for (size_t k = 0; k < t.size(); ++k) {
      // Taps are consecutive source indices from first[d].
      f.weight[d * max_taps + (t[k].first - f.first[d])] = t[k].second;
    }
  }
  return f;
}

// PIL's resampling filters (ImagingResample's precompute_coeffs), which torchvision's
// antialias=True reproduces: `kernel` of half-width `support` source pixels, widened by the
// reduction factor max(s, 1) around the centre (d + 0.5) * s, weights normalised to sum to 1
// inside the image.
template <typename Kernel>
AxisFilter pil_filter(int src_size, int dst_size, double kernel_support, Kernel kernel) {
  const double scale = static_cast<double>(src_size) / dst_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kernel_support * filterscale;
  const double inv = 1.0 / filterscale;
  AxisFilter f;
  f.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  f.first.resize(dst_size);
  f.count.resize(dst_size);
  f.weight.assign(static_cast<size_t>(dst_size) * f.max_taps, 0.0f);
  std::vector<double> w(f.max_taps);
  for (int d = 0; d < dst_size; ++d) {
    const double centre = (d + 0.5) * scale;
    int lo = static_cast<int>(centre - support + 0.5);  // truncation, as PIL and torch
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(centre + support + 0.5);
    if (hi > src_size) hi = src_size;
    const int n = std::min(hi - lo, f.max_taps);
    double total = 0.0;
    for (int k = 0; k < n; ++k) {
      w[k] = kernel((k + lo - centre + 0.5) * inv);
      total += w[k];
    }
    f.first[d] = lo;
    f.count[d] = n;
    for (int k = 0; k < n; ++k) {
      f.weight[d * f.max_taps + k] = static_cast<float>(total != 0.0 ? w[k] / total : 0.0);
    }
  }
  return f;
}

// PIL BILINEAR / torchvision antialias=True bilinear: the triangle of support 1.
inline AxisFilter antialias_filter(int src_size, int dst_size) {
  return pil_filter(src_size, dst_size, 1.0,
                    [](double x) { return std::abs(x) < 1.0 ? 1.0 - std::abs(x) : 0.0; });
}

// PIL BICUBIC / torchvision antialias=True bicubic: Keys' cubic with a = -0.5, support 2.
inline AxisFilter bicubic_antialias_filter(int src_size, int dst_size) {
  return pil_filter(src_size, dst_size, 2.0, [](double x) {
    constexpr double a = -0.5;
    x = std::abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
  });
}

// cv::resize INTER_CUBIC: four taps floor(f) - 1 .. floor(f) + 2 around f = (d + 0.5) * s - 0.5
// (float, as OpenCV), Keys' cubic with a = -0.75 in OpenCV's float form, no widening when
// reducing; taps past the edge read the edge pixel (BORDER_REPLICATE).
inline AxisFilter cubic_filter(int src_size, int dst_size) {
  const double scale = 1.0 / (static_cast<double>(dst_size) / src_size);
  std::vector<std::vector<std::pair<int, double>>> taps(dst_size);
  for (int d = 0; d < dst_size; ++d) {
    const float f = static_cast<float>((d + 0.5) * scale - 0.5);
    const int sx = static_cast<int>(std::floor(f));
    const float t = f - static_cast<float>(sx);
    constexpr float a = -0.75f;
    float c[4];
    c[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
    c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    c[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
    c[3] = 1.0f - c[0] - c[1] - c[2];
    for (int k = 0; k < 4; ++k) {
      taps[d].emplace_back(std::clamp(sx - 1 + k, 0, src_size - 1), c[k]);
    }
  }
  return pack_taps(taps);
}

// cv::resize INTER_NEAREST (and torch 'nearest' up to float32 rounding of the scale): source
// pixel floor(d * s), s = 1 / (dst / src) in double.
inline AxisFilter nearest_filter(int src_size, int dst_size) {
  const double scale = 1.0 / (static_cast<double>(dst_size) / src_size);
  std::vector<std::vector<std::pair<int, double>>> taps(dst_size);
  for (int d = 0; d < dst_size; ++d) {
    taps[d].emplace_back(std::min(static_cast<int>(std::floor(d * scale)), src_size - 1), 1.0);
  }
  return pack_taps(taps);
}

// cv::resize INTER_NEAREST_EXACT = PIL NEAREST: the pixel under the centre (d + 0.5) * s, with
// the centre accumulated in double from s / 2 by steps of s = src / dst as PIL's affine
// transform does (OpenCV matches it bit for bit; a closed form differs at exact ties).
inline AxisFilter nearest_exact_filter(int src_size, int dst_size) {
  const double step = static_cast<double>(src_size) / dst_size;
  std::vector<std::vector<std::pair<int, double>>> taps(dst_size);
  double centre = step * 0.5;
  for (int d = 0; d < dst_size; ++d, centre += step) {
    taps[d].emplace_back(std::min(static_cast<int>(centre), src_size - 1), 1.0);
  }
  return pack_taps(taps);
}

// The table of a separable mode along one axis (callers check uses_separable_filter()).
inline AxisFilter axis_filter(Interpolation mode, int src_size, int dst_size) {
  switch (mode) {
    case Interpolation::kArea:
      return area_filter(src_size, dst_size);
    case Interpolation::kBicubic:
      return cubic_filter(src_size, dst_size);
    case Interpolation::kBicubicAntialias:
      return bicubic_antialias_filter(src_size, dst_size);
    case Interpolation::kNearest:
      return nearest_filter(src_size, dst_size);
    case Interpolation::kNearestExact:
      return nearest_exact_filter(src_size, dst_size);
    default:
      return antialias_filter(src_size, dst_size);
  }
}

// Cubic kernels overshoot; the peers' 8-bit paths saturate to 0..255: PIL (and torchvision's
// uint8 antialias kernels) after each pass, OpenCV after the second (its first pass keeps
// integers). Other modes are convex combinations and never leave 0..255.
inline bool clamps_between_passes(Interpolation mode) {
  return mode == Interpolation::kBicubicAntialias;
}
inline bool clamps_output(Interpolation mode) {
  return mode == Interpolation::kBicubic || mode == Interpolation::kBicubicAntialias;
}

}  // namespace mmedge::image
