// Sample-rate conversion by a rational factor up/down with a polyphase windowed-sinc filter,
// the filter and alignment of scipy.signal.resample_poly(x, up, down) (Kaiser window, beta 5,
// cutoff at the lower Nyquist, 10 zero crossings per side, zero padding at both ends).
// Resampler is stateful: fed any chunking, push() + flush() return exactly the batch output.
#pragma once

#include <cstdint>
#include <vector>

namespace mmedge::audio {

class Resampler {
 public:
  // Rates in Hz (any positive integers; 8000, 16000, 22050, 44100, 48000 are typical).
  // Throws std::invalid_argument for non-positive rates or factors over 2^16.
  Resampler(int from_hz, int to_hz);

  int up() const { return up_; }
  int down() const { return down_; }
  int taps() const { return static_cast<int>(h_.size()); }  // filter length, samples

  // Appends n input samples; returns the output samples that became computable.
  std::vector<float> push(const float* x, int64_t n);

  // Ends the input (zeros beyond it) and returns the rest: ceil(n * up / down) outputs in all.
  // The resampler then starts over.
  std::vector<float> flush();

  // The whole conversion at once (= push + flush).
  static std::vector<float> resample(const float* x, int64_t n, int from_hz, int to_hz);

 private:
  std::vector<float> emit(int64_t end);
  double output(int64_t j) const;

  int up_ = 1, down_ = 1, half_len_ = 0;
  std::vector<double> h_;      // 2 * half_len + 1 taps, gain `up`
  std::vector<float> buffer_;  // inputs from global index buffer_start_
  int64_t buffer_start_ = 0;
  int64_t received_ = 0;
  int64_t total_ = -1;  // known at flush
  int64_t next_ = 0;    // next output index
};

}  // namespace mmedge::audio
