// CUDA drivers of the fused image preprocessing, around the same MMEDGE_HD math as the CPU
// drivers (pixel.h, bilinear.h, normalize.h, half.h) and the same filter tables (resample.h).
// One thread per output pixel, all channels; blockIdx.z is the image of a batch.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmedge/common/half.h"
#include "mmedge/image/bilinear.h"
#include "mmedge/image/preprocess.h"
#include "mmedge/image/resample.h"

namespace mmedge::image {
namespace {

struct Batch {
  int64_t src_image_stride;  // bytes between images, every plane
  int64_t dst_image_stride;  // elements between images
};

// Device-side view of the two AxisFilters of the separable driver.
struct FilterTables {
  const int* x_first;
  const int* x_count;
  const float* x_weight;
  int x_taps;
  const int* y_first;
  const int* y_count;
  const float* y_weight;
  int y_taps;
  bool clamp_between;  // saturate the horizontal pass to 0..255 (PIL's cubic)
  bool clamp_output;   // saturate the result to 0..255 (every cubic mode)
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

// The image of this block's batch slot: plane pointers and output moved to image blockIdx.z.
__device__ __forceinline__ SrcImage batch_source(const ResizeNormalizeParams& p, const Batch& b) {
  SrcImage s = p.src;
  for (auto& plane : s.planes) {
    if (plane.data != nullptr) plane.data += blockIdx.z * b.src_image_stride;
  }
  return s;
}

// Writes pad and returns true when (x, y) lies outside the resize region.
template <typename OutT>
__device__ __forceinline__ bool outside_roi(const ResizeNormalizeParams& p, OutT* out, int64_t at,
                                            int x, int y) {
  const int rx = x - p.roi.x;
  const int ry = y - p.roi.y;
  if (rx >= 0 && ry >= 0 && rx < p.roi.width && ry < p.roi.height) return false;
  if (!p.fill_border) return true;
  for (int c = 0; c < p.norm.out_channels; ++c) {
    store<OutT>(out, c * p.dst.plane_stride + at, p.norm.pad[c]);
  }
  return true;
}

template <typename OutT>
__global__ void gpuResizeTwoTap(const ResizeNormalizeParams p, const Batch b, const TapRule rule) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.dst.width || y >= p.dst.height) return;
  OutT* out = static_cast<OutT*>(p.dst.data) + blockIdx.z * b.dst_image_stride;
  const int64_t at = static_cast<int64_t>(y) * p.dst.row_stride + x;
  if (outside_roi(p, out, at, x, y)) return;
  const SrcImage s = batch_source(p, b);
  const LinearTap tx = tap_for(rule, x - p.roi.x + p.window.x, s.width, resized_width(p));
  const LinearTap ty = tap_for(rule, y - p.roi.y + p.window.y, s.height, resized_height(p));
  float v00[kMaxChannels], v01[kMaxChannels], v10[kMaxChannels], v11[kMaxChannels];
  float v[kMaxChannels] = {0, 0, 0, 0};
  read_pixel(s, tx.i0, ty.i0, v00);
  read_pixel(s, tx.i1, ty.i0, v01);
  read_pixel(s, tx.i0, ty.i1, v10);
  read_pixel(s, tx.i1, ty.i1, v11);
  for (int k = 0; k < s.channels; ++k) {
    v[k] = bilinear(v00[k], v01[k], v10[k], v11[k], tx.w, ty.w);
  }
  for (int c = 0; c < p.norm.out_channels; ++c) {
    store<OutT>(out, c * p.dst.plane_stride + at, apply_normalize(p.norm, c, v));
  }
}

template <typename OutT>
__global__ void gpuResizeSeparable(const ResizeNormalizeParams p, const Batch b,
                                   const FilterTables f) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.dst.width || y >= p.dst.height) return;
  OutT* out = static_cast<OutT*>(p.dst.data) + blockIdx.z * b.dst_image_stride;
  const int64_t at = static_cast<int64_t>(y) * p.dst.row_stride + x;
  if (outside_roi(p, out, at, x, y)) return;
  const SrcImage s = batch_source(p, b);
  const int rx = x - p.roi.x + p.window.x;  // index into the tables of the resized image
  const int ry = y - p.roi.y + p.window.y;
  float acc[kMaxChannels] = {0, 0, 0, 0};
  float v[kMaxChannels];
  for (int ty = 0; ty < f.y_count[ry]; ++ty) {
    const float wy = f.y_weight[ry * f.y_taps + ty];
    float row[kMaxChannels] = {0, 0, 0, 0};
    for (int tx = 0; tx < f.x_count[rx]; ++tx) {
      const float wx = f.x_weight[rx * f.x_taps + tx];
      read_pixel(s, f.x_first[rx] + tx, f.y_first[ry] + ty, v);
      for (int k = 0; k < s.channels; ++k) row[k] += wx * v[k];
    }
    for (int k = 0; k < s.channels; ++k)
      acc[k] += wy * (f.clamp_between ? clamp255(row[k]) : row[k]);
  }
  if (f.clamp_output) {
    for (int k = 0; k < s.channels; ++k) acc[k] = clamp255(acc[k]);
  }
  for (int c = 0; c < p.norm.out_channels; ++c) {
    store<OutT>(out, c * p.dst.plane_stride + at, apply_normalize(p.norm, c, acc));
  }
}

