// Bindings of cpp_ext/include/mmedge/image/preprocess.h. Every argument is checked here (shape,
// dtype, strides, sizes) before a kernel touches memory; problems raise ValueError naming the
// argument.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings.h"
#include "mmedge/audio/features.h"
#include "mmedge/image/preprocess.h"

namespace py = pybind11;

namespace mmedge::python {
namespace {

using image::OutType;
using image::PixelFormat;
using image::ResizeNormalizeParams;

// One plane as memory: address, shape and byte strides (numpy's or __cuda_array_interface__'s).
struct PlaneDesc {
  uintptr_t ptr = 0;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// Throws ValueError(message) unless ok; the message is only built on failure (these checks run
// on every frame).
#define MMEDGE_REQUIRE(ok, message)                               \
  do {                                                            \
    if (!(ok)) throw std::invalid_argument(std::string(message)); \
  } while (0)

// The names Python passes (ImageSpec's spellings; exported as PLANE_LAYOUTS / INTERPOLATIONS).
template <typename E>
struct Named {
  const char* name;
  E value;
};
constexpr Named<PixelFormat> kPlaneLayouts[] = {{"packed", PixelFormat::kPacked},
                                                {"NV12", PixelFormat::kNV12},
                                                {"I420", PixelFormat::kI420},
                                                {"YUYV", PixelFormat::kYUV422},
                                                {"UYVY", PixelFormat::kYUV422}};
constexpr Named<image::Interpolation> kInterpolations[] = {
    {"bilinear", image::Interpolation::kBilinear},
    {"area", image::Interpolation::kArea},
    {"bilinear_antialias", image::Interpolation::kBilinearAntialias},
    {"bicubic", image::Interpolation::kBicubic},
    {"bicubic_antialias", image::Interpolation::kBicubicAntialias},
    {"nearest", image::Interpolation::kNearest},
    {"nearest_exact", image::Interpolation::kNearestExact}};

template <typename E, size_t N>
E from_name(const std::string& name, const Named<E> (&table)[N], const char* what) {
  std::string known;
  for (const auto& entry : table) {
    if (name == entry.name) return entry.value;
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw std::invalid_argument(std::string(what) + " must be one of " + known + ", got '" + name +
                              "'");
}

template <typename E, size_t N>
py::tuple names_of(const Named<E> (&table)[N]) {
  py::list names;
  for (const auto& entry : table) names.append(entry.name);
  return py::tuple(names);
}

image::Plane plane_of(const PlaneDesc& d) {
  return image::Plane{reinterpret_cast<const uint8_t*>(d.ptr), d.strides[0], d.strides[1]};
}

// The source image the planes describe, or ValueError naming the plane and what is wrong.
image::SrcImage source_from_planes(const std::string& layout, const std::vector<PlaneDesc>& planes,
                                   const std::vector<float>& yuv) {
  const PixelFormat format = from_name(layout, kPlaneLayouts, "format");
  const bool one_plane = format == PixelFormat::kPacked || format == PixelFormat::kYUV422;
  const size_t expected = one_plane ? 1 : format == PixelFormat::kNV12 ? 2 : 3;
  MMEDGE_REQUIRE(planes.size() == expected, "this format needs " + std::to_string(expected) +
                                                " plane(s), got " + std::to_string(planes.size()));
  for (size_t i = 0; i < planes.size(); ++i) {
    MMEDGE_REQUIRE(planes[i].ptr != 0, "plane " + std::to_string(i) + " is null");
    MMEDGE_REQUIRE(planes[i].strides.size() == planes[i].shape.size(),
                   "plane " + std::to_string(i) + " has " + std::to_string(planes[i].shape.size()) +
                       " dimensions but " + std::to_string(planes[i].strides.size()) + " strides");
  }
  image::SrcImage s;
  s.format = format;
  if (!yuv.empty()) {
    MMEDGE_REQUIRE(yuv.size() == 6,
                   "yuv must be 6 numbers (y_offset, y_scale, vr, ug, vg, ub), "
                   "got " +
                       std::to_string(yuv.size()));
    s.yuv = image::YuvMatrix{yuv[0], yuv[1], yuv[2], yuv[3], yuv[4], yuv[5]};
  }
  const PlaneDesc& p0 = planes[0];
  if (format == PixelFormat::kYUV422) {
    MMEDGE_REQUIRE(p0.shape.size() == 3 && p0.shape[2] == 2,
                   layout + " image must have shape (H, W, 2), got " + shape_text(p0.shape));
    s.channels = 4;  // R, G, B, Y
    s.channel_stride = p0.strides[2];
    s.order = layout == "YUYV" ? image::Packed422{0, 1, 3} : image::Packed422{1, 0, 2};
  } else if (format == PixelFormat::kPacked) {
    MMEDGE_REQUIRE(p0.shape.size() == 3,
                   "image must have shape (H, W, C), got " + shape_text(p0.shape));
    MMEDGE_REQUIRE(p0.shape[2] >= 1 && p0.shape[2] <= image::kMaxChannels,
                   "image must have 1.." + std::to_string(image::kMaxChannels) + " channels, got " +
                       std::to_string(p0.shape[2]));
    s.channels = static_cast<int>(p0.shape[2]);
    s.channel_stride = p0.strides[2];
  } else {
    MMEDGE_REQUIRE(p0.shape.size() == 2,
                   "Y plane must have shape (H, W), got " + shape_text(p0.shape));
    s.channels = 4;  // R, G, B, Y
  }
  MMEDGE_REQUIRE(
      p0.shape[0] > 0 && p0.shape[1] > 0,
      "image is empty: " + std::to_string(p0.shape[0]) + "x" + std::to_string(p0.shape[1]) + " px");
  MMEDGE_REQUIRE(p0.shape[0] < (1 << 30) && p0.shape[1] < (1 << 30), "image is too large");
  s.height = static_cast<int>(p0.shape[0]);
  s.width = static_cast<int>(p0.shape[1]);
  s.planes[0] = plane_of(p0);
  if (format == PixelFormat::kYUV422) {
    MMEDGE_REQUIRE(s.width % 2 == 0,
                   "YUV 4:2:2 images need an even width, got " + std::to_string(s.width) + " px");
    return s;
  }
  if (format == PixelFormat::kPacked) return s;
  MMEDGE_REQUIRE(s.width % 2 == 0 && s.height % 2 == 0,
                 "YUV 4:2:0 images need an even width and height, got " + std::to_string(s.width) +
                     "x" + std::to_string(s.height) + " px");
  const std::vector<int64_t> chroma = {s.height / 2, s.width / 2};
  if (format == PixelFormat::kNV12) {
    const PlaneDesc& uv = planes[1];
    const std::vector<int64_t> want = {chroma[0], chroma[1], 2};
    MMEDGE_REQUIRE(uv.shape == want, "UV plane must have shape " + shape_text(want) + " for a " +
                                         std::to_string(s.width) + "x" + std::to_string(s.height) +
                                         " image, got " + shape_text(uv.shape));
    s.planes[1] = plane_of(uv);
    s.channel_stride = uv.strides[2];
  } else {
    for (int i = 1; i <= 2; ++i) {
      MMEDGE_REQUIRE(planes[i].shape == chroma, std::string(i == 1 ? "U" : "V") +
                                                    " plane must have shape " + shape_text(chroma) +
                                                    ", got " + shape_text(planes[i].shape));
      s.planes[i] = plane_of(planes[i]);
    }
  }
  return s;
}

PlaneDesc host_plane(const py::array& a, size_t index) {
  MMEDGE_REQUIRE(
      a.dtype().kind() == 'u' && a.itemsize() == 1,
      "plane " + std::to_string(index) + " must be uint8, got " + std::string(py::str(a.dtype())));
  PlaneDesc d;
  d.ptr = reinterpret_cast<uintptr_t>(a.data());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    d.shape.push_back(a.shape(i));
    d.strides.push_back(a.strides(i));
  }
  return d;
}

OutType out_type_from_name(const std::string& name) {
  if (name == "float32") return OutType::kFloat32;
  if (name == "float16") return OutType::kFloat16;
  throw std::invalid_argument("out dtype must be float32 or float16, got " + name);
}

int64_t element_stride(int64_t bytes, int64_t itemsize, const char* what) {
  MMEDGE_REQUIRE(bytes % itemsize == 0, std::string("out ") + what + " stride of " +
                                            std::to_string(bytes) +
                                            " bytes is not a whole number of elements");
  return bytes / itemsize;
}

// Colour matrix, bias, pad, region and interpolation, common to the CPU and CUDA entry points.
void fill_common(ResizeNormalizeParams& p, const std::vector<std::vector<float>>& weight,
                 const std::vector<float>& bias, const std::vector<float>& pad,
                 const std::array<int, 4>& roi, const std::string& interpolation,
                 const std::array<int, 4>& window) {
  const size_t n = weight.size();
  MMEDGE_REQUIRE(n >= 1 && n <= static_cast<size_t>(image::kMaxChannels) && bias.size() == n &&
                     pad.size() == n,
                 "weight, bias and pad need one entry per output channel (1.." +
                     std::to_string(image::kMaxChannels) + "), got " +
                     std::to_string(weight.size()) + ", " + std::to_string(bias.size()) + ", " +
                     std::to_string(pad.size()));
  p.norm.out_channels = static_cast<int>(n);
  for (size_t c = 0; c < n; ++c) {
    MMEDGE_REQUIRE(weight[c].size() <= static_cast<size_t>(image::kMaxChannels),
                   "weight row " + std::to_string(c) + " has " + std::to_string(weight[c].size()) +
                       " entries, at most " + std::to_string(image::kMaxChannels));
    for (size_t k = 0; k < weight[c].size(); ++k) p.norm.weight[c][k] = weight[c][k];
    p.norm.bias[c] = bias[c];
    p.norm.pad[c] = pad[c];
  }
  p.roi = image::Roi{roi[0], roi[1], roi[2], roi[3]};
  p.window = image::ResizeWindow{window[0], window[1], window[2], window[3]};
  p.interpolation = from_name(interpolation, kInterpolations, "interpolation");
}

void set_dst_geometry(ResizeNormalizeParams& p, const std::vector<int64_t>& shape,
                      const std::vector<int64_t>& strides) {
  MMEDGE_REQUIRE(shape.size() == 3 && strides.size() == 3,
                 "out must have shape (C, H, W), got " + shape_text(shape));
  const int64_t itemsize = p.dst.type == OutType::kFloat16 ? 2 : 4;
  MMEDGE_REQUIRE(shape[0] == p.norm.out_channels,
                 "out has " + std::to_string(shape[0]) + " channels, the colour matrix has " +
                     std::to_string(p.norm.out_channels) + " rows");
  MMEDGE_REQUIRE(shape[1] > 0 && shape[2] > 0 && shape[1] < (1 << 30) && shape[2] < (1 << 30),
                 "out has an unusable size " + shape_text(shape));
  MMEDGE_REQUIRE(strides[2] == itemsize, "out rows must be contiguous (column stride " +
                                             std::to_string(strides[2]) + " bytes, expected " +
                                             std::to_string(itemsize) + ")");
  MMEDGE_REQUIRE(strides[0] > 0 && strides[1] > 0, "out strides must be positive");
  p.dst.height = static_cast<int>(shape[1]);
  p.dst.width = static_cast<int>(shape[2]);
  p.dst.plane_stride = element_stride(strides[0], itemsize, "channel");
  p.dst.row_stride = element_stride(strides[1], itemsize, "row");
}

ResizeNormalizeParams host_params(const std::string& format, const std::vector<py::array>& planes,
                                  py::array& out, const std::vector<std::vector<float>>& weight,
                                  const std::vector<float>& bias, const std::vector<float>& pad,
                                  const std::array<int, 4>& roi, const std::string& interpolation,
                                  const std::array<int, 4>& window, const std::vector<float>& yuv,
                                  bool fill_border = true) {
  std::vector<PlaneDesc> descs;
  for (size_t i = 0; i < planes.size(); ++i) descs.push_back(host_plane(planes[i], i));
  ResizeNormalizeParams p;
  p.src = source_from_planes(format, descs, yuv);
  MMEDGE_REQUIRE(out.dtype().kind() == 'f' && (out.itemsize() == 4 || out.itemsize() == 2),
                 "out must be float32 or float16, got " + std::string(py::str(out.dtype())));
  MMEDGE_REQUIRE(out.writeable(), "out is read-only");
  p.dst.data = out.mutable_data();
  p.dst.type = out.itemsize() == 2 ? OutType::kFloat16 : OutType::kFloat32;
  fill_common(p, weight, bias, pad, roi, interpolation, window);
  p.fill_border = fill_border;
  std::vector<int64_t> shape, strides;
  for (py::ssize_t i = 0; i < out.ndim(); ++i) {
    shape.push_back(out.shape(i));
    strides.push_back(out.strides(i));
  }
  set_dst_geometry(p, shape, strides);
  const std::string err = image::validate(p);
  MMEDGE_REQUIRE(err.empty(), err);
  return p;
}

void resize_normalize(const std::string& format, const std::vector<py::array>& planes,
                      py::array& out, const std::vector<std::vector<float>>& weight,
                      const std::vector<float>& bias, const std::vector<float>& pad,
                      const std::array<int, 4>& roi, const std::string& interpolation,
                      bool fill_border, const std::array<int, 4>& window,
                      const std::vector<float>& yuv) {
  const ResizeNormalizeParams p = host_params(format, planes, out, weight, bias, pad, roi,
                                              interpolation, window, yuv, fill_border);
  py::gil_scoped_release release;
  image::resize_normalize_cpu(p);
}

std::string cpu_driver(const std::string& format, const std::vector<py::array>& planes,
                       py::array& out, const std::vector<std::vector<float>>& weight,
                       const std::vector<float>& bias, const std::vector<float>& pad,
                       const std::array<int, 4>& roi, const std::string& interpolation,
                       const std::array<int, 4>& window) {
  return image::cpu_driver_name(
      host_params(format, planes, out, weight, bias, pad, roi, interpolation, window, {}));
}

#if defined(MMEDGE_WITH_CUDA)
void resize_normalize_cuda(const std::string& format, const std::vector<PlaneDesc>& planes,
                           uintptr_t out_ptr, const std::string& out_dtype,
                           const std::vector<int64_t>& out_shape,
                           const std::vector<int64_t>& out_strides,
                           const std::vector<std::vector<float>>& weight,
                           const std::vector<float>& bias, const std::vector<float>& pad,
                           const std::array<int, 4>& roi, const std::string& interpolation,
                           int batch, int64_t src_image_stride, int64_t dst_image_stride,
                           uintptr_t stream, bool fill_border, const std::array<int, 4>& window,
                           const std::vector<float>& yuv) {
  ResizeNormalizeParams p;
  p.src = source_from_planes(format, planes, yuv);
  MMEDGE_REQUIRE(out_ptr != 0, "out is null");
  p.dst.data = reinterpret_cast<void*>(out_ptr);
  p.dst.type = out_type_from_name(out_dtype);
  fill_common(p, weight, bias, pad, roi, interpolation, window);
  p.fill_border = fill_border;
  set_dst_geometry(p, out_shape, out_strides);
  const int64_t itemsize = p.dst.type == OutType::kFloat16 ? 2 : 4;
  int code = 0;
  {
    py::gil_scoped_release release;
    code = image::resize_normalize_cuda(p, batch, src_image_stride, dst_image_stride / itemsize,
                                        reinterpret_cast<void*>(stream));
  }
  if (code != 0) {
    throw std::runtime_error("resize_normalize CUDA launch failed, error " + std::to_string(code));
  }
}
#endif

}  // namespace

void bind_image(py::module_& m) {
  constexpr const char* kArgsDoc = R"doc(
format: 'packed' (GRAY/BGR/RGB/BGRA/RGBA: planes = [uint8 (H, W, C)]), 'NV12' (planes =
    [Y (H, W), UV (H/2, W/2, 2)]), 'I420' (planes = [Y (H, W), U (H/2, W/2), V (H/2, W/2)]),
    'YUYV' / 'UYVY' (planes = [uint8 (H, W, 2)]); any strides. YUV sources give the values
    R, G, B, Y (BT.601 limited range as cv::cvtColor, unless yuv is given).
yuv: () or (y_offset, y_scale, vr, ug, vg, ub) of the YUV -> RGB matrix (pixel.h).
out: float32 or float16 (C_out, H_out, W_out) with contiguous rows, written in place.
weight (C_out rows of up to 4), bias, pad: out[c] = sum_k weight[c][k] * v[k] + bias[c] inside
    roi = (x, y, width, height) px of the output, pad[c] outside it.
interpolation: 'bilinear' (OpenCV INTER_LINEAR), 'area' (OpenCV INTER_AREA), 'bicubic'
    (OpenCV INTER_CUBIC), 'nearest' (OpenCV INTER_NEAREST), 'nearest_exact' (OpenCV
    INTER_NEAREST_EXACT, PIL NEAREST), 'bilinear_antialias' and 'bicubic_antialias' (PIL
    BILINEAR and BICUBIC, torchvision antialias=True).
window: (resized_width, resized_height, x, y): resize to that size and take the roi-sized
    window at (x, y) of it (a centre crop); (0, 0, 0, 0) resizes to the roi's size.)doc";
  m.attr("PLANE_LAYOUTS") = names_of(kPlaneLayouts);
  m.attr("INTERPOLATIONS") = names_of(kInterpolations);
  m.def("resize_normalize", &resize_normalize, py::arg("format"), py::arg("planes"), py::arg("out"),
        py::arg("weight"), py::arg("bias"), py::arg("pad"), py::arg("roi"),
        py::arg("interpolation") = "bilinear", py::arg("fill_border") = true,
        py::arg("window") = std::array<int, 4>{0, 0, 0, 0}, py::arg("yuv") = std::vector<float>{},
        (std::string("Fused resize + colour + normalise + HWC -> CHW on the CPU; releases the "
                     "GIL. fill_border=False writes the resize region only, for an out that "
                     "already holds the border.\n") +
         kArgsDoc)
            .c_str());
  m.def("cpu_driver", &cpu_driver, py::arg("format"), py::arg("planes"), py::arg("out"),
        py::arg("weight"), py::arg("bias"), py::arg("pad"), py::arg("roi"),
        py::arg("interpolation") = "bilinear", py::arg("window") = std::array<int, 4>{0, 0, 0, 0},
        "Name of the CPU driver resize_normalize would use: 'avx2', 'scalar' or 'separable'.");
  m.def("cpu_simd", &image::best_cpu_driver,
        "The best CPU driver of this build on this CPU: 'avx2' or 'scalar'.");
  m.def(
      "force_scalar_driver",
      [](bool force) {
        image::force_scalar_driver(force);
        audio::force_scalar_driver(force);
      },
      py::arg("force"),
      "Makes the image and audio CPU kernels use their portable scalar drivers (for comparing "
      "drivers in tests).");
#if defined(MMEDGE_WITH_CUDA)
  py::class_<PlaneDesc>(m, "PlaneDesc", "A plane in memory: address, shape, byte strides.")
      .def(py::init([](uintptr_t ptr, std::vector<int64_t> shape, std::vector<int64_t> strides) {
             return PlaneDesc{ptr, std::move(shape), std::move(strides)};
           }),
           py::arg("ptr"), py::arg("shape"), py::arg("strides"));
  m.def("resize_normalize_cuda", &resize_normalize_cuda, py::arg("format"), py::arg("planes"),
        py::arg("out_ptr"), py::arg("out_dtype"), py::arg("out_shape"), py::arg("out_strides"),
        py::arg("weight"), py::arg("bias"), py::arg("pad"), py::arg("roi"),
        py::arg("interpolation") = "bilinear", py::arg("batch") = 1,
        py::arg("src_image_stride") = 0, py::arg("dst_image_stride") = 0, py::arg("stream") = 0,
        py::arg("fill_border") = true, py::arg("window") = std::array<int, 4>{0, 0, 0, 0},
        py::arg("yuv") = std::vector<float>{},
        (std::string("resize_normalize on the GPU for `batch` images: planes are PlaneDesc of "
                     "device memory, image i is offset by i * src_image_stride bytes (every "
                     "plane) and i * dst_image_stride bytes (out); launched on `stream` (a "
                     "cudaStream_t as int, 0 = default stream).\n") +
         kArgsDoc)
            .c_str());
#endif
}

}  // namespace mmedge::python
