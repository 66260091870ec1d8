// Bindings of cpp_ext/include/mmedge/common/cuda_device.h: device queries and raw device
// memory for mmedge.cuda. Without CUDA in the build, only device_count() (always 0) exists.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>

#include "bindings.h"

#if defined(MMEDGE_WITH_CUDA)
#include "mmedge/common/cuda_device.h"
#endif

namespace py = pybind11;

namespace mmedge::python {

#if defined(MMEDGE_WITH_CUDA)
namespace {

// Owns one cudaMalloc allocation; freed when the Python object goes away.
class DeviceAllocation {
 public:
  explicit DeviceAllocation(size_t nbytes) : nbytes_(nbytes) {
    ptr_ = nbytes == 0 ? nullptr : cuda::malloc_device(nbytes);
  }
  ~DeviceAllocation() {
    if (ptr_ != nullptr) cuda::free_device(ptr_);
  }
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;
  uintptr_t ptr() const { return reinterpret_cast<uintptr_t>(ptr_); }
  size_t nbytes() const { return nbytes_; }

 private:
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
};

}  // namespace
#endif

void bind_cuda(py::module_& m) {
#if defined(MMEDGE_WITH_CUDA)
  m.def("cuda_device_count", &cuda::device_count,
        "Number of CUDA devices; 0 when there is no driver or GPU.");
  m.def("cuda_runtime_version", &cuda::runtime_version, "CUDA runtime version, e.g. 13000.");
  m.def("cuda_driver_version", &cuda::driver_version, "CUDA driver version; 0 without a driver.");
  m.def(
      "cuda_device_info",
      [](int index) {
        const cuda::DeviceInfo info = cuda::device_info(index);
        py::dict d;
        d["index"] = info.index;
        d["name"] = info.name;
        d["compute_capability"] = std::to_string(info.major) + "." + std::to_string(info.minor);
        d["total_memory_bytes"] = info.total_memory_bytes;
        return d;
      },
      py::arg("index"), "Name, compute capability and memory of one CUDA device.");
  py::class_<DeviceAllocation>(m, "DeviceAllocation", "cudaMalloc'ed bytes, freed with the object.")
      .def(py::init<size_t>(), py::arg("nbytes"))
      .def_property_readonly("ptr", &DeviceAllocation::ptr)
      .def_property_readonly("nbytes", &DeviceAllocation::nbytes);
  m.def(
      "cuda_copy",
      [](uintptr_t dst, uintptr_t src, size_t nbytes, int kind, uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), nbytes,
                   static_cast<cuda::CopyKind>(kind), reinterpret_cast<void*>(stream));
      },
      py::arg("dst"), py::arg("src"), py::arg("nbytes"), py::arg("kind"), py::arg("stream") = 0,
      "Copies nbytes (kind 1: host->device, 2: device->host, 3: device->device) and waits.");
  m.def(
      "cuda_synchronize",
      [](uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::synchronize(reinterpret_cast<void*>(stream));
      },
      py::arg("stream") = 0, "Waits for a stream (0: the whole device).");
#else
  m.def("cuda_device_count", [] { return 0; }, "Always 0: this build has no CUDA kernels.");
#endif
}

}  // namespace mmedge::python
