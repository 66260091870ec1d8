// Fused image preprocessing: resize (bilinear, area, bicubic, nearest, antialiased bilinear and
// bicubic), optionally centre-cropped, + colour conversion (packed, YUV 4:2:0 and 4:2:2 sources) +
// (x * scale - mean) / std + HWC -> planar (NCHW) + float32/float16, in one pass over the output
// for the two-tap modes.
//
// The output is `norm.out_channels` planes of dst.height x dst.width elements. The source is
// resized into the region `roi` of those planes; everything outside it is set to norm.pad[c]
// (letterbox borders). With roi == the whole plane this is a plain resize.
#pragma once

#include <cstdint>
#include <string>

#include "mmedge/image/bilinear.h"
#include "mmedge/image/normalize.h"
#include "mmedge/image/pixel.h"

namespace mmedge::image {

enum class OutType : int { kFloat32 = 0, kFloat16 = 1 };

// How the source is sampled.
enum class Interpolation : int {
  kBilinear = 0,           // cv::resize INTER_LINEAR
  kArea = 1,               // cv::resize INTER_AREA
  kBilinearAntialias = 2,  // PIL BILINEAR, torchvision antialias=True
  kBicubic = 3,            // cv::resize INTER_CUBIC
  kBicubicAntialias = 4,   // PIL BICUBIC, torchvision BICUBIC antialias=True
  kNearest = 5,            // cv::resize INTER_NEAREST
  kNearestExact = 6,       // cv::resize INTER_NEAREST_EXACT, PIL NEAREST
};

// Output planes of one image: plane c, row y, column x is at
// data + c * plane_stride + y * row_stride + x, counted in elements of `type`.
struct DstPlanes {
  void* data = nullptr;
  OutType type = OutType::kFloat32;
  int height = 0;            // rows, px
  int width = 0;             // columns, px
  int64_t plane_stride = 0;  // elements between planes (channels)
  int64_t row_stride = 0;    // elements between rows
};

// Where the resized source lands in the output, px.
struct Roi {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// A resize larger than the region, centre-cropped into it (torchvision Resize(size) +
// CenterCrop): the source is resized to resized_width x resized_height px, and columns
// [x, x + roi.width), rows [y, y + roi.height) of that image land in roi. resized_width == 0 and
// resized_height == 0: no crop, the source is resized to roi's size.
struct ResizeWindow {
  int resized_width = 0;
  int resized_height = 0;
  int x = 0;
  int y = 0;
};

struct ResizeNormalizeParams {
  SrcImage src;
  DstPlanes dst;
  Roi roi;
  ResizeWindow window;
  Normalize norm;
  Interpolation interpolation = Interpolation::kBilinear;
  // false: write the resize region only, for outputs that already hold the border (pad) from an
  // earlier call with the same geometry: the letterbox border is then not rewritten per frame.
  bool fill_border = true;
};

// Size of the resized image (px): window.resized_* when cropping, else roi's.
MMEDGE_HD int resized_width(const ResizeNormalizeParams& p) {
  return p.window.resized_width > 0 ? p.window.resized_width : p.roi.width;
}
MMEDGE_HD int resized_height(const ResizeNormalizeParams& p) {
  return p.window.resized_height > 0 ? p.window.resized_height : p.roi.height;
}

// Returns an empty string when `p` is valid, else a message naming the bad field and its value.
std::string validate(const ResizeNormalizeParams& p);

// Whether `p` runs as a separable filter (area reduction in both axes, antialiased bilinear)
// rather than the fused two-tap pass; and the two-tap rule otherwise.
bool uses_separable_filter(const ResizeNormalizeParams& p);
TapRule two_tap_rule(const ResizeNormalizeParams& p);

// Runs on the CPU (SIMD where the CPU has it, threads from mmedge::parallel). Throws
// std::invalid_argument with validate()'s message on bad parameters.
void resize_normalize_cpu(const ResizeNormalizeParams& p);

// Which CPU driver resize_normalize_cpu() would pick for `p`: "avx2", "scalar" or "separable".
const char* cpu_driver_name(const ResizeNormalizeParams& p);

// The best CPU driver this build and CPU offer for packed images: "avx2" or "scalar".
const char* best_cpu_driver();

// Forces the portable scalar driver (for tests that compare drivers), or lifts the force.
void force_scalar_driver(bool force);

#if defined(MMEDGE_WITH_CUDA)
// Launches the CUDA kernels for `batch` images on `stream` (a cudaStream_t; nullptr = the
// default stream). Image i reads src with every plane pointer advanced by i * src_image_stride
// bytes and writes dst advanced by i * dst_image_stride elements. Pointers are device pointers.
// Returns a CUDA error code (0 = cudaSuccess), or throws std::invalid_argument with
// validate()'s message on bad parameters.
int resize_normalize_cuda(const ResizeNormalizeParams& p, int batch, int64_t src_image_stride,
                          int64_t dst_image_stride, void* stream);
#endif

}  // namespace mmedge::image
