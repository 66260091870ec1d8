// Audio features on the CPU: the portable (one frame per lane) driver, run-time selection of
// the AVX2 driver, FeatureExtractor, FeatureStream, and the rfft() entry point (which runs the
// pipeline's own FFT, so testing it tests what the features use).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "features_internal.h"
#include "mmedge/audio/features.h"
#include "mmedge/common/parallel.h"

namespace mmedge::audio {
namespace {

struct ScalarOps {
  using V = float;
  static constexpr int kLanes = 1;
  static float zero() { return 0.0f; }
  static float set1(float x) { return x; }
  static float add(float a, float b) { return a + b; }
  static float sub(float a, float b) { return a - b; }
  static float mul(float a, float b) { return a * b; }
  static float fma(float a, float b, float c) { return a * b + c; }
  static float max(float a, float b) { return a > b ? a : b; }
  static float log(float a) { return std::log(a); }
  static float sqrt(float a) { return std::sqrt(a); }
  static float load(const float* const* rows, int i) { return rows[0][i]; }
  static void load_rows(const float* const* rows, int i, int count, float* out) {
    for (int j = 0; j < count; ++j) out[j] = rows[0][i + j];
  }
  static void store(float v, float* const* rows, int i) { rows[0][i] = v; }
  static void store_rows(const float* v, float* const* rows, int i, int count) {
    for (int j = 0; j < count; ++j) rows[0][i + j] = v[j];
  }
};

#include "feature_lanes.inl"
#include "lane_driver.inl"

std::atomic<bool> g_force_scalar{false};

bool cpu_has_avx2() {
#if defined(MMEDGE_HAVE_AVX2)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok && !g_force_scalar.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// NEON is the baseline of aarch64: its lanes always, unless the scalar reference is forced.
bool cpu_has_neon() {
#if defined(MMEDGE_HAVE_NEON)
  return !g_force_scalar.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// AVX2 lanes (8 frames) where the CPU has them, NEON lanes (4 frames) on aarch64. (16-frame
// AVX-512 lanes were measured on the Zen 4 CI machine: 5% faster for 10 s of audio, slower for
// 1 s; not worth another driver.)
FeaturesFn features_driver() {
#if defined(MMEDGE_HAVE_AVX2)
  if (cpu_has_avx2()) return detail::features_avx2;
#endif
#if defined(MMEDGE_HAVE_NEON)
  if (cpu_has_neon()) return detail::features_neon;
#endif
  return detail::features_scalar;
}

ClampFn clamp_driver() {
#if defined(MMEDGE_HAVE_AVX2)
  if (cpu_has_avx2()) return detail::clamp_avx2;
#endif
#if defined(MMEDGE_HAVE_NEON)
  if (cpu_has_neon()) return detail::clamp_neon;
#endif
  return detail::clamp_scalar;
}

std::shared_ptr<const Pipeline> make_pipeline(const FeatureParams& p) {
  const std::string err = validate(p);
  if (!err.empty()) throw std::invalid_argument(err);
  auto pl = std::make_shared<Pipeline>();
  pl->params = p;
  pl->tables = make_tables(p);
  pl->fft = make_fft_tables(p.n_fft);
  const float undo = p.power == 2.0f ? 0.25f : 0.5f;
  pl->mel_pow2 = pl->tables.mel.weight;
  for (float& w : pl->mel_pow2) w *= undo;
  return pl;
}

// Largest of n > 0 floats (no NaN): eight independent maxima, which compilers vectorise.
float max_of(const float* x, int64_t n) {
  float m[8];
  std::fill(m, m + 8, x[0]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) m[j] = m[j] < x[i + j] ? x[i + j] : m[j];
  }
  for (; i < n; ++i) m[0] = m[0] < x[i] ? x[i] : m[0];
  return *std::max_element(m, m + 8);
}

// Frames per parallel chunk: enough that waking a thread pays (about 50 us of work).
constexpr int64_t kFramesPerChunk = 32;

}  // namespace

namespace detail {
void features_scalar(const Pipeline& pl, const SignalView& s, int64_t f0, int64_t f1, float* logmel,
                     float* mfcc, bool dct) {
  feature_groups<ScalarOps>(pl, s, f0, f1, logmel, mfcc, dct);
}
void clamp_scalar(const Pipeline& pl, float* logmel, float* mfcc, int64_t n, float floor) {
  clamp_groups<ScalarOps>(pl, logmel, mfcc, n, floor);
}
}  // namespace detail

void force_scalar_driver(bool force) { g_force_scalar.store(force); }

namespace detail {
int64_t first_nonfinite_scalar(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return i;
  }
  return -1;
}
}  // namespace detail

int64_t first_nonfinite(const float* x, int64_t n) {
#if defined(MMEDGE_HAVE_AVX2)
  if (cpu_has_avx2()) return detail::first_nonfinite_avx2(x, n);
#endif
  return detail::first_nonfinite_scalar(x, n);
}

std::string validate(const FeatureParams& p) {
  std::ostringstream err;
  if (!(p.sample_rate_hz > 0))
    err << "sample rate must be positive, got " << p.sample_rate_hz;
  else if (p.n_fft < 2 || p.n_fft > (1 << 20))
    err << "n_fft must be 2..2^20, got " << p.n_fft;
  else if (p.win_length < 1 || p.win_length > p.n_fft)
    err << "win_length must be 1..n_fft (" << p.n_fft << "), got " << p.win_length;
  else if (p.hop_length < 1)
    err << "hop_length must be positive, got " << p.hop_length;
  else if (p.n_mels < 1 || p.n_mels > 1024)
    err << "n_mels must be 1..1024, got " << p.n_mels;
  else if (p.n_mfcc < 1 || p.n_mfcc > p.n_mels)
    err << "n_mfcc must be 1..n_mels (" << p.n_mels << "), got " << p.n_mfcc;
  else if (!(p.fmin_hz >= 0) || !(p.fmax_hz > p.fmin_hz) || p.fmax_hz > p.sample_rate_hz / 2 + 1e-6)
    err << "mel band must satisfy 0 <= fmin < fmax <= Nyquist (" << p.sample_rate_hz / 2
        << " Hz), got " << p.fmin_hz << ".." << p.fmax_hz << " Hz";
  else if (p.power != 1.0f && p.power != 2.0f)
    err << "power must be 1 or 2, got " << p.power;
  else if (!(p.log_floor > 0))
    err << "log floor must be positive, got " << p.log_floor;
  else if (p.preemphasis < 0 || p.preemphasis > 1)
    err << "preemphasis must be 0..1, got " << p.preemphasis;
  else if (p.lifter < 0)
    err << "lifter must be >= 0, got " << p.lifter;
  else if (p.dct_type < 1 || p.dct_type > 3 || (p.dct_type == 1 && p.n_mels < 2))
    err << "dct_type must be 1, 2 or 3 (1 needs n_mels >= 2), got " << p.dct_type;
  else if (p.slaney_norm && p.filter_norm != FilterNorm::kNone)
    err << "slaney_norm and a filter_norm exclude each other (librosa's norm is one of them)";
  return err.str();
}

const float* SignalView::frame(int64_t f, const FeatureParams& p, float* scratch) const {
  const int64_t start = p.frame_start(f);
  const int64_t local = start - offset;
  const int win = p.win_length;
  if (local >= 0 && local + win <= available) return data + local;
  for (int i = 0; i < win; ++i) {
    int64_t g = start + i;
    if (p.padding == Padding::kCenterReflect) {  // numpy "reflect": -1 -> 1, total -> total - 2
      if (total > 1) {
        while (g < 0 || g >= total) g = g < 0 ? -g : 2 * (total - 1) - g;
      } else if (total < 0 && g < 0) {
        g = -g;  // streaming: the end is not known yet, and no emitted frame reaches it
      }
    } else if (p.padding == Padding::kKaldiCentered) {  // Kaldi: -1 -> 0, total -> total - 1
      if (total > 0) {
        while (g < 0 || g >= total) g = g < 0 ? -g - 1 : 2 * total - 1 - g;
      } else if (total < 0 && g < 0) {
        g = -g - 1;
      }
    }
    const bool inside = g >= 0 && (total < 0 || g < total) && g - offset < available;
    scratch[i] = inside && g >= offset ? data[g - offset] : 0.0f;
  }
  return scratch;
}

FeatureExtractor::FeatureExtractor(const FeatureParams& p) : pipeline_(make_pipeline(p)) {}
FeatureExtractor::~FeatureExtractor() = default;

const FeatureParams& FeatureExtractor::params() const { return pipeline_->params; }

const char* FeatureExtractor::driver_name() {
  return cpu_has_avx2() ? "avx2" : cpu_has_neon() ? "neon" : "scalar";
}

void FeatureExtractor::compute(const float* x, int64_t n, float* logmel, float* mfcc,
                               float top_db) const {
  const Pipeline& pl = *pipeline_;
  const FeatureParams& p = pl.params;
  const SignalView signal{x, 0, n, n};
  const int64_t frames = p.num_frames(n);
  const FeaturesFn run = features_driver();
  const int64_t chunks = (frames + kFramesPerChunk - 1) / kFramesPerChunk;
  // With top_db the MFCC come from the clamped log-mel, as librosa computes them: a second
  // pass once the maximum of the whole signal is known.
  const bool clamp = top_db > 0.0f && frames > 0;
  parallel::parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    const int64_t f0 = c0 * kFramesPerChunk;
    const int64_t f1 = std::min(frames, c1 * kFramesPerChunk);
    run(pl, signal, f0, f1, logmel + f0 * p.n_mels,
        mfcc != nullptr ? mfcc + f0 * p.n_mfcc : nullptr, !clamp);
  });
  if (!clamp) return;
  const float floor = max_of(logmel, frames * p.n_mels) - top_db;
  const ClampFn clamp_rows = clamp_driver();
  parallel::parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    const int64_t f0 = c0 * kFramesPerChunk;
    const int64_t f1 = std::min(frames, c1 * kFramesPerChunk);
    clamp_rows(pl, logmel + f0 * p.n_mels, mfcc != nullptr ? mfcc + f0 * p.n_mfcc : nullptr,
               f1 - f0, floor);
  });
}