// The filter tables in one stream-ordered device allocation, freed on the same stream.
class DeviceTables {
 public:
  DeviceTables(const AxisFilter& fx, const AxisFilter& fy, cudaStream_t stream) : stream_(stream) {
    const size_t xi = fx.first.size(), yi = fy.first.size();
    std::vector<char> host((2 * xi + 2 * yi) * sizeof(int) +
                           (fx.weight.size() + fy.weight.size()) * sizeof(float));
    char* at = host.data();
    auto put = [&at](const void* data, size_t bytes) {
      std::memcpy(at, data, bytes);
      at += bytes;
    };
    put(fx.first.data(), xi * sizeof(int));
    put(fx.count.data(), xi * sizeof(int));
    put(fy.first.data(), yi * sizeof(int));
    put(fy.count.data(), yi * sizeof(int));
    put(fx.weight.data(), fx.weight.size() * sizeof(float));
    put(fy.weight.data(), fy.weight.size() * sizeof(float));
    status_ = cudaMallocAsync(&device_, host.size(), stream_);
    if (status_ == cudaSuccess) {
      status_ = cudaMemcpyAsync(device_, host.data(), host.size(), cudaMemcpyHostToDevice, stream_);
      // The host buffer must outlive the copy: wait for it before `host` is freed.
      if (status_ == cudaSuccess) status_ = cudaStreamSynchronize(stream_);
    }
    const int* ints = static_cast<const int*>(device_);
    const float* floats = reinterpret_cast<const float*>(ints + 2 * xi + 2 * yi);
    tables_.x_first = ints;
    tables_.x_count = ints + xi;
    tables_.y_first = ints + 2 * xi;
    tables_.y_count = ints + 2 * xi + yi;
    tables_.x_weight = floats;
    tables_.x_taps = fx.max_taps;
    tables_.y_weight = floats + fx.weight.size();
    tables_.y_taps = fy.max_taps;
  }
  ~DeviceTables() {
    if (device_ != nullptr) cudaFreeAsync(device_, stream_);
  }
  DeviceTables(const DeviceTables&) = delete;
  DeviceTables& operator=(const DeviceTables&) = delete;
  cudaError_t status() const { return status_; }
  const FilterTables& tables() const { return tables_; }

 private:
  cudaStream_t stream_;
  void* device_ = nullptr;
  cudaError_t status_ = cudaSuccess;
  FilterTables tables_{};
};

}  // namespace

int resize_normalize_cuda(const ResizeNormalizeParams& params, int batch, int64_t src_image_stride,
                          int64_t dst_image_stride, void* stream) {
  const std::string err = validate(params);
  if (!err.empty()) throw std::invalid_argument(err);
  if (batch < 1 || batch > 65535) {
    throw std::invalid_argument("batch must be 1..65535, got " + std::to_string(batch));
  }
  ResizeNormalizeParams p = params;
  prepare_normalize(p.norm);
  const Batch b{src_image_stride, dst_image_stride};
  const dim3 block(32, 8);
  const dim3 grid((p.dst.width + block.x - 1) / block.x, (p.dst.height + block.y - 1) / block.y,
                  batch);
  auto s = static_cast<cudaStream_t>(stream);
  const bool half = p.dst.type == OutType::kFloat16;
  if (!uses_separable_filter(p)) {
    const TapRule rule = two_tap_rule(p);
    if (half) {
      gpuResizeTwoTap<uint16_t><<<grid, block, 0, s>>>(p, b, rule);
    } else {
      gpuResizeTwoTap<float><<<grid, block, 0, s>>>(p, b, rule);
    }
    return static_cast<int>(cudaGetLastError());
  }
  const AxisFilter fx = axis_filter(p.interpolation, p.src.width, resized_width(p));
  const AxisFilter fy = axis_filter(p.interpolation, p.src.height, resized_height(p));
  DeviceTables tables(fx, fy, s);
  if (tables.status() != cudaSuccess) return static_cast<int>(tables.status());
  FilterTables t = tables.tables();
  t.clamp_between = clamps_between_passes(p.interpolation);
  t.clamp_output = clamps_output(p.interpolation);
  if (half) {
    gpuResizeSeparable<uint16_t><<<grid, block, 0, s>>>(p, b, t);
  } else {
    gpuResizeSeparable<float><<<grid, block, 0, s>>>(p, b, t);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace mmedge::image
