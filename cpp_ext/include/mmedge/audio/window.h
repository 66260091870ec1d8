// Per-sample math of audio features shared by host and device: analysis windows, mel scales,
// cepstral lifters.
#pragma once

#include <cmath>

#include "mmedge/audio/feature_params.h"
#include "mmedge/common/hd.h"

namespace mmedge::audio {

constexpr double kPi = 3.14159265358979323846;

// Sample i of an n-sample window. Periodic windows (scipy's fftbins=True, torch's default)
// divide by n, symmetric ones by n - 1. Povey (Kaldi) is a symmetric Hann to the power 0.85;
// blackman and sine are Kaldi's / kaldi-native-fbank's (blackman_coeff c, 0.42 by default).
MMEDGE_HD double window_value(Window w, bool periodic, int i, int n, double c = 0.42) {
  const double denom = periodic && w != Window::kPovey ? n : (n > 1 ? n - 1 : 1);
  const double a = 2.0 * kPi * i / denom;
  switch (w) {
    case Window::kHann:
      return 0.5 - 0.5 * cos(a);
    case Window::kHamming:
      return 0.54 - 0.46 * cos(a);
    case Window::kPovey:
      return pow(0.5 - 0.5 * cos(a), 0.85);
    case Window::kRectangular:
      return 1.0;
    case Window::kBlackman:
      return c - 0.5 * cos(a) + (0.5 - c) * cos(2.0 * a);
    case Window::kSine:
      return sin(0.5 * a);
  }
  return 1.0;
}

// Hz -> mel. HTK: 2595 log10(1 + f / 700) (= 1127 ln(1 + f / 700), Kaldi). Slaney (librosa's
// default): linear below 1 kHz (3 mel per 200 Hz), logarithmic above.
MMEDGE_HD double hz_to_mel(double hz, MelScale s) {
  if (s == MelScale::kHtk) return 1127.0 * log(1.0 + hz / 700.0);
  const double f_sp = 200.0 / 3.0;
  const double min_log_hz = 1000.0;
  const double min_log_mel = min_log_hz / f_sp;
  const double logstep = log(6.4) / 27.0;
  return hz >= min_log_hz ? min_log_mel + log(hz / min_log_hz) / logstep : hz / f_sp;
}

MMEDGE_HD double mel_to_hz(double mel, MelScale s) {
  if (s == MelScale::kHtk) return 700.0 * (exp(mel / 1127.0) - 1.0);
  const double f_sp = 200.0 / 3.0;
  const double min_log_hz = 1000.0;
  const double min_log_mel = min_log_hz / f_sp;
  const double logstep = log(6.4) / 27.0;
  return mel >= min_log_mel ? min_log_hz * exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

// Multiplier of cepstral coefficient i for lifter L (> 0).
MMEDGE_HD double lifter_value(Lifter style, int i, double L) {
  const int k = style == Lifter::kLibrosa ? i + 1 : i;
  return 1.0 + 0.5 * L * sin(kPi * k / L);
}

}  // namespace mmedge::audio