FeatureStream::FeatureStream(const FeatureParams& p, bool mfcc)
    : pipeline_(make_pipeline(p)), mfcc_(mfcc) {}
FeatureStream::~FeatureStream() = default;

int FeatureStream::row_size() const {
  return mfcc_ ? pipeline_->params.n_mfcc : pipeline_->params.n_mels;
}

std::vector<float> FeatureStream::emit(int64_t frame_end, int64_t total) {
  const Pipeline& pl = *pipeline_;
  const FeatureParams& p = pl.params;
  const int64_t count = frame_end - next_frame_;
  if (count <= 0) return {};
  const SignalView signal{buffer_.data(), buffer_start_, static_cast<int64_t>(buffer_.size()),
                          total};
  std::vector<float> logmel(static_cast<size_t>(count) * p.n_mels);
  std::vector<float> mfcc(mfcc_ ? static_cast<size_t>(count) * p.n_mfcc : 0);
  features_driver()(pl, signal, next_frame_, frame_end, logmel.data(),
                    mfcc_ ? mfcc.data() : nullptr, true);
  next_frame_ = frame_end;
  // Keep the samples the next frames can still reach (reflect padding reads the last ones).
  const int64_t keep_from =
      std::max<int64_t>(0, std::min(p.frame_start(next_frame_), received_ - p.win_length));
  if (keep_from > buffer_start_) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + (keep_from - buffer_start_));
    buffer_start_ = keep_from;
  }
  return mfcc_ ? mfcc : logmel;
}

