// FFT tables: bit reversal and twiddles of the complex FFT, the split step of the real FFT for
// powers of two, and Bluestein's chirp and kernel for other sizes. rfft() itself lives in
// features_cpu.cpp: it runs the pipeline's own lanes.
#include "mmedge/audio/rfft.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mmedge/audio/window.h"

namespace mmedge::audio {
namespace {

bool is_pow2(int n) { return n >= 1 && (n & (n - 1)) == 0; }

void fill_complex_tables(FftTables& t) {
  const int m = t.m;
  int bits = 0;
  while ((1 << bits) < m) ++bits;
  t.bitrev.resize(m);
  for (int i = 0; i < m; ++i) {
    int r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    t.bitrev[i] = r;
  }
  t.tw_re.resize(std::max(m / 2, 1));
  t.tw_im.resize(std::max(m / 2, 1));
  for (int k = 0; k < m / 2; ++k) {
    const double a = -2.0 * kPi * k / m;
    t.tw_re[k] = static_cast<float>(std::cos(a));
    t.tw_im[k] = static_cast<float>(std::sin(a));
  }
}

// Double-precision radix-2 FFT, used once per table to transform Bluestein's kernel.
void fft_double(std::vector<std::complex<double>>& a) {
  const size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    const std::complex<double> w = std::polar(1.0, -2.0 * kPi / static_cast<double>(len));
    for (size_t i = 0; i < n; i += len) {
      std::complex<double> wk(1.0, 0.0);
      for (size_t k = 0; k < len / 2; ++k) {
        const std::complex<double> u = a[i + k], v = a[i + k + len / 2] * wk;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
        wk *= w;
      }
    }
  }
}

}  // namespace

FftTables make_fft_tables(int n) {
  if (n < 2 || n > (1 << 20)) {
    throw std::invalid_argument("FFT size must be 2..2^20, got " + std::to_string(n));
  }
  FftTables t;
  t.n = n;
  t.pow2 = is_pow2(n);
  if (t.pow2) {
    t.m = n / 2;
    fill_complex_tables(t);
    t.split_re.resize(n / 2 + 1);
    t.split_im.resize(n / 2 + 1);
    for (int k = 0; k <= n / 2; ++k) {
      const double a = -2.0 * kPi * k / n;
      t.split_re[k] = static_cast<float>(std::cos(a));
      t.split_im[k] = static_cast<float>(std::sin(a));
    }
    return t;
  }
  int m = 1;
  while (m < 2 * n - 1) m *= 2;
  t.m = m;
  fill_complex_tables(t);
  // Chirp c[j] = exp(-i pi j^2 / n); j^2 is reduced mod 2n so the angle stays exact.
  t.chirp_re.resize(n);
  t.chirp_im.resize(n);
  std::vector<std::complex<double>> kernel(m, {0.0, 0.0});
  for (int j = 0; j < n; ++j) {
    const double a = -kPi * static_cast<double>((static_cast<int64_t>(j) * j) % (2 * n)) / n;
    t.chirp_re[j] = static_cast<float>(std::cos(a));
    t.chirp_im[j] = static_cast<float>(std::sin(a));
    const std::complex<double> conj_c(std::cos(a), -std::sin(a));
    kernel[j] = conj_c;
    if (j > 0) kernel[m - j] = conj_c;
  }
  fft_double(kernel);
  t.kernel_re.resize(m);
  t.kernel_im.resize(m);
  for (int j = 0; j < m; ++j) {
    t.kernel_re[j] = static_cast<float>(kernel[j].real());
    t.kernel_im[j] = static_cast<float>(kernel[j].imag());
  }
  return t;
}

}  // namespace mmedge::audio
