// CPU driver of the segmentation post-processing (masks.h): the logit-class map in sweeps over
// the class planes, then each source row: a run of columns sharing their two logit columns takes
// the taps' shared class at once (memset); the others (near a class boundary) sample every
// plane. Columns and rows are grouped by their first logit tap; per group of rows, the boundary
// columns' horizontal interpolations are made once for every class; each source row then needs
// one vertical lerp per class and column, swept over contiguous arrays (mask.h's sample() in
// the same order of operations, so the CUDA driver's per-pixel results are the same). A row
// of the same group as the row above copies it and redoes only its boundary columns.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mmedge/common/parallel.h"
#include "mmedge/segment/masks.h"

namespace mmedge::segment {

namespace {

#if defined(MMEDGE_HAVE_AVX2) && !defined(__clang__)
#define MMEDGE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MMEDGE_CLONES
#endif

constexpr int64_t kChunk = 4096;  // logit pixels per class-map task
constexpr int64_t kRows = 64;     // source rows per mask task

// One class plane over n logit pixels: best value and first argmax so far; check += v - v
// (0 while finite). Straight loops the compiler vectorises (AVX2 clone picked at load time).
MMEDGE_CLONES void sweep_plane(const float* __restrict plane, int c, int64_t n,
                               float* __restrict best, uint8_t* __restrict cls,
                               float* __restrict check) {
  for (int64_t k = 0; k < n; ++k) {
    const float v = plane[k];
    check[k] += v - v;
    const bool higher = v > best[k];
    best[k] = higher ? v : best[k];
    cls[k] = higher ? static_cast<uint8_t>(c) : cls[k];
  }
}

// One class of the boundary columns of a source row: v = lerp(top, bottom, w) per column,
// best value and first argmax so far, check += v - v.
MMEDGE_CLONES void sweep_rows(const float* __restrict top, const float* __restrict bottom,
                              float w, int c, int64_t n, float* __restrict best,
                              uint8_t* __restrict cls, float* __restrict check) {
  for (int64_t k = 0; k < n; ++k) {
    const float v = top[k] + w * (bottom[k] - top[k]);
    check[k] += v - v;
    const bool higher = v > best[k];
    best[k] = higher ? v : best[k];
    cls[k] = higher ? static_cast<uint8_t>(c) : cls[k];
  }
}

// The logit-class map of one image (mask.h's logit_class, plane by plane); returns the logit
// pixels with a non-finite logit.
int64_t class_map(const float* logits, int classes, int64_t plane, uint8_t* out) {
  const int64_t chunks = (plane + kChunk - 1) / kChunk;
  std::vector<int64_t> bad(chunks, 0);
  parallel::parallel_for(chunks, 1, [&](int64_t first, int64_t last) {
    std::vector<float> best(kChunk), check(kChunk);
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t begin = chunk * kChunk;
      const int64_t n = std::min(kChunk, plane - begin);
      std::memcpy(best.data(), logits + begin, n * sizeof(float));
      std::fill(check.begin(), check.begin() + n, 0.0f);
      std::fill(out + begin, out + begin + n, uint8_t{0});
      for (int64_t k = 0; k < n; ++k) check[k] += best[k] - best[k];
      for (int c = 1; c < classes; ++c) {
        sweep_plane(logits + c * plane + begin, c, n, best.data(), out + begin, check.data());
      }
      for (int64_t k = 0; k < n; ++k) {
        if (!(check[k] == 0.0f)) {
          out[begin + k] = kUnknown;
          ++bad[chunk];
        }
      }
    }
  });
  int64_t total = 0;
  for (int64_t b : bad) total += b;
  return total;
}

// The taps a shared class is checked on: i0 and the next logit (clamped), whatever the weight:
// every source coordinate with first tap i0 reads a subset of them, so one check serves all
// (a zero-weight tap included only makes the check stricter; the full computation still
// reads the coordinate's own taps).
Tap check_tap(const Tap& t, int size) { return Tap{t.i0, t.i0 + 1 < size ? t.i0 + 1 : t.i0, 0.0f}; }

// Columns [begin, end) whose first logit column is the same.
struct Run {
  int begin;
  int end;
  Tap tap;  // check_tap of the run's columns
};

std::vector<Run> column_runs(const std::vector<Tap>& tx, int size) {
  std::vector<Run> runs;
  for (int u = 0; u < static_cast<int>(tx.size()); ++u) {
    if (!runs.empty() && runs.back().tap.i0 == tx[u].i0) {
      runs.back().end = u + 1;
    } else {
      runs.push_back(Run{u, u + 1, check_tap(tx[u], size)});
    }
  }
  return runs;
}

struct Image {
  const float* logits;
  int classes;
  int height;  // logits
  int width;   // logits
  const uint8_t* class_map;
  const MaskMap* map;
  const std::vector<Tap>* tx;
  const std::vector<Run>* runs;
};

// The boundary columns of one pair of logit rows, their horizontal interpolations per class
// (class c at c * cols.size()), and per-row scratch.
struct Boundary {
  std::vector<int> cols;
  std::vector<float> top, bottom, best, check;
  std::vector<uint8_t> cls;

