// Real FFT of any size, single precision, no external library. Powers of two run a radix-2
// complex FFT of half the size plus a split step; other sizes run Bluestein's chirp-z
// algorithm on the next power of two >= 2n - 1. The lane-parallel variant used by the feature
// extractor shares these tables (see src/audio/feature_lanes.inl).
#pragma once

#include <complex>
#include <vector>

namespace mmedge::audio {

struct FftTables {
  int n = 0;                                // real input length
  bool pow2 = false;                        // n is a power of two (>= 2)
  int m = 0;                                // complex FFT size: n/2 (pow2) or the Bluestein length
  std::vector<int> bitrev;                  // bit reversal of 0..m-1
  std::vector<float> tw_re, tw_im;          // exp(-2 pi i k / m), k < m/2
  std::vector<float> split_re, split_im;    // pow2 split step: exp(-2 pi i k / n), k <= n/2
  std::vector<float> chirp_re, chirp_im;    // Bluestein: exp(-i pi k^2 / n), k < n
  std::vector<float> kernel_re, kernel_im;  // Bluestein: FFT of the conjugate chirp, m values
};

FftTables make_fft_tables(int n);

// X[k] = sum_j x[j] exp(-2 pi i j k / n) for k = 0..n/2 (n/2 + 1 values), x of length n.
void rfft(const FftTables& t, const float* x, std::complex<float>* out);

}  // namespace mmedge::audio
