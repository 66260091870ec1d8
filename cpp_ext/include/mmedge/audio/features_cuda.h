// Log-mel and MFCC on the GPU for a batch of signals: one thread block per frame (shared-memory
// radix-2 FFT, Bluestein for other sizes), with the tables of make_tables()/make_fft_tables()
// uploaded once per extractor. Same definitions as the CPU lanes (feature_lanes.inl).
#pragma once

#if defined(MMEDGE_WITH_CUDA)

#include <cstdint>
#include <memory>

#include "mmedge/audio/feature_params.h"

namespace mmedge::audio {

class CudaFeatureExtractor {
 public:
  // Uploads the tables; throws std::invalid_argument on bad parameters, std::runtime_error on
  // CUDA errors.
  explicit CudaFeatureExtractor(const FeatureParams& p);
  ~CudaFeatureExtractor();
  CudaFeatureExtractor(const CudaFeatureExtractor&) = delete;
  CudaFeatureExtractor& operator=(const CudaFeatureExtractor&) = delete;

  const FeatureParams& params() const;

  // samples: device pointer to `batch` signals of n samples each, `sample_stride` floats apart.
  // logmel: device (batch, frames, n_mels); mfcc: device (batch, frames, n_mfcc) or nullptr.
  // top_db > 0: librosa's clamp, per signal. Launched on `stream` (cudaStream_t; nullptr =
  // default); returns without waiting. Throws std::runtime_error on CUDA errors.
  void compute(const float* samples, int64_t n, int batch, int64_t sample_stride, float* logmel,
               float* mfcc, float top_db, void* stream) const;

 private:
  struct Device;
  std::unique_ptr<Device> d_;
};

}  // namespace mmedge::audio

#endif
