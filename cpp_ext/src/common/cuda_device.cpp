#include "mmedge/common/cuda_device.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace mmedge::cuda {

void check(int code, const char* what) {
  if (code == cudaSuccess) return;
  const auto err = static_cast<cudaError_t>(code);
  throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(err) + ": " +
                           cudaGetErrorString(err));
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

DeviceInfo device_info(int index) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.total_memory_bytes = prop.totalGlobalMem;
  return info;
}

int runtime_version() {
  int v = 0;
  check(cudaRuntimeGetVersion(&v), "cudaRuntimeGetVersion");
  return v;
}

int driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) return 0;
  return v;
}

void* malloc_device(size_t bytes) {
  void* ptr = nullptr;
  check(cudaMalloc(&ptr, bytes), "cudaMalloc");
  return ptr;
}

void free_device(void* ptr) noexcept { cudaFree(ptr); }

void copy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  cudaMemcpyKind k = cudaMemcpyDefault;
  switch (kind) {
    case CopyKind::kHostToDevice:
      k = cudaMemcpyHostToDevice;
      break;
    case CopyKind::kDeviceToHost:
      k = cudaMemcpyDeviceToHost;
      break;
    case CopyKind::kDeviceToDevice:
      k = cudaMemcpyDeviceToDevice;
      break;
  }
  auto s = static_cast<cudaStream_t>(stream);
  check(cudaMemcpyAsync(dst, src, bytes, k, s), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

void synchronize(void* stream) {
  if (stream == nullptr) {
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  } else {
    check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
  }
}

}  // namespace mmedge::cuda
