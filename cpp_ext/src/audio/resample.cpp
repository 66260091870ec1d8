#include "mmedge/audio/resample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "mmedge/audio/window.h"

namespace mmedge::audio {
namespace {

// Modified Bessel function of the first kind, order 0 (power series; double precision).
double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  const double q = x * x / 4.0;
  for (int k = 1; k < 500; ++k) {
    term *= q / (static_cast<double>(k) * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

// scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta)): windowed sinc, unit DC gain.
std::vector<double> firwin_kaiser(int numtaps, double cutoff, double beta) {
  std::vector<double> h(numtaps);
  const double alpha = 0.5 * (numtaps - 1);
  const double i0_beta = bessel_i0(beta);
  for (int n = 0; n < numtaps; ++n) {
    const double m = n - alpha;
    const double x = cutoff * m;
    const double sinc = x == 0.0 ? 1.0 : std::sin(kPi * x) / (kPi * x);
    const double r = 2.0 * n / (numtaps - 1) - 1.0;
    const double w = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
    h[n] = cutoff * sinc * w;
  }
  const double sum = std::accumulate(h.begin(), h.end(), 0.0);
  for (double& v : h) v /= sum;
  return h;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

Resampler::Resampler(int from_hz, int to_hz) {
  if (from_hz <= 0 || to_hz <= 0) {
    throw std::invalid_argument("sample rates must be positive, got " + std::to_string(from_hz) +
                                " Hz -> " + std::to_string(to_hz) + " Hz");
  }
  const int g = std::gcd(from_hz, to_hz);
  up_ = to_hz / g;
  down_ = from_hz / g;
  if (up_ > 65536 || down_ > 65536) {
    throw std::invalid_argument("resampling " + std::to_string(from_hz) + " Hz -> " +
                                std::to_string(to_hz) + " Hz needs factors " + std::to_string(up_) +
                                "/" + std::to_string(down_) + ", over the 65536 supported");
  }
  const int max_rate = std::max(up_, down_);
  half_len_ = 10 * max_rate;
  h_ = firwin_kaiser(2 * half_len_ + 1, 1.0 / max_rate, 5.0);
  for (double& v : h_) v *= up_;
}

// Output j sits at upsampled position j * down; input i at i * up; the filter is centred:
// y[j] = sum_i h[j * down + half_len - i * up] x[i], over the inputs the filter reaches.
double Resampler::output(int64_t j) const {
  const int64_t centre = j * down_ + half_len_;
  const int64_t i_lo = std::max<int64_t>(floor_div(centre - 2 * half_len_ + up_ - 1, up_), 0);
  int64_t i_hi = floor_div(centre, up_);
  const int64_t known = total_ >= 0 ? total_ : received_;
  i_hi = std::min(i_hi, known - 1);
  double acc = 0.0;
  for (int64_t i = i_lo; i <= i_hi; ++i) {
    acc += h_[centre - i * up_] * static_cast<double>(buffer_[i - buffer_start_]);
  }
  return acc;
}

std::vector<float> Resampler::emit(int64_t end) {
  std::vector<float> out;
  if (end > next_) out.reserve(static_cast<size_t>(end - next_));
  for (; next_ < end; ++next_) out.push_back(static_cast<float>(output(next_)));
  // Inputs the next output can still reach start at ceil((next * down - half_len) / up).
  const int64_t keep = std::max<int64_t>(0, floor_div(next_ * down_ - half_len_ + up_ - 1, up_));
  if (keep > buffer_start_) {
    const int64_t drop = std::min<int64_t>(keep - buffer_start_, buffer_.size());
    buffer_.erase(buffer_.begin(), buffer_.begin() + drop);
    buffer_start_ += drop;
  }
  return out;
}

std::vector<float> Resampler::push(const float* x, int64_t n) {
  if (n < 0) throw std::invalid_argument("push needs n >= 0 samples");
  buffer_.insert(buffer_.end(), x, x + n);
  received_ += n;
  // Output j is final once its last input, floor((j * down + half_len) / up), has arrived.
  const int64_t end = std::max<int64_t>(0, floor_div(received_ * up_ - half_len_ - 1, down_) + 1);
  return emit(std::max(end, next_));
}

std::vector<float> Resampler::flush() {
  total_ = received_;
  const int64_t n_out = (received_ * up_ + down_ - 1) / down_;
  std::vector<float> out = emit(n_out);
  buffer_.clear();
  buffer_start_ = 0;
  received_ = 0;
  total_ = -1;
  next_ = 0;
  return out;
}

std::vector<float> Resampler::resample(const float* x, int64_t n, int from_hz, int to_hz) {
  Resampler r(from_hz, to_hz);
  std::vector<float> out = r.push(x, n);
  std::vector<float> rest = r.flush();
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

}  // namespace mmedge::audio
