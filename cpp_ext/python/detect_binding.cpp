// Bindings of cpp_ext/include/mmedge/detect/postprocess.h. The head's shape and layout and the
// parameters are checked here before a kernel reads memory; problems raise ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings.h"
#include "mmedge/detect/postprocess.h"

namespace py = pybind11;

namespace mmedge::python {
namespace {

using detect::BoxMap;
using detect::Detection;
using detect::DetectParams;
using detect::HeadKind;
using FloatArray = py::array_t<float, py::array::c_style>;

#define MMEDGE_REQUIRE(ok, message)                               \
  do {                                                            \
    if (!(ok)) throw std::invalid_argument(std::string(message)); \
  } while (0)

template <typename T>
T get(const py::dict& d, const char* key, T fallback) {
  return d.contains(key) ? d[key].cast<T>() : fallback;
}

// Parameters from the head's options (mmedge.tasks.DetectionHead.kernel_params()).
DetectParams params_from(const py::dict& d) {
  DetectParams p;
  const std::string kind = get<std::string>(d, "kind", "anchor_free");
  MMEDGE_REQUIRE(kind == "anchor_free" || kind == "end2end",
                 "kind must be anchor_free or end2end, got '" + kind + "'");
  p.kind = kind == "end2end" ? HeadKind::kEnd2End : HeadKind::kAnchorFree;
  p.num_classes = get<int>(d, "num_classes", 0);
  p.channels_first = get<bool>(d, "channels_first", kind == "anchor_free");
  p.objectness = get<bool>(d, "objectness", false);
  p.xywh = get<std::string>(d, "box_format", "cxcywh") == "cxcywh";
  p.score_threshold = get<float>(d, "score_threshold", 0.25f);
  p.iou_threshold = get<float>(d, "iou_threshold", 0.45f);
  p.max_detections = get<int>(d, "max_detections", 300);
  p.max_nms_candidates = get<int>(d, "max_nms_candidates", 30000);
  p.class_agnostic = get<bool>(d, "class_agnostic", false);
  p.multi_label = get<bool>(d, "multi_label", false);
  return p;
}

// Sets num_candidates from a (B, V, N) or (B, N, V) head shape and checks V.
void fit_shape(DetectParams& p, const std::vector<int64_t>& shape) {
  MMEDGE_REQUIRE(shape.size() == 3,
                 "head must have shape (batch, values, candidates) or "
                 "(batch, candidates, values)");
  const int64_t values = shape[p.channels_first ? 1 : 2];
  const int64_t candidates = shape[p.channels_first ? 2 : 1];
  const int want = detect::values_per_candidate(p);
  MMEDGE_REQUIRE(values == want, "head has " + std::to_string(values) +
                                     " values per candidate, the declared head needs " +
                                     std::to_string(want));
  MMEDGE_REQUIRE(candidates < (int64_t{1} << 30), "head has too many candidates");
  p.num_candidates = static_cast<int>(candidates);
  const std::string err = detect::validate(p);
  MMEDGE_REQUIRE(err.empty(), err);
}

std::vector<BoxMap> maps_from(const py::array_t<float, py::array::c_style>& maps, int64_t batch) {
  MMEDGE_REQUIRE(maps.ndim() == 2 && maps.shape(0) == batch && maps.shape(1) == 6,
                 "maps must have shape (batch, 6): scale_x, offset_x, scale_y, offset_y, width, "
                 "height");
  std::vector<BoxMap> out(batch);
  for (int64_t i = 0; i < batch; ++i) {
    const float* m = maps.data(i, 0);
    out[i] = BoxMap{m[0], m[1], m[2], m[3], m[4], m[5]};
  }
  return out;
}

// (boxes (total, 4), scores (total,), class_ids (total,), counts (batch,), nonfinite (batch,)),
// image i's detections being rows sum(counts[:i]) .. + counts[i].
py::tuple results(const std::vector<Detection>& all, const std::vector<int>& counts,
                  const std::vector<int64_t>& nonfinite, int max_detections) {
  int64_t total = 0;
  for (int c : counts) total += c;
  py::array_t<float> boxes({total, int64_t{4}});
  py::array_t<float> scores(total);
  py::array_t<int32_t> classes(total);
  int64_t row = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    for (int k = 0; k < counts[i]; ++k, ++row) {
      const Detection& d = all[i * max_detections + k];
      float* b = boxes.mutable_data(row, 0);
      b[0] = d.box.x1;
      b[1] = d.box.y1;
      b[2] = d.box.x2;
      b[3] = d.box.y2;
      scores.mutable_at(row) = d.score;
      classes.mutable_at(row) = d.class_id;
    }
  }
  return py::make_tuple(boxes, scores, classes, py::array(py::cast(counts)),
                        py::array(py::cast(nonfinite)));
}

py::tuple detect(const FloatArray& head, const py::dict& options,
                 const py::array_t<float, py::array::c_style>& maps) {
  DetectParams p = params_from(options);
  std::vector<int64_t> shape(head.shape(), head.shape() + head.ndim());
  fit_shape(p, shape);
  const int64_t batch = shape[0];
  MMEDGE_REQUIRE(batch >= 1 && batch < (1 << 20), "head batch must be >= 1");
  const std::vector<BoxMap> m = maps_from(maps, batch);
  std::vector<Detection> all(static_cast<size_t>(batch) * p.max_detections);
  std::vector<int> counts(batch);
  std::vector<int64_t> nonfinite(batch);
  const int64_t stride = shape[1] * shape[2];
  {
    py::gil_scoped_release release;
    detect::detect_batch_cpu(p, head.data(), static_cast<int>(batch), stride, m.data(), all.data(),
                             counts.data(), nonfinite.data());
  }
  return results(all, counts, nonfinite, p.max_detections);
}

#if defined(MMEDGE_WITH_CUDA)
py::tuple detect_cuda(uintptr_t head_ptr, const std::vector<int64_t>& shape,
                      const py::dict& options, const py::array_t<float, py::array::c_style>& maps,
                      uintptr_t stream) {
  MMEDGE_REQUIRE(head_ptr != 0, "head is null");
  DetectParams p = params_from(options);
  fit_shape(p, shape);
  const int64_t batch = shape[0];
  const std::vector<BoxMap> m = maps_from(maps, batch);
  std::vector<Detection> all(static_cast<size_t>(batch) * p.max_detections);
  std::vector<int> counts(batch);
  std::vector<int64_t> nonfinite(batch);
  int code = 0;
  {
    py::gil_scoped_release release;
    code = detect::detect_batch_cuda(
        p, reinterpret_cast<const float*>(head_ptr), static_cast<int>(batch), shape[1] * shape[2],
        m.data(), all.data(), counts.data(), nonfinite.data(), reinterpret_cast<void*>(stream));
  }
  if (code != 0) throw std::runtime_error("detect CUDA call failed, error " + std::to_string(code));
  return results(all, counts, nonfinite, p.max_detections);
}
#endif

}  // namespace