std::vector<float> FeatureStream::push(const float* x, int64_t n) {
  if (n < 0) throw std::invalid_argument("push needs n >= 0 samples");
  buffer_.insert(buffer_.end(), x, x + n);
  received_ += n;
  const FeatureParams& p = pipeline_->params;
  // Frames whose samples have all arrived (a centred frame may still start before sample 0).
  int64_t end = next_frame_;
  while (p.frame_start(end) + p.win_length <= received_) ++end;
  return emit(end, -1);
}

std::vector<float> FeatureStream::flush() {
  const int64_t total = received_;
  std::vector<float> rows = emit(pipeline_->params.num_frames(total), total);
  buffer_.clear();
  buffer_start_ = 0;
  received_ = 0;
  next_frame_ = 0;
  return rows;
}

void rfft(const FftTables& t, const float* x, std::complex<float>* out) {
  // The pipeline's own FFT (one lane): power-of-two split or Bluestein.
  FeatureParams p;
  p.n_fft = t.n;
  p.win_length = t.n;
  Pipeline pl;
  pl.params = p;
  pl.fft = t;
  p.n_mels = 1;
  pl.params = p;
  Lanes<ScalarOps>::Scratch s(pl);
  Lanes<ScalarOps>::rfft(t, x, t.n, s);
  for (int k = 0; k <= t.n / 2; ++k) out[k] = {s.spec_re[k], s.spec_im[k]};
}

}  // namespace mmedge::audio
