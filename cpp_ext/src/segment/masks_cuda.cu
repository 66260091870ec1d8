// CUDA driver of the segmentation post-processing (masks.h): one thread per logit pixel for the
// logit-class map, then one per source pixel with mask.h's tap, shared-class and full-sample
// math, so the CPU tests cover what the GPU computes. Masks and confidences are copied back.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "mmedge/segment/masks.h"

namespace mmedge::segment {
namespace {

__global__ void gpuClassMap(const float* logits, int classes, int64_t plane, uint8_t* cmap,
                            unsigned long long* bad) {
  const int64_t at = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int image = blockIdx.y;
  if (at >= plane) return;
  const uint8_t k = logit_class(logits + image * classes * plane, classes, plane, at);
  cmap[image * plane + at] = k;
  if (k == kUnknown) atomicAdd(&bad[image], 1ULL);
}

__global__ void gpuMask(const float* logits, const uint8_t* cmap, int classes, int height,
                        int width, const MaskMap m, uint8_t* mask, float* confidence) {
  const int u = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = blockIdx.y * blockDim.y + threadIdx.y;
  if (u >= m.width || v >= m.height) return;
  const Tap ty = axis_tap(m.y, v), tx = axis_tap(m.x, u);
  const int64_t at = static_cast<int64_t>(v) * m.width + u;
  if (confidence == nullptr) {
    const int shared = shared_class(cmap, width, ty, tx);
    if (shared >= 0) {
      mask[at] = static_cast<uint8_t>(shared);
      return;
    }
  }
  mask[at] = pixel_class(logits, classes, height, width, ty, tx,
                         confidence != nullptr ? confidence + at : nullptr);
}

// Device buffers of one call, freed on every path.
struct DeviceBuffers {
  uint8_t* cmap = nullptr;
  unsigned long long* bad = nullptr;
  uint8_t* mask = nullptr;
  float* confidence = nullptr;
  ~DeviceBuffers() {
    cudaFree(cmap);
    cudaFree(bad);
    cudaFree(mask);
    cudaFree(confidence);
  }
};

}  // namespace

int masks_cuda(const float* device_logits, int batch, int classes, int logit_height,
               int logit_width, const MaskMap* maps, uint8_t* const* masks,
               float* const* confidence, int64_t* nonfinite, void* stream) {
  if (batch < 1 || batch > 65535) {
    throw std::invalid_argument("batch must be 1..65535, got " + std::to_string(batch));
  }
  for (int i = 0; i < batch; ++i) {
    const std::string err = validate(maps[i], classes, logit_height, logit_width);
    if (!err.empty()) throw std::invalid_argument(err);
  }
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t plane = static_cast<int64_t>(logit_height) * logit_width;
  DeviceBuffers d;
  cudaError_t e = cudaMalloc(&d.cmap, batch * plane);
  if (e == cudaSuccess) e = cudaMalloc(&d.bad, batch * sizeof(unsigned long long));
  if (e == cudaSuccess) e = cudaMemsetAsync(d.bad, 0, batch * sizeof(unsigned long long), s);
  if (e != cudaSuccess) return static_cast<int>(e);
  const dim3 map_grid(static_cast<unsigned>((plane + 255) / 256), batch);
  gpuClassMap<<<map_grid, 256, 0, s>>>(device_logits, classes, plane, d.cmap, d.bad);
  for (int i = 0; i < batch && e == cudaSuccess; ++i) {
    const MaskMap& m = maps[i];
    const int64_t pixels = static_cast<int64_t>(m.width) * m.height;
    cudaFree(d.mask);
    cudaFree(d.confidence);
    d.mask = nullptr;
    d.confidence = nullptr;
    e = cudaMalloc(&d.mask, pixels);
    if (e == cudaSuccess && confidence != nullptr) {
      e = cudaMalloc(&d.confidence, pixels * sizeof(float));
    }
    if (e != cudaSuccess) break;
    const dim3 block(32, 8);
    const dim3 grid((m.width + 31) / 32, (m.height + 7) / 8);
    gpuMask<<<grid, block, 0, s>>>(device_logits + i * classes * plane, d.cmap + i * plane,
                                   classes, logit_height, logit_width, m, d.mask, d.confidence);
    e = cudaMemcpyAsync(masks[i], d.mask, pixels, cudaMemcpyDeviceToHost, s);
    if (e == cudaSuccess && confidence != nullptr) {
      e = cudaMemcpyAsync(confidence[i], d.confidence, pixels * sizeof(float),
                          cudaMemcpyDeviceToHost, s);
    }
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  }
  std::vector<unsigned long long> bad(batch, 0);
  if (e == cudaSuccess) {
    e = cudaMemcpyAsync(bad.data(), d.bad, batch * sizeof(unsigned long long),
                        cudaMemcpyDeviceToHost, s);
  }
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  if (e == cudaSuccess) e = cudaGetLastError();
  for (int i = 0; i < batch; ++i) nonfinite[i] = static_cast<int64_t>(bad[i]);
  return static_cast<int>(e);
}

}  // namespace mmedge::segment
