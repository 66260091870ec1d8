// CPU driver of the detection post-processing (postprocess.h): decode in chunks of candidates on
// the kernel thread pool (class rows swept as contiguous runs for channels-first heads), then
// greedy NMS in score order against the kept boxes, top-k, and the map to source pixels.
#include <algorithm>
#include <sstream>
#include <vector>

#include "mmedge/common/parallel.h"
#include "mmedge/detect/decode.h"
#include "mmedge/detect/postprocess.h"

namespace mmedge::detect {
namespace {

constexpr int kChunk = 2048;  // candidates per decode task

// One class row of a channels-first head over n candidates: best score and first argmax so far,
// and check += v - v (0 while finite). Straight loops over restrict pointers that the compiler
// vectorises; the AVX2 clone is picked at load time on CPUs that have it (ifunc).
#if defined(MMEDGE_HAVE_AVX2) && !defined(__clang__)
#define MMEDGE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MMEDGE_CLONES
#endif

MMEDGE_CLONES void sweep_class_row(const float* __restrict row, int c, int n,
                                   float* __restrict best, int* __restrict cls,
                                   float* __restrict check) {
  for (int k = 0; k < n; ++k) {
    const float v = row[k];
    check[k] += v - v;
    const bool higher = v > best[k];
    best[k] = higher ? v : best[k];
    cls[k] = higher ? c : cls[k];
  }
}

MMEDGE_CLONES void sweep_finite(const float* __restrict row, int n, float* __restrict check) {
  for (int k = 0; k < n; ++k) check[k] += row[k] - row[k];
}

// Channels-first anchor-free head, best class only: candidates [begin, end) swept one class row
// at a time (contiguous loads, no per-candidate gather). check[k] accumulates v - v over every
// value of candidate k: 0 while all are finite, NaN otherwise.
void decode_rows(const DetectParams& p, const float* head, int begin, int end,
                 std::vector<Detection>& out, int64_t& bad) {
  const int n = end - begin;
  const int64_t stride = p.num_candidates;
  const int first = p.objectness ? 5 : 4;
  std::vector<float> best(head + first * stride + begin, head + first * stride + end);
  std::vector<int> cls(n, 0);
  std::vector<float> check(n, 0.0f);
  for (int c = 0; c < p.num_classes; ++c) {
    sweep_class_row(head + (first + c) * stride + begin, c, n, best.data(), cls.data(),
                    check.data());
  }
  for (int v = 0; v < first; ++v) sweep_finite(head + v * stride + begin, n, check.data());
  for (int k = 0; k < n; ++k) {
    if (!(check[k] == 0.0f)) {
      ++bad;
      continue;
    }
    const float score = p.objectness ? best[k] * head[4 * stride + begin + k] : best[k];
    if (score > p.score_threshold) {
      out.push_back(Detection{head_box(p, head, begin + k), score, cls[k]});
    }
  }
}

// Every class above the threshold is a candidate (multi_label), in candidate order.
void decode_multi_label(const DetectParams& p, const float* head, int begin, int end,
                        std::vector<Detection>& out, int64_t& bad) {
  const int first = p.objectness ? 5 : 4;
  const int values = values_per_candidate(p);
  for (int i = begin; i < end; ++i) {
    bool ok = true;
    for (int v = 0; v < values; ++v) ok = ok && finite(head_value(p, head, i, v));
    if (!ok) {
      ++bad;
      continue;
    }
    const float obj = p.objectness ? head_value(p, head, i, 4) : 1.0f;
    const Box box = head_box(p, head, i);
    for (int c = 0; c < p.num_classes; ++c) {
      const float score = head_value(p, head, i, first + c) * obj;
      if (score > p.score_threshold) out.push_back(Detection{box, score, c});
    }
  }
}

void decode_chunk(const DetectParams& p, const float* head, int begin, int end,
                  std::vector<Detection>& out, int64_t& bad) {
  if (p.kind == HeadKind::kAnchorFree && p.multi_label) {
    decode_multi_label(p, head, begin, end, out, bad);
  } else if (p.kind == HeadKind::kAnchorFree && p.channels_first && p.num_classes > 0) {
    decode_rows(p, head, begin, end, out, bad);
  } else {
    for (int i = begin; i < end; ++i) {
      Detection d;
      if (!decode_best(p, head, i, &d)) {
        ++bad;
      } else if (d.score > p.score_threshold) {
        out.push_back(d);
      }
    }
  }
}

}  // namespace

std::string validate(const DetectParams& p) {
  std::ostringstream err;
  if (p.kind != HeadKind::kAnchorFree && p.kind != HeadKind::kEnd2End)
    err << "head kind code " << static_cast<int>(p.kind) << " is unknown";
  else if (p.num_candidates < 0)
    err << "num_candidates must be >= 0, got " << p.num_candidates;
  else if (p.kind == HeadKind::kAnchorFree && p.num_classes < 1)
    err << "an anchor-free head needs num_classes >= 1, got " << p.num_classes;
  else if (!(p.score_threshold >= 0.0f && p.score_threshold < 1.0f))
    err << "score_threshold must be in [0, 1), got " << p.score_threshold;
  else if (!(p.iou_threshold >= 0.0f && p.iou_threshold <= 1.0f))
    err << "iou_threshold must be in [0, 1], got " << p.iou_threshold;
  else if (p.max_detections < 1)
    err << "max_detections must be >= 1, got " << p.max_detections;
  else if (p.max_nms_candidates < 1)
    err << "max_nms_candidates must be >= 1, got " << p.max_nms_candidates;
  return err.str();
}

std::vector<Detection> decode_cpu(const DetectParams& p, const float* head, int64_t* nonfinite) {
  const int chunks = (p.num_candidates + kChunk - 1) / kChunk;
  std::vector<std::vector<Detection>> parts(chunks);
  std::vector<int64_t> bad(chunks, 0);
  parallel::parallel_for(chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int first = static_cast<int>(c) * kChunk;
      const int last = std::min(p.num_candidates, first + kChunk);
      decode_chunk(p, head, first, last, parts[c], bad[c]);
    }
  });
  std::vector<Detection> all;
  int64_t skipped = 0;
  for (int c = 0; c < chunks; ++c) {
    all.insert(all.end(), parts[c].begin(), parts[c].end());
    skipped += bad[c];
  }
  if (nonfinite != nullptr) *nonfinite = skipped;
  return all;
}

