// Log-mel and MFCC extraction: batch (FeatureExtractor) and streaming (FeatureStream). Both run
// the same per-frame pipeline in the same lanes, so a stream fed any chunking returns exactly
// (bit for bit) the frames of the batch call on the same machine.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mmedge/audio/feature_params.h"

namespace mmedge::audio {

struct Pipeline;  // tables + FFT plan of one FeatureParams (src/audio/features_internal.h)

class FeatureExtractor {
 public:
  // Throws std::invalid_argument with validate()'s message on bad parameters.
  explicit FeatureExtractor(const FeatureParams& p);
  ~FeatureExtractor();

  const FeatureParams& params() const;
  int64_t num_frames(int64_t num_samples) const { return params().num_frames(num_samples); }

  // Log-mel rows of every frame of x[0..n) into logmel (frames x n_mels, row-major), and MFCC
  // rows into mfcc (frames x n_mfcc) unless it is nullptr. top_db > 0 applies librosa's clamp:
  // log-mel values below (their maximum - top_db) are raised to it, and the MFCC follow the
  // clamped values (a second pass once the maximum is known: clamp, then the DCT).
  void compute(const float* x, int64_t n, float* logmel, float* mfcc, float top_db) const;

  // "avx2" or "scalar": the lanes this machine runs (scalar when forced).
  static const char* driver_name();

 private:
  std::shared_ptr<const Pipeline> pipeline_;
};

// Index of the first NaN or Inf of x[0..n), or -1 (one vectorised pass: the inputs' check).
int64_t first_nonfinite(const float* x, int64_t n);

// Makes the audio features run on the portable one-frame lanes, as on a CPU without AVX2 (for
// comparing drivers in tests).
void force_scalar_driver(bool force);

class FeatureStream {
 public:
  // mfcc: emit MFCC rows (n_mfcc) rather than log-mel rows (n_mels).
  FeatureStream(const FeatureParams& p, bool mfcc);
  ~FeatureStream();

  int row_size() const;

  // Appends n samples; returns the rows of every frame that became complete.
  std::vector<float> push(const float* x, int64_t n);

  // Ends the signal: pads the end as the batch call does and returns the remaining rows.
  // The stream then starts over (as if new).
  std::vector<float> flush();

  int64_t frames_emitted() const { return next_frame_; }

 private:
  std::vector<float> emit(int64_t frame_end, int64_t total);

  std::shared_ptr<const Pipeline> pipeline_;
  bool mfcc_;
  std::vector<float> buffer_;  // samples from global index buffer_start_
  int64_t buffer_start_ = 0;
  int64_t received_ = 0;
  int64_t next_frame_ = 0;
};

}  // namespace mmedge::audio
