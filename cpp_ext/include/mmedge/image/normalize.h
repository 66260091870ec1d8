// Per-channel normalisation and channel order, shared by host and device.
//
// The user's (x * scale - mean) / std is folded into one multiply-add per value:
//     out[c] = alpha[c] * v[src_channel[c]] + beta[c],  alpha = scale / std, beta = -mean / std.
// src_channel[] picks the source channel for each output channel, which is how BGR <-> RGB
// swaps happen inside the same pass.
#pragma once

#include "mmedge/common/hd.h"

namespace mmedge::image {

constexpr int kMaxChannels = 4;

struct Normalize {
  int out_channels = 3;                          // channels written, 1..kMaxChannels
  int src_channel[kMaxChannels] = {0, 1, 2, 3};  // source channel of each output channel
  float alpha[kMaxChannels] = {1, 1, 1, 1};      // multiplier per output channel
  float beta[kMaxChannels] = {0, 0, 0, 0};       // offset per output channel
  float pad[kMaxChannels] = {0, 0, 0, 0};        // value written outside the resized region, after
                                                 // normalisation (letterbox borders)
};

MMEDGE_HD float normalize_value(const Normalize& n, int c, float v) {
  return n.alpha[c] * v + n.beta[c];
}

}  // namespace mmedge::image
