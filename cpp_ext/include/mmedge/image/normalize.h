// Colour mapping and normalisation, shared by host and device.
//
// Every output channel is an affine function of the source values v[k] of a pixel (packed
// channels, or R, G, B, Y for YUV sources):
//     out[c] = sum_k weight[c][k] * v[k] + bias[c]
// which holds channel picks (BGR -> RGB: one weight per row), colour -> grey (luma weights) and
// (x * scale - mean) / std (folded into weight and bias) in one multiply-add chain. A row with a
// single non-zero weight is marked in pick[] so drivers can skip the zeros.
#pragma once

#include "mmedge/common/hd.h"
#include "mmedge/image/pixel.h"

namespace mmedge::image {

struct Normalize {
  int out_channels = 3;                           // channels written, 1..kMaxChannels
  float weight[kMaxChannels][kMaxChannels] = {};  // weight[c][k]: source value k -> output c
  float bias[kMaxChannels] = {};
  float pad[kMaxChannels] = {};  // value written outside the resized region (letterbox)
  int pick[kMaxChannels] = {-1, -1, -1, -1};  // k when row c has one non-zero weight, else -1
};

// Fills pick[] from weight[]; returns a bit mask of the source values any output uses.
inline int prepare_normalize(Normalize& n) {
  int used = 0;
  for (int c = 0; c < n.out_channels; ++c) {
    int nonzero = 0, last = -1;
    for (int k = 0; k < kMaxChannels; ++k) {
      if (n.weight[c][k] != 0.0f) {
        ++nonzero;
        last = k;
        used |= 1 << k;
      }
    }
    n.pick[c] = nonzero == 1 ? last : -1;
  }
  return used;
}

// Output channel c of a pixel whose (interpolated) source values are v[].
MMEDGE_HD float apply_normalize(const Normalize& n, int c, const float* v) {
  const int k = n.pick[c];
  if (k >= 0) return n.weight[c][k] * v[k] + n.bias[c];
  float acc = n.bias[c];
  for (int j = 0; j < kMaxChannels; ++j) acc += n.weight[c][j] * v[j];
  return acc;
}

}  // namespace mmedge::image
