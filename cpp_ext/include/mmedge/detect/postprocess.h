// Detection post-processing: decode a detector's raw head into scored boxes, non-maximum
// suppression (per class or class-agnostic), top-k, and the map back to source-frame pixels.
//
// Heads (HeadKind):
//   kAnchorFree  one tensor of N candidates x V values: the box (cx, cy, w, h or x1, y1, x2, y2,
//                network px), an objectness score when `objectness` (YOLOv5), then C class
//                scores (already sigmoid-ed, as Ultralytics exports them). V = 4 + obj + C.
//                Channels-first (V, N) as YOLOv8/11 export it, or candidates-first (N, V).
//                A candidate's score is max_c(cls_c) (times obj), its class the first argmax;
//                multi_label keeps every class above the threshold instead.
//   kEnd2End     one tensor of N rows (x1, y1, x2, y2, score, class), NMS already done in the
//                graph (YOLOv10, NMS-exported models): only the threshold, top-k and mapping.
// Candidates scoring <= score_threshold are dropped (strict, as Ultralytics and OpenCV); a
// candidate with a NaN or Inf value is never emitted and is counted. NMS is greedy in order of
// score (ties: lower candidate index first): a box is suppressed by a kept box of its class (any
// class when class_agnostic) whose IoU with it is > iou_threshold; this is
// torchvision.ops.batched_nms followed by the first max_detections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmedge/detect/boxes.h"

namespace mmedge::detect {

enum class HeadKind : int { kAnchorFree = 0, kEnd2End = 1 };

struct DetectParams {
  HeadKind kind = HeadKind::kAnchorFree;
  int num_candidates = 0;      // N
  int num_classes = 0;         // C (kEnd2End: the label count, for checking class ids)
  bool channels_first = true;  // (V, N) rather than (N, V)
  bool objectness = false;     // a score between the box and the class scores
  bool xywh = true;            // boxes as centre and size (kAnchorFree)
  float score_threshold = 0.25f;
  float iou_threshold = 0.45f;
  int max_detections = 300;
  int max_nms_candidates = 30000;  // the best this many go into NMS (Ultralytics' max_nms)
  bool class_agnostic = false;
  bool multi_label = false;
};

// Values per candidate of the head tensor.
inline int values_per_candidate(const DetectParams& p) {
  return p.kind == HeadKind::kEnd2End ? 6 : 4 + (p.objectness ? 1 : 0) + p.num_classes;
}

struct Detection {
  Box box;  // source-frame px after mapping (network px before)
  float score;
  int class_id;
};

// Returns an empty string when `p` is valid, else a message naming the bad field.
std::string validate(const DetectParams& p);

// One image's head (num_candidates x values_per_candidate floats in the declared layout,
// contiguous) -> at most max_detections detections in `out`, by score descending, mapped with
// `map`. Returns the count; *nonfinite gets the candidates skipped for NaN/Inf.
int detect_cpu(const DetectParams& p, const float* head, const BoxMap& map, Detection* out,
               int64_t* nonfinite);

// `batch` images, head i at heads + i * image_stride floats, out i at out + i * max_detections;
// images run on the kernel thread pool. counts[i] and nonfinite[i] per image.
void detect_batch_cpu(const DetectParams& p, const float* heads, int batch, int64_t image_stride,
                      const BoxMap* maps, Detection* out, int* counts, int64_t* nonfinite);

// The candidates of one image above the threshold, in network px (decode only: for tests and
// for the CUDA driver's host side).
std::vector<Detection> decode_cpu(const DetectParams& p, const float* head, int64_t* nonfinite);

// Greedy NMS + top-k of candidates (any order) -> `out`, by score descending; returns the count.
int nms_cpu(const DetectParams& p, std::vector<Detection>& candidates, Detection* out);

#if defined(MMEDGE_WITH_CUDA)
// Decodes `batch` device heads on `stream` (threshold and best class on the GPU, one thread per
// candidate, compacted), then NMS, top-k and mapping on the host with nms_cpu(): the same
// results as detect_batch_cpu(). Returns a CUDA error code (0 = success).
int detect_batch_cuda(const DetectParams& p, const float* device_heads, int batch,
                      int64_t image_stride, const BoxMap* maps, Detection* out, int* counts,
                      int64_t* nonfinite, void* stream);
#endif

}  // namespace mmedge::detect
