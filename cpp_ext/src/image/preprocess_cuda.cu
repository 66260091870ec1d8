// CUDA driver of the fused image preprocessing: one thread per output pixel, all channels,
// around the same MMEDGE_HD math as the CPU drivers (bilinear.h, normalize.h, half.h).
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "mmedge/common/half.h"
#include "mmedge/image/bilinear.h"
#include "mmedge/image/preprocess.h"

namespace mmedge::image {
namespace {

struct KernelArgs {
  ResizeNormalizeParams p;
  double scale_x;  // source px per output px, horizontally
  double scale_y;  // and vertically
};

template <typename OutT>
__device__ __forceinline__ void store(OutT* out, int64_t at, float v);

template <>
__device__ __forceinline__ void store<float>(float* out, int64_t at, float v) {
  out[at] = v;
}

template <>
__device__ __forceinline__ void store<uint16_t>(uint16_t* out, int64_t at, float v) {
  out[at] = float_to_half_bits(v);
}

template <typename OutT>
__global__ void gpuResizeNormalize(const KernelArgs a) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  const ResizeNormalizeParams& p = a.p;
  if (x >= p.dst.width || y >= p.dst.height) return;
  OutT* out = static_cast<OutT*>(p.dst.data);
  const int64_t at = static_cast<int64_t>(y) * p.dst.row_stride + x;
  const int rx = x - p.roi.x;
  const int ry = y - p.roi.y;
  if (rx < 0 || ry < 0 || rx >= p.roi.width || ry >= p.roi.height) {
    for (int c = 0; c < p.norm.out_channels; ++c) {
      store<OutT>(out, c * p.dst.plane_stride + at, p.norm.pad[c]);
    }
    return;
  }
  const SrcImage& s = p.src;
  const LinearTap tx = linear_tap(rx, a.scale_x, s.width);
  const LinearTap ty = linear_tap(ry, a.scale_y, s.height);
  const uint8_t* row0 = s.data + ty.i0 * s.row_stride;
  const uint8_t* row1 = s.data + ty.i1 * s.row_stride;
  const int64_t c0 = tx.i0 * s.col_stride;
  const int64_t c1 = tx.i1 * s.col_stride;
  for (int c = 0; c < p.norm.out_channels; ++c) {
    const int64_t k = p.norm.src_channel[c] * s.channel_stride;
    const float v = bilinear(row0[c0 + k], row0[c1 + k], row1[c0 + k], row1[c1 + k], tx.w, ty.w);
    store<OutT>(out, c * p.dst.plane_stride + at, normalize_value(p.norm, c, v));
  }
}

}  // namespace

int resize_normalize_cuda(const ResizeNormalizeParams& p, void* stream) {
  const std::string err = validate(p);
  if (!err.empty()) throw std::invalid_argument(err);
  KernelArgs args{p, linear_scale(p.src.width, p.roi.width),
                  linear_scale(p.src.height, p.roi.height)};
  const dim3 block(32, 8);
  const dim3 grid((p.dst.width + block.x - 1) / block.x, (p.dst.height + block.y - 1) / block.y);
  auto s = static_cast<cudaStream_t>(stream);
  if (p.dst.type == OutType::kFloat16) {
    gpuResizeNormalize<uint16_t><<<grid, block, 0, s>>>(args);
  } else {
    gpuResizeNormalize<float><<<grid, block, 0, s>>>(args);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace mmedge::image
