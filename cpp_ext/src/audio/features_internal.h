// Shared by the feature drivers: the pipeline tables, frame access with padding, and the lane
// drivers' entry points.
#pragma once

#include <cstdint>

#include "mmedge/audio/feature_params.h"
#include "mmedge/audio/filters.h"
#include "mmedge/audio/rfft.h"

namespace mmedge::audio {

struct Pipeline {
  FeatureParams params;
  FeatureTables tables;
  FftTables fft;
  // tables.mel.weight scaled for the power-of-two path, whose spectrum comes out doubled:
  // x 1/4 for power 2, x 1/2 for magnitudes (exact: powers of two).
  std::vector<float> mel_pow2;
};

// Samples of a signal known from global index `offset` on; `total` is its length when known
// (after the end: padding), or -1 while streaming.
struct SignalView {
  const float* data = nullptr;
  int64_t offset = 0;
  int64_t available = 0;  // samples at data
  int64_t total = -1;

  // The win_length samples of frame f: a pointer into data, or `scratch` filled with them when
  // the frame reaches past an end (zero or reflect padding, as params.padding says).
  const float* frame(int64_t f, const FeatureParams& p, float* scratch) const;
};

// Log-mel rows (and MFCC rows when mfcc != nullptr) of frames [f0, f1); row i = frame f0 + i.
// dct == false leaves the MFCC rows to clamp_rows() (only C0 is written when it is the frame
// energy, which needs the samples).
using FeaturesFn = void (*)(const Pipeline& pl, const SignalView& signal, int64_t f0, int64_t f1,
                            float* logmel, float* mfcc, bool dct);
// librosa's top_db clamp of n log-mel rows: every value raised to at least `floor`, then (when
// mfcc != nullptr) their MFCC from the clamped rows (C0 left alone when it is the energy).
using ClampFn = void (*)(const Pipeline& pl, float* logmel, float* mfcc, int64_t n, float floor);

namespace detail {
int64_t first_nonfinite_scalar(const float* x, int64_t n);
#if defined(MMEDGE_HAVE_AVX2)
int64_t first_nonfinite_avx2(const float* x, int64_t n);
#endif
void features_scalar(const Pipeline&, const SignalView&, int64_t, int64_t, float*, float*, bool);
void clamp_scalar(const Pipeline&, float*, float*, int64_t, float);
#if defined(MMEDGE_HAVE_AVX2)
void features_avx2(const Pipeline&, const SignalView&, int64_t, int64_t, float*, float*, bool);
void clamp_avx2(const Pipeline&, float*, float*, int64_t, float);
#endif
#if defined(MMEDGE_HAVE_NEON)
void features_neon(const Pipeline&, const SignalView&, int64_t, int64_t, float*, float*, bool);
void clamp_neon(const Pipeline&, float*, float*, int64_t, float);
#endif
}  // namespace detail

}  // namespace mmedge::audio
