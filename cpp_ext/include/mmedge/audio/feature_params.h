// Options of log-mel and MFCC extraction. Defaults are filled by the Python presets
// (AudioSpec.librosa / AudioSpec.kaldi); every field states its unit.
#pragma once

#include <cstdint>
#include <string>

namespace mmedge::audio {

enum class Window : int {
  kHann = 0,
  kHamming = 1,
  kPovey = 2,
  kRectangular = 3,
  kBlackman = 4,  // Kaldi: c - 0.5 cos(a) + (0.5 - c) cos(2a), c = blackman_coeff
  kSine = 5,      // kaldi-native-fbank: sin(a / 2)
};

// How frames are placed on the signal.
enum class Padding : int {
  kCenterZero = 0,     // librosa center=True, pad_mode="constant": frame f centred on f * hop
  kCenterReflect = 1,  // librosa/torch center=True, pad_mode="reflect"
  kSnipEdges = 2,      // Kaldi snip_edges=true: frame f starts at f * hop, only whole frames
  kKaldiCentered = 3,  // Kaldi snip_edges=false: frame f centred on f * hop + hop / 2,
                       // (n + hop / 2) / hop frames, edges mirrored (-1 -> 0, n -> n - 1)
};

enum class MelScale : int { kSlaney = 0, kHtk = 1 };

// How the triangles are laid out: librosa (in Hz between mel-spaced points, over bins
// 0..n_fft/2, optional Slaney area norm) or Kaldi (in mel, over bins 0..n_fft/2 - 1).
enum class MelFilters : int { kLibrosa = 0, kKaldi = 1 };

// librosa.filters.mel(norm=<number>): each filter scaled to unit 1-, 2- or max-norm
// (librosa.util.normalize; rows whose norm is below the smallest normal float stay as they are).
enum class FilterNorm : int { kNone = 0, kL1 = 1, kL2 = 2, kMax = 3 };

enum class LogMode : int {
  kDecibel = 0,  // 10 log10(max(floor, x)) - 10 log10(max(floor, ref))   (librosa power_to_db)
  kNatural = 1,  // ln(max(x, floor))                                     (Kaldi)
  kNone = 2,     // x: the mel energies themselves            (Kaldi use_log_fbank=false)
};

enum class Lifter : int {
  kKaldi = 0,    // c[i] *= 1 + L/2 sin(pi i / L)
  kLibrosa = 1,  // c[i] *= 1 + L/2 sin(pi (i + 1) / L)
};

// Every option of the feature pipeline, declared once: X(type, name, default). FeatureParams
// declares them; the Python binding reads them by these names, which are AudioSpec's field
// names, so an option is added here and in AudioSpec and nowhere else. Units and meanings:
//   sample_rate_hz   Hz
//   n_fft            FFT size, samples (any size; powers of two are fastest)
//   win_length       analysis window, samples (<= n_fft)
//   hop_length       frame shift, samples
//   window_periodic  periodic (scipy fftbins=True) or symmetric window
//   sample_scale     samples are multiplied by this first (Kaldi: 32768 for int16)
//   remove_dc        subtract each frame's mean (Kaldi)
//   preemphasis      x[i] -= k x[i-1] within each frame (Kaldi: 0.97)
//   power            2: power spectrum, 1: magnitude
//   fmin_hz, fmax_hz lower and (resolved) upper mel edge, Hz
//   blackman_coeff   Kaldi blackman window coefficient (0.42)
//   slaney_norm      librosa norm="slaney": triangles of equal area
//   filter_norm      librosa norm=1, 2 or inf: filters of unit p-norm (not with slaney_norm)
//   log_floor        amin (decibel) or floor (natural)
//   db_ref           decibel reference power
//   dct_type         1, 2 or 3 (scipy's DCT types; MFCC are DCT-II)
//   dct_ortho        orthonormal DCT (librosa norm='ortho', Kaldi) or scipy's unnormalised one
//   lifter           cepstral lifter L; 0 = none
//   use_energy       C0 := ln(max(frame energy, FLT_EPSILON))
//   raw_energy       the energy before pre-emphasis and window (Kaldi's default), else after
//   energy_floor     Kaldi energy_floor (linear); 0 = none
#define MMEDGE_AUDIO_FEATURE_OPTIONS(X)            \
  X(double, sample_rate_hz, 16000.0)               \
  X(int, n_fft, 512)                               \
  X(int, win_length, 400)                          \
  X(int, hop_length, 160)                          \
  X(Window, window, Window::kHann)                 \
  X(bool, window_periodic, true)                   \
  X(float, blackman_coeff, 0.42f)                  \
  X(Padding, padding, Padding::kCenterZero)        \
  X(float, sample_scale, 1.0f)                     \
  X(bool, remove_dc, false)                        \
  X(float, preemphasis, 0.0f)                      \
  X(float, power, 2.0f)                            \
  X(int, n_mels, 40)                               \
  X(double, fmin_hz, 0.0)                          \
  X(double, fmax_hz, 8000.0)                       \
  X(MelScale, mel_scale, MelScale::kSlaney)        \
  X(MelFilters, mel_filters, MelFilters::kLibrosa) \
  X(bool, slaney_norm, true)                       \
  X(FilterNorm, filter_norm, FilterNorm::kNone)    \
  X(LogMode, log, LogMode::kDecibel)               \
  X(float, log_floor, 1e-10f)                      \
  X(float, db_ref, 1.0f)                           \
  X(int, n_mfcc, 13)                               \
  X(int, dct_type, 2)                              \
  X(bool, dct_ortho, true)                         \
  X(float, lifter, 0.0f)                           \
  X(Lifter, lifter_style, Lifter::kLibrosa)        \
  X(bool, use_energy, false)                       \
  X(bool, raw_energy, true)                        \
  X(float, energy_floor, 0.0f)

// The names of each enum's values as AudioSpec and the manifest spell them.
template <typename E>
struct NamedValue {
  const char* name;
  E value;
};
template <typename E>
struct EnumNames;
template <>
struct EnumNames<Window> {
  static constexpr NamedValue<Window> values[] = {
      {"hann", Window::kHann},         {"hamming", Window::kHamming},
      {"povey", Window::kPovey},       {"rectangular", Window::kRectangular},
      {"blackman", Window::kBlackman}, {"sine", Window::kSine}};
};
template <>
struct EnumNames<FilterNorm> {
  static constexpr NamedValue<FilterNorm> values[] = {{"none", FilterNorm::kNone},
                                                      {"l1", FilterNorm::kL1},
                                                      {"l2", FilterNorm::kL2},
                                                      {"max", FilterNorm::kMax}};
};
template <>
struct EnumNames<Padding> {
  static constexpr NamedValue<Padding> values[] = {{"center_zero", Padding::kCenterZero},
                                                   {"center_reflect", Padding::kCenterReflect},
                                                   {"snip_edges", Padding::kSnipEdges},
                                                   {"kaldi_centered", Padding::kKaldiCentered}};
};
template <>
struct EnumNames<MelScale> {
  static constexpr NamedValue<MelScale> values[] = {{"slaney", MelScale::kSlaney},
                                                    {"htk", MelScale::kHtk}};
};
template <>
struct EnumNames<MelFilters> {
  static constexpr NamedValue<MelFilters> values[] = {{"librosa", MelFilters::kLibrosa},
                                                      {"kaldi", MelFilters::kKaldi}};
};
template <>
struct EnumNames<LogMode> {
  static constexpr NamedValue<LogMode> values[] = {
      {"db", LogMode::kDecibel}, {"ln", LogMode::kNatural}, {"none", LogMode::kNone}};
};
template <>
struct EnumNames<Lifter> {
  static constexpr NamedValue<Lifter> values[] = {{"kaldi", Lifter::kKaldi},
                                                  {"librosa", Lifter::kLibrosa}};
};

struct FeatureParams {
#define MMEDGE_DECLARE_OPTION(type, name, value) type name = value;
  MMEDGE_AUDIO_FEATURE_OPTIONS(MMEDGE_DECLARE_OPTION)
#undef MMEDGE_DECLARE_OPTION