int nms_cpu(const DetectParams& p, std::vector<Detection>& candidates, Detection* out) {
  // Score descending; equal scores keep candidate order (stable), so results are deterministic.
  auto by_score = [](const Detection& a, const Detection& b) { return a.score > b.score; };
  std::stable_sort(candidates.begin(), candidates.end(), by_score);
  if (static_cast<int64_t>(candidates.size()) > p.max_nms_candidates) {
    candidates.resize(p.max_nms_candidates);
  }
  // Kept boxes by class (one list when class-agnostic; class ids outside 0..C-1, which only
  // end2end heads can give, share the last list and compare class ids).
  const int lists = p.class_agnostic ? 1 : std::max(p.num_classes, 0) + 1;
  std::vector<std::vector<int>> by_class(lists);
  auto list_of = [&](int class_id) -> std::vector<int>& {
    if (p.class_agnostic) return by_class[0];
    return class_id >= 0 && class_id < p.num_classes ? by_class[class_id] : by_class.back();
  };
  int kept = 0;
  for (const Detection& d : candidates) {
    if (kept == p.max_detections) break;
    std::vector<int>& same = list_of(d.class_id);
    bool suppressed = false;
    for (size_t j = 0; j < same.size() && !suppressed; ++j) {
      const Detection& k = out[same[j]];
      suppressed =
          (p.class_agnostic || k.class_id == d.class_id) && box_iou(k.box, d.box) > p.iou_threshold;
    }
    if (suppressed) continue;
    same.push_back(kept);
    out[kept++] = d;
  }
  return kept;
}

int detect_cpu(const DetectParams& p, const float* head, const BoxMap& map, Detection* out,
               int64_t* nonfinite) {
  std::vector<Detection> candidates = decode_cpu(p, head, nonfinite);
  const int n = nms_cpu(p, candidates, out);
  for (int k = 0; k < n; ++k) out[k].box = map_box(out[k].box, map);
  return n;
}

void detect_batch_cpu(const DetectParams& p, const float* heads, int batch, int64_t image_stride,
                      const BoxMap* maps, Detection* out, int* counts, int64_t* nonfinite) {
  // One image at a time: each image's decode already spreads its candidates over the pool.
  for (int i = 0; i < batch; ++i) {
    counts[i] = detect_cpu(p, heads + i * image_stride, maps[i],
                           out + static_cast<int64_t>(i) * p.max_detections, &nonfinite[i]);
  }
}

}  // namespace mmedge::detect
