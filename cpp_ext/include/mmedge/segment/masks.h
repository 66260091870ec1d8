// Segmentation post-processing: a batch of logits (B, C, H_l, W_l) -> one class mask per image
// at that image's source resolution (uint8, H x W), and optionally each pixel's softmax
// confidence; the math is mask.h's.
#pragma once

#include <cstdint>
#include <string>

#include "mmedge/segment/mask.h"

namespace mmedge::segment {

struct MaskMap {
  AxisMap x;
  AxisMap y;
  int width;   // source frame, px
  int height;  // source frame, px
};

// Returns an empty string when the map fits logits of width x height, else what is wrong.
std::string validate(const MaskMap& map, int classes, int logit_height, int logit_width);

// Image i: logits at logits + i * C * H_l * W_l; its mask (and confidence, when not null) at
// masks[i] (confidence[i]), maps[i].height x maps[i].width. nonfinite[i]: logit pixels with a
// NaN or Inf logit. Rows run on the kernel thread pool. With confidence every pixel samples
// every plane; without, only pixels near a class boundary do (mask.h).
void masks_cpu(const float* logits, int batch, int classes, int logit_height, int logit_width,
               const MaskMap* maps, uint8_t* const* masks, float* const* confidence,
               int64_t* nonfinite);

#if defined(MMEDGE_WITH_CUDA)
// The same on the GPU from device logits on `stream` (one thread per logit pixel for the class
// map, then one per source pixel), masks and confidences copied back to the host pointers.
// Returns a CUDA error code (0 = success).
int masks_cuda(const float* device_logits, int batch, int classes, int logit_height,
               int logit_width, const MaskMap* maps, uint8_t* const* masks,
               float* const* confidence, int64_t* nonfinite, void* stream);
#endif

}  // namespace mmedge::segment
