// Bindings of cpp_ext/include/mmedge/image/preprocess.h.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings.h"
#include "mmedge/image/preprocess.h"

namespace py = pybind11;

namespace mmedge::python {
namespace {

using image::OutType;
using image::ResizeNormalizeParams;

OutType out_type_from_name(const std::string& name) {
  if (name == "float32") return OutType::kFloat32;
  if (name == "float16") return OutType::kFloat16;
  throw std::invalid_argument("out dtype must be float32 or float16, got " + name);
}

int64_t element_stride(int64_t bytes, int64_t itemsize, const char* what) {
  if (bytes % itemsize != 0) {
    throw std::invalid_argument(std::string("out ") + what + " stride of " + std::to_string(bytes) +
                                " bytes is not a whole number of elements");
  }
  return bytes / itemsize;
}

// The normalisation and geometry arguments common to the CPU and CUDA entry points.
void fill_common(ResizeNormalizeParams& p, const std::vector<int>& src_channel,
                 const std::vector<float>& alpha, const std::vector<float>& beta,
                 const std::vector<float>& pad, const std::array<int, 4>& roi) {
  const size_t n = src_channel.size();
  if (n < 1 || n > static_cast<size_t>(image::kMaxChannels) || alpha.size() != n ||
      beta.size() != n || pad.size() != n) {
    throw std::invalid_argument(
        "src_channel, alpha, beta and pad must have one entry per output channel (1.." +
        std::to_string(image::kMaxChannels) + "), got " + std::to_string(src_channel.size()) +
        ", " + std::to_string(alpha.size()) + ", " + std::to_string(beta.size()) + ", " +
        std::to_string(pad.size()));
  }
  p.norm.out_channels = static_cast<int>(n);
  for (size_t c = 0; c < n; ++c) {
    p.norm.src_channel[c] = src_channel[c];
    p.norm.alpha[c] = alpha[c];
    p.norm.beta[c] = beta[c];
    p.norm.pad[c] = pad[c];
  }
  p.roi = image::Roi{roi[0], roi[1], roi[2], roi[3]};
}

void set_dst_geometry(ResizeNormalizeParams& p, int64_t channels, int64_t height, int64_t width,
                      int64_t plane_stride_bytes, int64_t row_stride_bytes,
                      int64_t col_stride_bytes) {
  const int64_t itemsize = p.dst.type == OutType::kFloat16 ? 2 : 4;
  if (channels != p.norm.out_channels) {
    throw std::invalid_argument("out has " + std::to_string(channels) +
                                " channels, the normalisation describes " +
                                std::to_string(p.norm.out_channels));
  }
  if (col_stride_bytes != itemsize) {
    throw std::invalid_argument("out rows must be contiguous (column stride " +
                                std::to_string(col_stride_bytes) + " bytes, expected " +
                                std::to_string(itemsize) + ")");
  }
  p.dst.height = static_cast<int>(height);
  p.dst.width = static_cast<int>(width);
  p.dst.plane_stride = element_stride(plane_stride_bytes, itemsize, "channel");
  p.dst.row_stride = element_stride(row_stride_bytes, itemsize, "row");
}

void resize_normalize(const py::array& src, py::array& out, const std::vector<int>& src_channel,
                      const std::vector<float>& alpha, const std::vector<float>& beta,
                      const std::vector<float>& pad, const std::array<int, 4>& roi) {
  if (src.ndim() != 3 || src.dtype().kind() != 'u' || src.itemsize() != 1) {
    throw std::invalid_argument("src must be a uint8 array of shape (H, W, C), got ndim " +
                                std::to_string(src.ndim()) + " dtype " +
                                std::string(py::str(src.dtype())));
  }
  if (out.ndim() != 3 || out.dtype().kind() != 'f') {
    throw std::invalid_argument("out must be a float32 or float16 array of shape (C, H, W)");
  }
  if (!out.writeable()) throw std::invalid_argument("out is read-only");
  ResizeNormalizeParams p;
  p.src = image::SrcImage{static_cast<const uint8_t*>(src.data()),
                          static_cast<int>(src.shape(0)),
                          static_cast<int>(src.shape(1)),
                          static_cast<int>(src.shape(2)),
                          src.strides(0),
                          src.strides(1),
                          src.strides(2)};
  p.dst.data = out.mutable_data();
  p.dst.type = out_type_from_name(out.itemsize() == 2   ? "float16"
                                  : out.itemsize() == 4 ? "float32"
                                                        : "float64");
  fill_common(p, src_channel, alpha, beta, pad, roi);
  set_dst_geometry(p, out.shape(0), out.shape(1), out.shape(2), out.strides(0), out.strides(1),
                   out.strides(2));
  py::gil_scoped_release release;
  image::resize_normalize_cpu(p);
}

#if defined(MMEDGE_WITH_CUDA)
void resize_normalize_cuda(uintptr_t src_ptr, const std::array<int64_t, 3>& src_shape,
                           const std::array<int64_t, 3>& src_strides, uintptr_t out_ptr,
                           const std::string& out_dtype, const std::array<int64_t, 3>& out_shape,
                           const std::array<int64_t, 3>& out_strides,
                           const std::vector<int>& src_channel, const std::vector<float>& alpha,
                           const std::vector<float>& beta, const std::vector<float>& pad,
                           const std::array<int, 4>& roi, uintptr_t stream) {
  ResizeNormalizeParams p;
  p.src = image::SrcImage{reinterpret_cast<const uint8_t*>(src_ptr),
                          static_cast<int>(src_shape[0]),
                          static_cast<int>(src_shape[1]),
                          static_cast<int>(src_shape[2]),
                          src_strides[0],
                          src_strides[1],
                          src_strides[2]};
  p.dst.data = reinterpret_cast<void*>(out_ptr);
  p.dst.type = out_type_from_name(out_dtype);
  fill_common(p, src_channel, alpha, beta, pad, roi);
  set_dst_geometry(p, out_shape[0], out_shape[1], out_shape[2], out_strides[0], out_strides[1],
                   out_strides[2]);
  int code = 0;
  {
    py::gil_scoped_release release;
    code = image::resize_normalize_cuda(p, reinterpret_cast<void*>(stream));
  }
  if (code != 0)
    throw std::runtime_error("resize_normalize CUDA launch failed, error " + std::to_string(code));
}
#endif

const char* cpu_driver(const py::array& src) {
  ResizeNormalizeParams p;
  p.src = image::SrcImage{static_cast<const uint8_t*>(src.data()),
                          static_cast<int>(src.shape(0)),
                          static_cast<int>(src.shape(1)),
                          static_cast<int>(src.shape(2)),
                          src.strides(0),
                          src.strides(1),
                          src.strides(2)};
  return image::cpu_driver_name(p);
}

}  // namespace

void bind_image(py::module_& m) {
  m.def("resize_normalize", &resize_normalize, py::arg("src"), py::arg("out"),
        py::arg("src_channel"), py::arg("alpha"), py::arg("beta"), py::arg("pad"), py::arg("roi"),
        R"doc(Fused bilinear resize + channel pick + normalise + HWC -> CHW, on the CPU.

src: uint8 array (H, W, C), any strides. out: float32 or float16 array (C_out, H_out, W_out)
with contiguous rows, written in place. For output channel c:
    out[c] = alpha[c] * bilinear(src[..., src_channel[c]]) + beta[c]
inside roi = (x, y, width, height) px of the output, and pad[c] outside it. Bilinear follows
OpenCV INTER_LINEAR (half-pixel centres, edge clamp). Releases the GIL.)doc");
  m.def("cpu_driver", &cpu_driver, py::arg("src"),
        "Name of the CPU driver resize_normalize would use for src: 'avx2' or 'scalar'.");
  m.def("cpu_simd", &image::best_cpu_driver,
        "The best CPU driver of this build on this CPU: 'avx2' or 'scalar'.");
  m.def("force_scalar_driver", &image::force_scalar_driver, py::arg("force"),
        "Makes the CPU kernels use the portable scalar driver (for comparing drivers in tests).");
#if defined(MMEDGE_WITH_CUDA)
  m.def("resize_normalize_cuda", &resize_normalize_cuda, py::arg("src_ptr"), py::arg("src_shape"),
        py::arg("src_strides"), py::arg("out_ptr"), py::arg("out_dtype"), py::arg("out_shape"),
        py::arg("out_strides"), py::arg("src_channel"), py::arg("alpha"), py::arg("beta"),
        py::arg("pad"), py::arg("roi"), py::arg("stream") = 0,
        R"doc(resize_normalize on the GPU: device pointers, shapes and byte strides as in
__cuda_array_interface__, launched on `stream` (a cudaStream_t as int; 0 = default stream).)doc");
#endif
}

}  // namespace mmedge::python
