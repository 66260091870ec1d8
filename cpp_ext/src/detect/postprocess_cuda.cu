// CUDA driver of the detection post-processing: the decode (every candidate's best class and
// the threshold, one thread per candidate, with decode.h's math) runs on the GPU and compacts the
// survivors; the host then restores candidate order and runs the same NMS, top-k and mapping as
// the CPU driver, so both give the same detections. Best class only (multi_label is refused).
#include <cuda_runtime.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "mmedge/detect/decode.h"
#include "mmedge/detect/postprocess.h"

namespace mmedge::detect {
namespace {

__global__ void gpuDecode(const DetectParams p, const float* heads, int64_t image_stride,
                          Detection* candidates, int* indices, int* counts,
                          unsigned long long* bad) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int image = blockIdx.y;
  if (i >= p.num_candidates) return;
  Detection d;
  if (!decode_best(p, heads + image * image_stride, i, &d)) {
    atomicAdd(&bad[image], 1ULL);
    return;
  }
  if (!(d.score > p.score_threshold)) return;
  const int slot = atomicAdd(&counts[image], 1);  // < num_candidates: one slot per candidate
  const int64_t at = static_cast<int64_t>(image) * p.num_candidates + slot;
  candidates[at] = d;
  indices[at] = i;
}

// Device buffers of one call, freed on every path.
struct DeviceBuffers {
  Detection* candidates = nullptr;
  int* indices = nullptr;
  int* counts = nullptr;
  unsigned long long* bad = nullptr;
  ~DeviceBuffers() {
    cudaFree(candidates);
    cudaFree(indices);
    cudaFree(counts);
    cudaFree(bad);
  }
};

}  // namespace

int detect_batch_cuda(const DetectParams& p, const float* device_heads, int batch,
                      int64_t image_stride, const BoxMap* maps, Detection* out, int* counts,
                      int64_t* nonfinite, void* stream) {
  const std::string err = validate(p);
  if (!err.empty()) throw std::invalid_argument(err);
  if (p.multi_label) throw std::invalid_argument("multi_label heads decode on the CPU only");
  if (batch < 1 || batch > 65535) {
    throw std::invalid_argument("batch must be 1..65535, got " + std::to_string(batch));
  }
  auto s = static_cast<cudaStream_t>(stream);
  const size_t slots = static_cast<size_t>(batch) * std::max(p.num_candidates, 1);
  DeviceBuffers d;
  cudaError_t status = cudaMalloc(&d.candidates, slots * sizeof(Detection));
  if (status == cudaSuccess) status = cudaMalloc(&d.indices, slots * sizeof(int));
  if (status == cudaSuccess) status = cudaMalloc(&d.counts, batch * sizeof(int));
  if (status == cudaSuccess) status = cudaMalloc(&d.bad, batch * sizeof(unsigned long long));
  if (status == cudaSuccess) status = cudaMemsetAsync(d.counts, 0, batch * sizeof(int), s);
  if (status == cudaSuccess) {
    status = cudaMemsetAsync(d.bad, 0, batch * sizeof(unsigned long long), s);
  }
  if (status != cudaSuccess) return static_cast<int>(status);
  if (p.num_candidates > 0) {
    const dim3 block(256);
    const dim3 grid((p.num_candidates + block.x - 1) / block.x, batch);
    gpuDecode<<<grid, block, 0, s>>>(p, device_heads, image_stride, d.candidates, d.indices,
                                     d.counts, d.bad);
    status = cudaGetLastError();
    if (status != cudaSuccess) return static_cast<int>(status);
  }
  std::vector<int> found(batch);
  std::vector<unsigned long long> skipped(batch);
  status = cudaMemcpyAsync(found.data(), d.counts, batch * sizeof(int), cudaMemcpyDeviceToHost, s);
  if (status == cudaSuccess) {
    status = cudaMemcpyAsync(skipped.data(), d.bad, batch * sizeof(unsigned long long),
                             cudaMemcpyDeviceToHost, s);
  }
  if (status == cudaSuccess) status = cudaStreamSynchronize(s);
  if (status != cudaSuccess) return static_cast<int>(status);
  for (int image = 0; image < batch; ++image) {
    const int n = found[image];
    std::vector<Detection> candidates(n);
    std::vector<int> index(n);
    const int64_t at = static_cast<int64_t>(image) * p.num_candidates;
    status = cudaMemcpy(candidates.data(), d.candidates + at, n * sizeof(Detection),
                        cudaMemcpyDeviceToHost);
    if (status == cudaSuccess) {
      status = cudaMemcpy(index.data(), d.indices + at, n * sizeof(int), cudaMemcpyDeviceToHost);
    }
    if (status != cudaSuccess) return static_cast<int>(status);
    // The atomic slots are in any order: candidate order first, as the CPU decode yields them.
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return index[a] < index[b]; });
    std::vector<Detection> ordered(n);
    for (int k = 0; k < n; ++k) ordered[k] = candidates[order[k]];
    Detection* dst = out + static_cast<int64_t>(image) * p.max_detections;
    counts[image] = nms_cpu(p, ordered, dst);
    for (int k = 0; k < counts[image]; ++k) dst[k].box = map_box(dst[k].box, maps[image]);
    nonfinite[image] = static_cast<int64_t>(skipped[image]);
  }
  return 0;
}

}  // namespace mmedge::detect