void bind_detect(py::module_& m) {
  constexpr const char* kDoc = R"doc(
Decode + NMS + top-k + map to source pixels of a detector head (postprocess.h).
head: float32 (batch, values, candidates) when options['channels_first'] (YOLOv8/11 exports),
    else (batch, candidates, values); values = 4 + objectness + num_classes (anchor_free) or 6
    (end2end: x1, y1, x2, y2, score, class).
options: kind, num_classes, channels_first, objectness, box_format ('cxcywh' | 'xyxy'),
    score_threshold, iou_threshold, max_detections, max_nms_candidates, class_agnostic,
    multi_label.
maps: float32 (batch, 6): scale_x, offset_x, scale_y, offset_y, width, height per image
    (source = network * scale + offset, clipped to width x height px).
Returns (boxes (total, 4), scores, class_ids, counts (batch,), nonfinite (batch,)).)doc";
  m.def("detect", &detect, py::arg("head"), py::arg("options"), py::arg("maps"),
        (std::string("On the CPU; releases the GIL.") + kDoc).c_str());
#if defined(MMEDGE_WITH_CUDA)
  m.def("detect_cuda", &detect_cuda, py::arg("head_ptr"), py::arg("shape"), py::arg("options"),
        py::arg("maps"), py::arg("stream") = 0,
        (std::string("Decode on the GPU (a device pointer to a contiguous head), NMS on the "
                     "host; best class only.") +
         kDoc)
            .c_str());
#endif
}

}  // namespace mmedge::python
