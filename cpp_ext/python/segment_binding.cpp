// Bindings of cpp_ext/include/mmedge/segment/masks.h. Shapes and maps are checked here before a
// kernel reads memory; problems raise ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings.h"
#include "mmedge/segment/masks.h"

namespace py = pybind11;

namespace mmedge::python {
namespace {

using segment::AxisMap;
using segment::MaskMap;
using MapArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

#define MMEDGE_REQUIRE(ok, message)                               \
  do {                                                            \
    if (!(ok)) throw std::invalid_argument(std::string(message)); \
  } while (0)

constexpr int kMapValues = 10;

// (batch, 10) rows: scale_x, offset_x, lo_x, hi_x, scale_y, offset_y, lo_y, hi_y, width, height.
std::vector<MaskMap> maps_from(const MapArray& maps, const std::vector<int64_t>& shape) {
  const int64_t batch = shape[0];
  MMEDGE_REQUIRE(maps.ndim() == 2 && maps.shape(0) == batch && maps.shape(1) == kMapValues,
                 "maps must have shape (batch, 10): scale_x, offset_x, lo_x, hi_x, scale_y, "
                 "offset_y, lo_y, hi_y, width, height");
  std::vector<MaskMap> out(batch);
  const int height = static_cast<int>(shape[2]), width = static_cast<int>(shape[3]);
  for (int64_t i = 0; i < batch; ++i) {
    const double* m = maps.data(i, 0);
    MMEDGE_REQUIRE(m[8] >= 1 && m[8] <= 65536 && m[9] >= 1 && m[9] <= 65536,
                   "frame size must be 1..65536 px");
    out[i] = MaskMap{AxisMap{m[0], m[1], m[2], m[3], width}, AxisMap{m[4], m[5], m[6], m[7], height},
                     static_cast<int>(m[8]), static_cast<int>(m[9])};
    const std::string err = segment::validate(out[i], static_cast<int>(shape[1]), height, width);
    MMEDGE_REQUIRE(err.empty(), "image " + std::to_string(i) + ": " + err);
  }
  return out;
}

void check_shape(const std::vector<int64_t>& shape) {
  MMEDGE_REQUIRE(shape.size() == 4, "logits must have shape (batch, classes, height, width)");
  MMEDGE_REQUIRE(shape[0] >= 1 && shape[0] <= 65535, "logits batch must be 1..65535");
  MMEDGE_REQUIRE(shape[1] >= 1 && shape[1] <= segment::kMaxClasses,
                 "logits have " + std::to_string(shape[1]) + " classes; masks hold 1..255");
  MMEDGE_REQUIRE(shape[2] >= 1 && shape[3] >= 1 && shape[2] * shape[3] < (int64_t{1} << 31),
                 "logits must be at least 1 x 1 and under 2^31 pixels a plane");
}

// Host outputs: masks (and confidences) per image, their pointers.
struct Outputs {
  py::list masks, confidence;
  std::vector<uint8_t*> mask_ptrs;
  std::vector<float*> conf_ptrs;
  Outputs(const std::vector<MaskMap>& maps, bool with_confidence) {
    for (const MaskMap& m : maps) {
      py::array_t<uint8_t> mask({m.height, m.width});
      mask_ptrs.push_back(mask.mutable_data());
      masks.append(mask);
      if (with_confidence) {
        py::array_t<float> conf({m.height, m.width});
        conf_ptrs.push_back(conf.mutable_data());
        confidence.append(conf);
      }
    }
  }
  py::tuple result(const std::vector<int64_t>& nonfinite, bool with_confidence) const {
    return py::make_tuple(masks, with_confidence ? py::object(confidence) : py::none(),
                          py::array(py::cast(nonfinite)));
  }
};

py::tuple segment(const py::array_t<float, py::array::c_style>& logits, const MapArray& maps,
                  bool confidence) {
  std::vector<int64_t> shape(logits.shape(), logits.shape() + logits.ndim());
  check_shape(shape);
  const std::vector<MaskMap> m = maps_from(maps, shape);
  Outputs out(m, confidence);
  std::vector<int64_t> nonfinite(shape[0]);
  {
    py::gil_scoped_release release;
    segment::masks_cpu(logits.data(), static_cast<int>(shape[0]), static_cast<int>(shape[1]),
                       static_cast<int>(shape[2]), static_cast<int>(shape[3]), m.data(),
                       out.mask_ptrs.data(), confidence ? out.conf_ptrs.data() : nullptr,
                       nonfinite.data());
  }
  return out.result(nonfinite, confidence);
}

#if defined(MMEDGE_WITH_CUDA)
py::tuple segment_cuda(uintptr_t logits_ptr, const std::vector<int64_t>& shape,
                       const MapArray& maps, bool confidence, uintptr_t stream) {
  MMEDGE_REQUIRE(logits_ptr != 0, "logits is null");
  check_shape(shape);
  const std::vector<MaskMap> m = maps_from(maps, shape);
  Outputs out(m, confidence);
  std::vector<int64_t> nonfinite(shape[0]);
  int code = 0;
  {
    py::gil_scoped_release release;
    code = segment::masks_cuda(reinterpret_cast<const float*>(logits_ptr),
                               static_cast<int>(shape[0]), static_cast<int>(shape[1]),
                               static_cast<int>(shape[2]), static_cast<int>(shape[3]), m.data(),
                               out.mask_ptrs.data(), confidence ? out.conf_ptrs.data() : nullptr,
                               nonfinite.data(), reinterpret_cast<void*>(stream));
  }
  if (code != 0) throw std::runtime_error("segment CUDA call failed, error " + std::to_string(code));
  return out.result(nonfinite, confidence);
}
#endif

}  // namespace

void bind_segment(py::module_& m) {
  constexpr const char* kDoc = R"doc(
Class masks at source resolution from segmentation logits (masks.h, mask.h): bilinear in
OpenCV's INTER_LINEAR convention through the preprocessing's inverse, then the first argmax.
logits: float32 (batch, classes, height, width), classes 1..255.
maps: float64 (batch, 10): scale_x, offset_x, lo_x, hi_x, scale_y, offset_y, lo_y, hi_y,
    width, height (mmedge.tasks.geometry.mask_map): source pixel u samples logit coordinate
    clamp((u + 0.5) * scale + offset - 0.5, lo, hi).
confidence: also return each pixel's softmax probability (every pixel samples every class).
Returns (masks: list of uint8 (height, width), 255 = a non-finite logit among its taps;
    confidences: list of float32 (height, width) or None; nonfinite (batch,): logit pixels
    with a NaN or Inf).)doc";
  m.def("segment", &segment, py::arg("logits"), py::arg("maps"), py::arg("confidence") = false,
        (std::string("On the CPU; releases the GIL.") + kDoc).c_str());
#if defined(MMEDGE_WITH_CUDA)
  m.def("segment_cuda", &segment_cuda, py::arg("logits_ptr"), py::arg("shape"), py::arg("maps"),
        py::arg("confidence") = false, py::arg("stream") = 0,
        (std::string("On the GPU from a device pointer to contiguous logits; masks copied to "
                     "the host.") +
         kDoc)
            .c_str());
#endif
}

}  // namespace mmedge::python
