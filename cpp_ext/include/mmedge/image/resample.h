// Separable filters for reducing images without aliasing: OpenCV's INTER_AREA (box average
// with fractional edge weights) and PIL / torchvision's antialiased bilinear (a triangle filter
// widened by the reduction factor). Tables are computed on the host for both the CPU and CUDA
// drivers; the accumulation is the same sum of weight * value in both.
#pragma once

#include <cmath>
#include <vector>

namespace mmedge::image {

// Per destination index d along one axis: taps first[d] .. first[d] + count[d] - 1 with
// weights weight[d * max_taps + k]; the weights of each d sum to 1.
struct AxisFilter {
  int max_taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weight;
};

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

// PIL's Image.resize(BILINEAR) / torchvision resize(antialias=True): triangle filter of support
// max(s, 1) around the centre (d + 0.5) * s, weights normalised to sum to 1 inside the image.
inline AxisFilter antialias_filter(int src_size, int dst_size) {
  const double scale = static_cast<double>(src_size) / dst_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // bilinear's support is 1
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
      const double x = (k + lo - centre + 0.5) * inv;
      w[k] = std::abs(x) < 1.0 ? 1.0 - std::abs(x) : 0.0;
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

}  // namespace mmedge::image