  int n_bins() const { return n_fft / 2 + 1; }  // spectrum bins 0..n_fft/2

  // First sample of frame f (may be negative or past the end for centred frames).
  int64_t frame_start(int64_t f) const {
    if (padding == Padding::kSnipEdges) return f * hop_length;
    if (padding == Padding::kKaldiCentered) return f * hop_length + hop_length / 2 - win_length / 2;
    return f * hop_length - n_fft / 2 + (n_fft - win_length) / 2;
  }

  // Frames a signal of `num_samples` yields.
  int64_t num_frames(int64_t num_samples) const {
    if (padding == Padding::kSnipEdges) {
      return num_samples < win_length ? 0 : 1 + (num_samples - win_length) / hop_length;
    }
    if (padding == Padding::kKaldiCentered) return (num_samples + hop_length / 2) / hop_length;
    // librosa: the signal padded by n_fft / 2 on both sides, whole n_fft frames (an odd n_fft
    // pads one sample less than it spans, so a length that is a multiple of hop loses a frame)
    const int64_t padded = num_samples + 2 * (n_fft / 2);
    return padded < n_fft ? 0 : 1 + (padded - n_fft) / hop_length;
  }
};

// Empty when valid, else a message naming the bad field and its value.
std::string validate(const FeatureParams& p);

}  // namespace mmedge::audio
