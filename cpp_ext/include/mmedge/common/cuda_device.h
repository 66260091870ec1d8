// The few CUDA runtime calls the Python layer needs: device queries, device memory, copies.
// Every function throws std::runtime_error naming the call and CUDA's message on failure,
// except device_count(), which returns 0 on machines without a driver or GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mmedge::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0;  // compute capability, e.g. 8.7 (Jetson Orin), 9.0 (H100)
  int minor = 0;
  size_t total_memory_bytes = 0;
};

enum class CopyKind : int { kHostToDevice = 1, kDeviceToHost = 2, kDeviceToDevice = 3 };

int device_count();
DeviceInfo device_info(int index);
int runtime_version();  // e.g. 13000 for CUDA 13.0
int driver_version();   // 0 when no driver is installed

void* malloc_device(size_t bytes);
void free_device(void* ptr) noexcept;
void copy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream);
void synchronize(void* stream);  // nullptr = the whole device

// Throws std::runtime_error("<what>: <CUDA error name>: <message>") when code != cudaSuccess.
void check(int code, const char* what);

}  // namespace mmedge::cuda
