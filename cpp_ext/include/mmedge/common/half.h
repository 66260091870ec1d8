// IEEE 754 binary16 conversion shared by host and device.
//
// float_to_half_bits() rounds to nearest, ties to even, as numpy.float16, F16C's
// _mm256_cvtps_ph(_MM_FROUND_TO_NEAREST_INT) and CUDA's __float2half_rn do, so every path
// writes the same bits.
#pragma once

#include <cstdint>
#include <cstring>

#include "mmedge/common/hd.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#endif

namespace mmedge {

MMEDGE_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

// Returns the binary16 bit pattern nearest to `f` (ties to even); NaN stays NaN, overflow
// becomes +-inf.
MMEDGE_HD uint16_t float_to_half_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __half_as_ushort(__float2half_rn(f));  // the same rounding, in one instruction
#else
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs_x = x & 0x7fffffffu;
  if (abs_x >= 0x7f800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs_x > 0x7f800000u ? 0x0200u : 0u));
  }
  if (abs_x >= 0x477ff000u) {  // rounds to >= 65520: overflow to inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (abs_x < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (abs_x < 0x33000000u) return static_cast<uint16_t>(sign);  // below half of 2^-24
    const uint32_t exponent = abs_x >> 23;
    const uint32_t mantissa = (abs_x & 0x007fffffu) | 0x00800000u;
    const uint32_t shift = 126u - exponent;  // 14..24 places
    uint32_t half_mantissa = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (remainder > halfway || (remainder == halfway && (half_mantissa & 1u))) ++half_mantissa;
    return static_cast<uint16_t>(sign | half_mantissa);
  }
  // Normal range: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits.
  uint32_t h = ((abs_x - 0x38000000u) >> 13);
  const uint32_t remainder = abs_x & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
#endif
}

}  // namespace mmedge
