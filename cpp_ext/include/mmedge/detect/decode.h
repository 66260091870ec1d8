// Decoding one candidate of a detection head, shared by host and device: its box in network
// pixels, its best class (the first argmax, as torch.max) and score. The CPU driver sweeps whole
// class rows at a time for speed with the same comparisons; the CUDA driver calls this per thread.
#pragma once

#include <cstdint>

#include "mmedge/common/hd.h"
#include "mmedge/detect/boxes.h"
#include "mmedge/detect/postprocess.h"

namespace mmedge::detect {

// Value v of candidate i of a head laid out as `p` declares.
MMEDGE_HD float head_value(const DetectParams& p, const float* head, int i, int v) {
  const int values = p.kind == HeadKind::kEnd2End ? 6 : 4 + (p.objectness ? 1 : 0) + p.num_classes;
  return p.channels_first ? head[static_cast<int64_t>(v) * p.num_candidates + i]
                          : head[static_cast<int64_t>(i) * values + v];
}

MMEDGE_HD Box head_box(const DetectParams& p, const float* head, int i) {
  const float a = head_value(p, head, i, 0), b = head_value(p, head, i, 1);
  const float c = head_value(p, head, i, 2), d = head_value(p, head, i, 3);
  return p.kind == HeadKind::kAnchorFree && p.xywh ? box_from_center(a, b, c, d) : Box{a, b, c, d};
}

// Best class of candidate i: score (times the objectness) and class id. Returns false when any
// value of the candidate is NaN or Inf (then *d is unspecified).
MMEDGE_HD bool decode_best(const DetectParams& p, const float* head, int i, Detection* d) {
  d->box = head_box(p, head, i);
  bool ok = box_finite(d->box);
  if (p.kind == HeadKind::kEnd2End) {
    d->score = head_value(p, head, i, 4);
    const float cls = head_value(p, head, i, 5);
    d->class_id = static_cast<int>(cls);
    return ok && finite(d->score) && finite(cls);
  }
  const int first = p.objectness ? 5 : 4;
  float best = head_value(p, head, i, first);
  int best_c = 0;
  ok = ok && finite(best);
  for (int c = 1; c < p.num_classes; ++c) {
    const float s = head_value(p, head, i, first + c);
    ok = ok && finite(s);
    if (s > best) {
      best = s;
      best_c = c;
    }
  }
  if (p.objectness) {
    const float obj = head_value(p, head, i, 4);
    ok = ok && finite(obj);
    best *= obj;
  }
  d->score = best;
  d->class_id = best_c;
  return ok;
}

}  // namespace mmedge::detect
