// Options of log-mel and MFCC extraction. Defaults are filled by the Python presets
// (AudioSpec.librosa / AudioSpec.kaldi); every field states its unit.
#pragma once

#include <cstdint>
#include <string>

namespace mmedge::audio {

enum class Window : int { kHann = 0, kHamming = 1, kPovey = 2, kRectangular = 3 };

// How frames are placed on the signal.
enum class Padding : int {
  kCenterZero = 0,     // librosa center=True, pad_mode="constant": frame f centred on f * hop
  kCenterReflect = 1,  // librosa/torch center=True, pad_mode="reflect"
  kSnipEdges = 2,      // Kaldi snip_edges=true: frame f starts at f * hop, only whole frames
};

enum class MelScale : int { kSlaney = 0, kHtk = 1 };

// How the triangles are laid out: librosa (in Hz between mel-spaced points, over bins
// 0..n_fft/2, optional Slaney area norm) or Kaldi (in mel, over bins 0..n_fft/2 - 1).
enum class MelFilters : int { kLibrosa = 0, kKaldi = 1 };

enum class LogMode : int {
  kDecibel = 0,  // 10 log10(max(floor, x)) - 10 log10(max(floor, ref))   (librosa power_to_db)
  kNatural = 1,  // ln(max(x, floor))                                     (Kaldi)
};

enum class Lifter : int {
  kKaldi = 0,    // c[i] *= 1 + L/2 sin(pi i / L)
  kLibrosa = 1,  // c[i] *= 1 + L/2 sin(pi (i + 1) / L)
};

struct FeatureParams {
  double sample_rate_hz = 16000.0;
  int n_fft = 512;       // FFT size, samples (any size; powers of two are fastest)
  int win_length = 400;  // analysis window, samples (<= n_fft)
  int hop_length = 160;  // frame shift, samples
  Window window = Window::kHann;
  bool window_periodic = true;  // periodic (scipy fftbins=True) or symmetric
  Padding padding = Padding::kCenterZero;
  float sample_scale = 1.0f;  // samples are multiplied by this first (Kaldi: 32768 for int16)
  bool remove_dc = false;     // subtract each frame's mean (Kaldi)
  float preemphasis = 0.0f;   // x[i] -= k x[i-1] within each frame (Kaldi: 0.97)
  float power = 2.0f;         // 2: power spectrum, 1: magnitude
  int n_mels = 40;
  double fmin_hz = 0.0;
  double fmax_hz = 8000.0;  // resolved upper edge, Hz
  MelScale mel_scale = MelScale::kSlaney;
  MelFilters mel_filters = MelFilters::kLibrosa;
  bool slaney_norm = true;  // librosa norm="slaney": triangles of equal area
  LogMode log_mode = LogMode::kDecibel;
  float log_floor = 1e-10f;  // amin (decibel) or floor (natural)
  float db_ref = 1.0f;       // decibel reference power
  int n_mfcc = 13;
  float lifter = 0.0f;  // cepstral lifter L; 0 = none
  Lifter lifter_style = Lifter::kLibrosa;
  bool use_energy = false;    // C0 := ln(max(frame energy, FLT_EPSILON)) before pre-emphasis
  float energy_floor = 0.0f;  // Kaldi energy_floor (linear); 0 = none

  int n_bins() const { return n_fft / 2 + 1; }  // spectrum bins 0..n_fft/2

  // First sample of frame f (may be negative or past the end for centred frames).
  int64_t frame_start(int64_t f) const {
    if (padding == Padding::kSnipEdges) return f * hop_length;
    return f * hop_length - n_fft / 2 + (n_fft - win_length) / 2;
  }

  // Frames a signal of `num_samples` yields.
  int64_t num_frames(int64_t num_samples) const {
    if (padding == Padding::kSnipEdges) {
      return num_samples < win_length ? 0 : 1 + (num_samples - win_length) / hop_length;
    }
    return 1 + num_samples / hop_length;
  }
};

// Empty when valid, else a message naming the bad field and its value.
std::string validate(const FeatureParams& p);

}  // namespace mmedge::audio
