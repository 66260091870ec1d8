// Tables computed once per FeatureParams (host): the analysis window, mel filters, the DCT
// matrix and the lifter. The CPU lanes and the CUDA kernels read the same tables.
#pragma once

#include <vector>

#include "mmedge/audio/feature_params.h"

namespace mmedge::audio {

// Mel filters as sparse rows: row b covers spectrum bins first[b] .. first[b] + count[b] - 1
// with weights weight[offset[b] .. offset[b] + count[b] - 1].
struct MelFilterBank {
  std::vector<int> first, count, offset;
  std::vector<float> weight;
};

struct FeatureTables {
  std::vector<float> window;  // win_length values
  MelFilterBank mel;
  std::vector<float> dct;     // n_mfcc x n_mels, orthonormal DCT-II (row 0: sqrt(1/n))
  std::vector<float> lifter;  // n_mfcc multipliers (all 1 without a lifter)
};

FeatureTables make_tables(const FeatureParams& p);

// The dense (n_mels, n_fft/2 + 1) filter matrix, for tests and for the Python side.
std::vector<float> dense_mel_filters(const FeatureParams& p);

}  // namespace mmedge::audio
