// Separable CPU driver: area reduction (cv::resize INTER_AREA), cubic and nearest (OpenCV), and
// antialiased bilinear and bicubic (PIL, torchvision). A horizontal pass filters every needed
// source row into a float buffer; a vertical pass filters those, then applies colour and
// normalisation into the output planes.
#include <algorithm>
#include <vector>

#include "mmedge/common/parallel.h"
#include "mmedge/image/resample.h"
#include "resize_plan.h"

namespace mmedge::image::detail {
void resize_separable_cpu(const ResizeNormalizeParams& p, int used) {
  const SrcImage& s = p.src;
  // Tables of the whole resized image; the region reads entries window.x and window.y onwards.
  const AxisFilter fx = axis_filter(p.interpolation, s.width, resized_width(p));
  const AxisFilter fy = axis_filter(p.interpolation, s.height, resized_height(p));
  const int ox = p.window.x, oy = p.window.y;
  const bool clamp_between = clamps_between_passes(p.interpolation);
  const bool clamp_out = clamps_output(p.interpolation);
  int values[kMaxChannels];  // the source values any output uses, compacted
  int nv = 0;
  for (int k = 0; k < s.channels; ++k) {
    if (used & (1 << k)) values[nv++] = k;
  }
  const int first_row = fy.first[oy];
  const int last_row = fy.first[oy + p.roi.height - 1] + fy.count[oy + p.roi.height - 1];
  const int rows = last_row - first_row;
  const int64_t row_floats = static_cast<int64_t>(p.roi.width) * nv;
  // Reused between calls; each call of a thread owns it for its duration.
  thread_local std::vector<float> scratch;
  scratch.resize(static_cast<size_t>(rows) * row_floats);
  float* tmp = scratch.data();

  const bool packed = s.format == PixelFormat::kPacked;
  parallel::parallel_for(
      rows, std::max<int64_t>(1, 8192 / std::max(1, p.roi.width)), [&](int64_t begin, int64_t end) {
        float v[kMaxChannels];
        for (int64_t r = begin; r < end; ++r) {
          const int y = first_row + static_cast<int>(r);
          float* out = tmp + r * row_floats;
          const uint8_t* row = packed ? s.planes[0].data + y * s.planes[0].row_stride : nullptr;
          for (int x = 0; x < p.roi.width; ++x) {
            float acc[kMaxChannels] = {0, 0, 0, 0};
            const int fxi = x + ox;
            const float* w = &fx.weight[static_cast<size_t>(fxi) * fx.max_taps];
            for (int t = 0; t < fx.count[fxi]; ++t) {
              const int sx = fx.first[fxi] + t;
              if (packed) {
                const uint8_t* px = row + sx * s.planes[0].col_stride;
                for (int j = 0; j < nv; ++j) acc[j] += w[t] * px[values[j] * s.channel_stride];
              } else {
                read_pixel(s, sx, y, v);
                for (int j = 0; j < nv; ++j) acc[j] += w[t] * v[values[j]];
              }
            }
            for (int j = 0; j < nv; ++j)
              out[x * nv + j] = clamp_between ? clamp255(acc[j]) : acc[j];
          }
        }
      });

  const int roi_end_x = p.roi.x + p.roi.width;
  parallel::parallel_for(
      p.dst.height, std::max<int64_t>(1, 16384 / p.dst.width), [&](int64_t begin, int64_t end) {
        float v[kMaxChannels] = {0, 0, 0, 0};
        for (int64_t row = begin; row < end; ++row) {
          const int y = static_cast<int>(row) - p.roi.y;
          if (y < 0 || y >= p.roi.height) {
            fill_pad(p, static_cast<int>(row), 0, p.dst.width);
            continue;
          }
          fill_pad(p, static_cast<int>(row), 0, p.roi.x);
          const int fyi = y + oy;
          const float* w = &fy.weight[static_cast<size_t>(fyi) * fy.max_taps];
          const int64_t out_row = row * p.dst.row_stride + p.roi.x;
          for (int x = 0; x < p.roi.width; ++x) {
            float acc[kMaxChannels] = {0, 0, 0, 0};
            for (int t = 0; t < fy.count[fyi]; ++t) {
              const float* src = tmp + (fy.first[fyi] + t - first_row) * row_floats + x * nv;
              for (int j = 0; j < nv; ++j) acc[j] += w[t] * src[j];
            }
            for (int j = 0; j < nv; ++j) v[values[j]] = clamp_out ? clamp255(acc[j]) : acc[j];
            for (int c = 0; c < p.norm.out_channels; ++c) {
              store_value(p.dst, c, out_row + x, apply_normalize(p.norm, c, v));
            }
          }
          fill_pad(p, static_cast<int>(row), roi_end_x, p.dst.width);
        }
      });
}

}  // namespace mmedge::image::detail