  void interpolate(const Image& im, const Tap& ty) {
    const int64_t n = static_cast<int64_t>(cols.size());
    const int64_t plane = static_cast<int64_t>(im.height) * im.width;
    top.resize(im.classes * n);
    bottom.resize(im.classes * n);
    best.resize(n);
    check.resize(n);
    cls.resize(n);
    for (int c = 0; c < im.classes; ++c) {
      const float* r0 = im.logits + c * plane + static_cast<int64_t>(ty.i0) * im.width;
      const float* r1 = im.logits + c * plane + static_cast<int64_t>(ty.i1) * im.width;
      float* t = top.data() + c * n;
      float* b = bottom.data() + c * n;
      for (int64_t j = 0; j < n; ++j) {
        const Tap& tx = (*im.tx)[cols[j]];
        t[j] = lerp(r0[tx.i0], r0[tx.i1], tx.w);
        b[j] = lerp(r1[tx.i0], r1[tx.i1], tx.w);
      }
    }
  }

  // wy == 0: the source row reads logit row i0 only (mask.h's zero-weight rule).
  void classify(const Image& im, float wy, uint8_t* row) {
    const int64_t n = static_cast<int64_t>(cols.size());
    if (n == 0) return;
    const float* lower = wy == 0.0f ? top.data() : bottom.data();
    for (int64_t j = 0; j < n; ++j) {
      best[j] = lerp(top[j], lower[j], wy);
      check[j] = best[j] - best[j];
      cls[j] = 0;
    }
    for (int c = 1; c < im.classes; ++c) {
      sweep_rows(top.data() + c * n, lower + c * n, wy, c, n, best.data(), cls.data(),
                 check.data());
    }
    for (int64_t j = 0; j < n; ++j) row[cols[j]] = check[j] == 0.0f ? cls[j] : kUnknown;
  }
};

void confidence_rows(const Image& im, int64_t v0, int64_t v1, uint8_t* mask, float* confidence) {
  const int w = im.map->width;
  for (int64_t v = v0; v < v1; ++v) {
    const Tap ty = axis_tap(im.map->y, static_cast<int>(v));
    for (int u = 0; u < w; ++u) {
      mask[v * w + u] = pixel_class(im.logits, im.classes, im.height, im.width, ty, (*im.tx)[u],
                                    confidence + v * w + u);
    }
  }
}

void mask_rows(const Image& im, int64_t v0, int64_t v1, uint8_t* mask) {
  const int w = im.map->width;
  const std::vector<Run>& runs = *im.runs;
  const size_t n = runs.size();
  std::vector<int> shared(n);
  Boundary boundary;
  int previous = -1;
  for (int64_t v = v0; v < v1; ++v) {
    const Tap ty = axis_tap(im.map->y, static_cast<int>(v));
    const Tap rows = check_tap(ty, im.height);
    uint8_t* row = mask + v * w;
    if (v > v0 && ty.i0 == previous) {
      std::memcpy(row, row - w, w);  // the same shared classes; boundary columns redone below
    } else {
      for (size_t r = 0; r < n; ++r) {
        shared[r] = shared_class(im.class_map, im.width, rows, runs[r].tap);
      }
      boundary.cols.clear();
      for (size_t r = 0; r < n;) {  // spans of runs with one shared class: one memset each
        if (shared[r] < 0) {
          for (int u = runs[r].begin; u < runs[r].end; ++u) boundary.cols.push_back(u);
          ++r;
          continue;
        }
        const int cls = shared[r], begin = runs[r].begin;
        while (r < n && shared[r] == cls) ++r;
        std::memset(row + begin, cls, runs[r - 1].end - begin);
      }
      boundary.interpolate(im, rows);
      previous = ty.i0;
    }
    boundary.classify(im, ty.w, row);
  }
}

std::string check_axis(const AxisMap& a, const char* name) {
  const std::string axis(name);
  if (!(std::isfinite(a.scale) && a.scale > 0.0 && std::isfinite(a.offset))) {
    return axis + ": scale must be finite and > 0 and offset finite";
  }
  if (!(a.lo >= 0.0 && a.lo <= a.hi && a.hi <= a.size - 1)) {
    return axis + ": need 0 <= lo <= hi <= logits - 1, got lo " + std::to_string(a.lo) +
           ", hi " + std::to_string(a.hi) + " for " + std::to_string(a.size) + " logits";
  }
  return "";
}

}  // namespace

