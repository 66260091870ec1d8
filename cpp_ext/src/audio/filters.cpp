// Tables of the feature pipeline: window, mel filter bank (librosa or Kaldi layout), DCT, lifter.
// Computed in double, stored as float.
#include "mmedge/audio/filters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "mmedge/audio/window.h"

namespace mmedge::audio {
namespace {

// librosa.util.normalize(rows, norm, axis=-1): each row divided by its norm, unless the norm is
// below the smallest normal float (librosa's threshold for float32 filters).
void normalize_rows(std::vector<double>& rows, int n, int bins, FilterNorm norm) {
  for (int b = 0; b < n; ++b) {
    double* row = &rows[static_cast<size_t>(b) * bins];
    double length = 0.0;
    for (int k = 0; k < bins; ++k) {
      const double v = std::fabs(row[k]);
      length = norm == FilterNorm::kL1   ? length + v
               : norm == FilterNorm::kL2 ? length + v * v
                                         : std::max(length, v);
    }
    if (norm == FilterNorm::kL2) length = std::sqrt(length);
    if (length < std::numeric_limits<float>::min()) continue;
    for (int k = 0; k < bins; ++k) row[k] /= length;
  }
}

// Weight of input n in output k of an N-point DCT, as scipy.fft.dct(type, norm) defines it:
// unnormalised (norm=None) or orthonormal (norm='ortho').
double dct_weight(int type, bool ortho, int k, int n, int N) {
  if (type == 1) {
    const double c = std::cos(kPi * k * n / (N - 1));
    if (ortho) {
      const double ck = (k == 0 || k == N - 1) ? std::sqrt(0.5) : 1.0;
      const double cn = (n == 0 || n == N - 1) ? std::sqrt(0.5) : 1.0;
      return std::sqrt(2.0 / (N - 1)) * ck * cn * c;
    }
    return n == 0 ? 1.0 : n == N - 1 ? (k % 2 ? -1.0 : 1.0) : 2.0 * c;
  }
  if (type == 3) {
    if (n == 0) return ortho ? std::sqrt(1.0 / N) : 1.0;
    const double c = std::cos(kPi * n * (2 * k + 1) / (2.0 * N));
    return ortho ? std::sqrt(2.0 / N) * c : 2.0 * c;
  }
  const double c = std::cos(kPi / N * (n + 0.5) * k);
  return ortho ? std::sqrt((k == 0 ? 1.0 : 2.0) / N) * c : 2.0 * c;
}

// Dense rows (n_mels x bins) of the mel filters.
std::vector<double> mel_rows(const FeatureParams& p) {
  const int bins = p.n_bins();
  std::vector<double> rows(static_cast<size_t>(p.n_mels) * bins, 0.0);
  const double mel_lo = hz_to_mel(p.fmin_hz, p.mel_scale);
  const double mel_hi = hz_to_mel(p.fmax_hz, p.mel_scale);
  const double bin_hz = p.sample_rate_hz / p.n_fft;
  if (p.mel_filters == MelFilters::kLibrosa) {
    // librosa.filters.mel: triangles in Hz between n_mels + 2 mel-spaced points, over bins
    // 0..n_fft/2, optionally scaled to equal area (Slaney).
    std::vector<double> edge(p.n_mels + 2);
    for (int j = 0; j < p.n_mels + 2; ++j) {
      edge[j] = mel_to_hz(mel_lo + (mel_hi - mel_lo) * j / (p.n_mels + 1), p.mel_scale);
    }
    for (int b = 0; b < p.n_mels; ++b) {
      const double norm = p.slaney_norm ? 2.0 / (edge[b + 2] - edge[b]) : 1.0;
      for (int k = 0; k < bins; ++k) {
        const double f = k * bin_hz;
        const double lower = (f - edge[b]) / (edge[b + 1] - edge[b]);
        const double upper = (edge[b + 2] - f) / (edge[b + 2] - edge[b + 1]);
        rows[static_cast<size_t>(b) * bins + k] = std::max(0.0, std::min(lower, upper)) * norm;
      }
    }
    if (p.filter_norm != FilterNorm::kNone) normalize_rows(rows, p.n_mels, bins, p.filter_norm);
  } else {
    // Kaldi MelBanks: triangles in mel over bins 0..n_fft/2 - 1 (the Nyquist bin is left out).
    const double delta = (mel_hi - mel_lo) / (p.n_mels + 1);
    for (int b = 0; b < p.n_mels; ++b) {
      const double left = mel_lo + b * delta, centre = left + delta, right = centre + delta;
      for (int k = 0; k < bins - 1; ++k) {
        const double mel = hz_to_mel(k * bin_hz, p.mel_scale);
        if (mel > left && mel < right) {
          rows[static_cast<size_t>(b) * bins + k] =
              mel <= centre ? (mel - left) / (centre - left) : (right - mel) / (right - centre);
        }
      }
    }
  }
  return rows;
}

}  // namespace

std::vector<float> dense_mel_filters(const FeatureParams& p) {
  const std::vector<double> rows = mel_rows(p);
  return std::vector<float>(rows.begin(), rows.end());
}

FeatureTables make_tables(const FeatureParams& p) {
  FeatureTables t;
  t.window.resize(p.win_length);
  for (int i = 0; i < p.win_length; ++i) {
    t.window[i] = static_cast<float>(
        window_value(p.window, p.window_periodic, i, p.win_length, p.blackman_coeff));
  }
  const int bins = p.n_bins();
  const std::vector<double> rows = mel_rows(p);
  for (int b = 0; b < p.n_mels; ++b) {
    const double* row = &rows[static_cast<size_t>(b) * bins];
    int first = 0, last = -1;
    for (int k = 0; k < bins; ++k) {
      if (row[k] != 0.0) {
        if (last < 0) first = k;
        last = k;
      }
    }
    t.mel.first.push_back(first);
    t.mel.count.push_back(last < 0 ? 0 : last - first + 1);
    t.mel.offset.push_back(static_cast<int>(t.mel.weight.size()));
    for (int k = first; k <= last; ++k) t.mel.weight.push_back(static_cast<float>(row[k]));
  }
  // Orthonormal DCT-II (scipy norm="ortho", Kaldi ComputeDctMatrix).
  t.dct.resize(static_cast<size_t>(p.n_mfcc) * p.n_mels);
  for (int c = 0; c < p.n_mfcc; ++c) {
    for (int b = 0; b < p.n_mels; ++b) {
      t.dct[static_cast<size_t>(c) * p.n_mels + b] =
          static_cast<float>(dct_weight(p.dct_type, p.dct_ortho, c, b, p.n_mels));
    }
  }
  t.lifter.resize(p.n_mfcc);
  for (int c = 0; c < p.n_mfcc; ++c) {
    t.lifter[c] =
        p.lifter > 0 ? static_cast<float>(lifter_value(p.lifter_style, c, p.lifter)) : 1.0f;
  }
  return t;
}

}  // namespace mmedge::audio
