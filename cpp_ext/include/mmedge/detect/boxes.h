// Box math of the detection post-processing, shared by host and device.
//
// Boxes are (x1, y1, x2, y2) in pixels with x2 >= x1 for a valid box; area and IoU follow
// torchvision.ops.box_iou (no +1 on widths: pixel edges, not pixel indices), as Ultralytics'
// and OpenCV's NMS do. A box maps from network input pixels to source-frame pixels through one
// affine map per axis (the inverse of the ImageSpec geometry: stretch, letterbox, centre crop)
// and is clipped to the frame.
#pragma once

#include <cmath>

#include "mmedge/common/hd.h"

namespace mmedge::detect {

struct Box {
  float x1, y1, x2, y2;
};

MMEDGE_HD Box box_from_center(float cx, float cy, float w, float h) {
  return Box{cx - w * 0.5f, cy - h * 0.5f, cx + w * 0.5f, cy + h * 0.5f};
}

MMEDGE_HD float box_area(const Box& b) { return (b.x2 - b.x1) * (b.y2 - b.y1); }

// Intersection over union; 0 when the union is empty.
MMEDGE_HD float box_iou(const Box& a, const Box& b) {
  const float w = fminf(a.x2, b.x2) - fmaxf(a.x1, b.x1);
  const float h = fminf(a.y2, b.y2) - fmaxf(a.y1, b.y1);
  if (w <= 0.0f || h <= 0.0f) return 0.0f;
  const float inter = w * h;
  const float uni = box_area(a) + box_area(b) - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

// Network pixels -> source pixels: x_src = x * scale_x + offset_x (the same for y), then clipped
// to [0, width] x [0, height] px of the source frame.
struct BoxMap {
  float scale_x = 1.0f;
  float offset_x = 0.0f;
  float scale_y = 1.0f;
  float offset_y = 0.0f;
  float width = 0.0f;   // source frame, px
  float height = 0.0f;  // source frame, px
};

MMEDGE_HD float clip(float v, float hi) { return v < 0.0f ? 0.0f : (v > hi ? hi : v); }

MMEDGE_HD Box map_box(const Box& b, const BoxMap& m) {
  return Box{
      clip(b.x1 * m.scale_x + m.offset_x, m.width), clip(b.y1 * m.scale_y + m.offset_y, m.height),
      clip(b.x2 * m.scale_x + m.offset_x, m.width), clip(b.y2 * m.scale_y + m.offset_y, m.height)};
}

// v - v is 0 for every finite float and NaN for NaN and the infinities.
MMEDGE_HD bool finite(float v) { return v - v == 0.0f; }

MMEDGE_HD bool box_finite(const Box& b) {
  return finite(b.x1) && finite(b.y1) && finite(b.x2) && finite(b.y2);
}

}  // namespace mmedge::detect