std::string validate(const MaskMap& m, int classes, int logit_height, int logit_width) {
  if (classes < 1 || classes > kMaxClasses) {
    return "classes must be 1.." + std::to_string(kMaxClasses) + ", got " +
           std::to_string(classes);
  }
  if (logit_height < 1 || logit_width < 1) return "logits must be at least 1 x 1";
  if (m.width < 1 || m.height < 1 || m.width > 65536 || m.height > 65536) {
    return "frame size must be 1..65536 px, got " + std::to_string(m.width) + " x " +
           std::to_string(m.height);
  }
  if (m.x.size != logit_width || m.y.size != logit_height) {
    return "the map is for " + std::to_string(m.x.size) + " x " + std::to_string(m.y.size) +
           " logits, these are " + std::to_string(logit_width) + " x " +
           std::to_string(logit_height);
  }
  const std::string x = check_axis(m.x, "x");
  return x.empty() ? check_axis(m.y, "y") : x;
}

void masks_cpu(const float* logits, int batch, int classes, int logit_height, int logit_width,
               const MaskMap* maps, uint8_t* const* masks, float* const* confidence,
               int64_t* nonfinite) {
  const int64_t plane = static_cast<int64_t>(logit_height) * logit_width;
  std::vector<uint8_t> cmap(plane);
  for (int i = 0; i < batch; ++i) {
    const float* x = logits + static_cast<int64_t>(i) * classes * plane;
    nonfinite[i] = class_map(x, classes, plane, cmap.data());
    const MaskMap& m = maps[i];
    std::vector<Tap> tx(m.width);
    for (int u = 0; u < m.width; ++u) tx[u] = axis_tap(m.x, u);
    const std::vector<Run> runs = column_runs(tx, logit_width);
    const Image im{x, classes, logit_height, logit_width, cmap.data(), &m, &tx, &runs};
    float* conf = confidence != nullptr ? confidence[i] : nullptr;
    parallel::parallel_for(m.height, kRows, [&](int64_t v0, int64_t v1) {
      if (conf != nullptr) {
        confidence_rows(im, v0, v1, masks[i], conf);
      } else {
        mask_rows(im, v0, v1, masks[i]);
      }
    });
  }
}

}  // namespace mmedge::segment
