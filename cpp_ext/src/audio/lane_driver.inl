// The group loops of a lane driver, shared by features_cpu.cpp and features_avx2.cpp (included
// after the Ops and Lanes definitions, inside the same anonymous namespace).
//
// Frames are taken kLanes at a time; a last, partial group fills its spare lanes with a silent
// frame and throwaway rows, which changes nothing in the used lanes.

template <class Ops>
void feature_groups(const Pipeline& pl, const SignalView& signal, int64_t f0, int64_t f1,
                    float* logmel, float* mfcc, bool dct) {
  using L = Lanes<Ops>;
  constexpr int kLanes = Ops::kLanes;
  const FeatureParams& p = pl.params;
  typename L::Scratch scratch(pl);
  std::vector<float> padded(static_cast<size_t>(kLanes) * p.win_length);
  std::vector<float> silence(p.win_length, 0.0f);
  std::vector<float> spare(static_cast<size_t>(p.n_mels) + p.n_mfcc);
  const float* frames[kLanes];
  float* rows[kLanes];
  float* mfcc_rows[kLanes];
  for (int64_t g = f0; g < f1; g += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const int64_t f = g + l;
      const bool used = f < f1;
      frames[l] = used ? signal.frame(f, p, &padded[static_cast<size_t>(l) * p.win_length])
                       : silence.data();
      rows[l] = used ? logmel + (f - f0) * p.n_mels : spare.data();
      mfcc_rows[l] = used && mfcc != nullptr ? mfcc + (f - f0) * p.n_mfcc : spare.data() + p.n_mels;
    }
    L::frames(pl, frames, rows, mfcc != nullptr ? mfcc_rows : nullptr, scratch, dct);
  }
}

// n log-mel rows (and their MFCC rows) clamped kLanes at a time; spare lanes of a last, partial
// group work on throwaway rows.
template <class Ops>
void clamp_groups(const Pipeline& pl, float* logmel, float* mfcc, int64_t n, float floor) {
  using L = Lanes<Ops>;
  constexpr int kLanes = Ops::kLanes;
  const FeatureParams& p = pl.params;
  typename L::Scratch scratch(pl);
  std::vector<float> spare(static_cast<size_t>(p.n_mels) + p.n_mfcc, 0.0f);
  float* rows[kLanes];
  float* mfcc_rows[kLanes];
  for (int64_t g = 0; g < n; g += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const int64_t f = g + l;
      const bool used = f < n;
      rows[l] = used ? logmel + f * p.n_mels : spare.data();
      mfcc_rows[l] = used && mfcc != nullptr ? mfcc + f * p.n_mfcc : spare.data() + p.n_mels;
    }
    L::clamp(pl, rows, mfcc != nullptr ? mfcc_rows : nullptr, floor, scratch);
  }
}
