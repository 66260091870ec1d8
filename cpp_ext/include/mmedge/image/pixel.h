// Source images and how one source pixel is read, shared by host and device.
//
// Packed formats (GRAY, BGR, RGB, BGRA, RGBA: 1..4 interleaved 8-bit channels) are read as they
// are. YUV camera formats (4:2:0 NV12: Y plane + interleaved UV plane; I420: Y, U, V planes;
// packed 4:2:2 YUYV / UYVY) are converted per source pixel to R, G, B (by default BT.601
// limited range with OpenCV's coefficients, clamped to 0..255 like cv::cvtColor; BT.709 and full
// range by other YuvMatrix values) followed by the raw luma Y, so a resize of the result equals
// cvtColor-then-resize.
#pragma once

#include <cstdint>

#include "mmedge/common/hd.h"

namespace mmedge::image {

constexpr int kMaxChannels = 4;

enum class PixelFormat : int { kPacked = 0, kNV12 = 1, kI420 = 2, kYUV422 = 3 };

// One plane: pixel (x, y) starts at data + y * row_stride + x * col_stride (bytes; strides
// may be negative or padded).
struct Plane {
  const uint8_t* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 0;
};

// BT.601 limited range ("video range") YUV -> RGB in OpenCV's fixed-point coefficients
// (ITUR_BT_601_* / 2^20), as float.
constexpr float kYuvY = 1220542.0f / 1048576.0f;   // 1.164: per step of (Y - 16)
constexpr float kYuvVR = 1673527.0f / 1048576.0f;  // 1.596: V -> R
constexpr float kYuvUG = -409993.0f / 1048576.0f;  // -0.391: U -> G
constexpr float kYuvVG = -852492.0f / 1048576.0f;  // -0.813: V -> G
constexpr float kYuvUB = 2116026.0f / 1048576.0f;  // 2.018: U -> B

// YUV -> RGB: R = luma + vr * (V - 128), G = luma + ug * (U - 128) + vg * (V - 128),
// B = luma + ub * (U - 128), luma = max(Y - y_offset, 0) * y_scale. The default is OpenCV's
// BT.601 limited range; the binding passes BT.709 and full-range sets.
struct YuvMatrix {
  float y_offset = 16.0f;
  float y_scale = kYuvY;
  float vr = kYuvVR;
  float ug = kYuvUG;
  float vg = kYuvVG;
  float ub = kYuvUB;
};

// Byte order of a packed 4:2:2 macropixel (two pixels, four bytes): pixel x's luma is channel
// y_channel of pixel x; U and V are bytes u_byte and v_byte of the pair (YUYV: 0, 1, 3; UYVY:
// 1, 0, 2). Byte k of a pair is channel k % 2 of its pixel k / 2.
struct Packed422 {
  int y_channel = 0;
  int u_byte = 1;
  int v_byte = 3;
};

// An 8-bit image. Packed: planes[0], `channels` values per pixel `channel_stride` bytes apart.
// NV12: planes[0] = Y (H x W), planes[1] = UV (H/2 x W/2 pairs, V at channel_stride after U).
// I420: planes[0] = Y, planes[1] = U, planes[2] = V (H/2 x W/2 each). YUV422: planes[0] = the
// H x W pixels of 2 bytes (channel_stride apart) in `order`. YUV formats yield 4 values per
// pixel: R, G, B, Y.
struct SrcImage {
  PixelFormat format = PixelFormat::kPacked;
  int height = 0;    // rows, px
  int width = 0;     // columns, px
  int channels = 0;  // values per pixel: packed 1..4; YUV 4 (R, G, B, Y)
  int64_t channel_stride = 1;
  Plane planes[3];
  YuvMatrix yuv;
  Packed422 order;
};

MMEDGE_HD float clamp255(float v) { return v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v); }

// R, G, B (0..255, clamped) of one YUV sample, as cv::cvtColor computes before rounding.
MMEDGE_HD void yuv_to_rgb(const YuvMatrix& m, float y, float u, float v, float* rgb) {
  const float luma = (y > m.y_offset ? y - m.y_offset : 0.0f) * m.y_scale;
  u -= 128.0f;
  v -= 128.0f;
  rgb[0] = clamp255(luma + m.vr * v);
  rgb[1] = clamp255(luma + m.ug * u + m.vg * v);
  rgb[2] = clamp255(luma + m.ub * u);
}

MMEDGE_HD uint8_t plane_at(const Plane& p, int x, int y) {
  return p.data[y * p.row_stride + x * p.col_stride];
}

// The values of pixel (x, y): packed channels, or R, G, B, Y for YUV. Writes s.channels values.
MMEDGE_HD void read_pixel(const SrcImage& s, int x, int y, float* v) {
  if (s.format == PixelFormat::kPacked) {
    const uint8_t* p = s.planes[0].data + y * s.planes[0].row_stride + x * s.planes[0].col_stride;
    for (int k = 0; k < s.channels; ++k) v[k] = p[k * s.channel_stride];
    return;
  }
  float luma, u, w;
  if (s.format == PixelFormat::kYUV422) {
    const Plane& p = s.planes[0];
    const uint8_t* row = p.data + y * p.row_stride;
    const uint8_t* pair = row + (x >> 1) * 2 * p.col_stride;
    auto byte = [&](int k) { return pair[(k >> 1) * p.col_stride + (k & 1) * s.channel_stride]; };
    luma = row[x * p.col_stride + s.order.y_channel * s.channel_stride];
    u = byte(s.order.u_byte);
    w = byte(s.order.v_byte);
    yuv_to_rgb(s.yuv, luma, u, w, v);
    v[3] = luma;
    return;
  }
  luma = plane_at(s.planes[0], x, y);
  if (s.format == PixelFormat::kNV12) {
    const Plane& uv = s.planes[1];
    const uint8_t* p = uv.data + (y >> 1) * uv.row_stride + (x >> 1) * uv.col_stride;
    u = p[0];
    w = p[s.channel_stride];
  } else {
    u = plane_at(s.planes[1], x >> 1, y >> 1);
    w = plane_at(s.planes[2], x >> 1, y >> 1);
  }
  yuv_to_rgb(s.yuv, luma, u, w, v);
  v[3] = luma;
}

}  // namespace mmedge::image
