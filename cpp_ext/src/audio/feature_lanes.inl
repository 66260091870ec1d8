// The per-frame feature pipeline, written once over "lanes": Ops::V holds one value of
// Ops::kLanes different frames (1 for the portable driver, 8 for AVX2), so the FFT, mel, log and
// DCT run on several frames at once with no shuffles, and a frame's result never depends on
// which lane or group it was computed in (streaming and batch agree bit for bit).
//
// Included inside an anonymous namespace by features_cpu.cpp (ScalarOps) and
// features_avx2.cpp (Avx2Ops, after `#pragma GCC target`), so each translation unit gets its
// own internal copy compiled for its ISA.
//
// Ops requirements: V; kLanes; zero(); set1(float); add, sub, mul(V, V); fma(a, b, c) = a*b + c;
// max(V, V); log(V) (natural); sqrt(V); load(const float* const* rows, int i) -> lane l is
// rows[l][i]; load_rows(rows, i, count, V* out): out[j] = load(rows, i + j) for j < count;
// store(V, float* const* rows, int i): rows[l][i] = lane l; store_rows(const V* v, rows, i,
// count): store(v[j], rows, i + j) for j < count.

template <class Ops>
struct Lanes {
  using V = typename Ops::V;
  static constexpr int kLanes = Ops::kLanes;

  // Scratch of one group, sized for a pipeline and reused across groups: one 64-byte aligned
  // block of floats viewed as V arrays (std::vector<V> would instantiate standard-library code
  // for V outside the driver's ISA).
  struct Scratch {
    V *x, *re, *im, *re2, *im2, *spec_re, *spec_im, *power, *mel, *cep;
    std::unique_ptr<float[], void (*)(void*)> block{nullptr, std::free};
    explicit Scratch(const Pipeline& pl) {
      const FeatureParams& p = pl.params;
      const size_t m = std::max(pl.fft.m, 1);
      const size_t bins = p.n_bins();
      const size_t win = p.win_length + 8;  // room for whole 8-sample transposed blocks
      const size_t mels = static_cast<size_t>(p.n_mels);
      const size_t sizes[] = {win, m, m, m, m, bins, bins, bins, mels, mels};
      size_t total = 0;
      for (size_t n : sizes) total += n;
      const size_t bytes = ((total * sizeof(V) + 63) / 64) * 64;
      block.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!block) throw std::bad_alloc();
      V* at = reinterpret_cast<V*>(block.get());
      V** slots[] = {&x, &re, &im, &re2, &im2, &spec_re, &spec_im, &power, &mel, &cep};
      for (size_t i = 0; i < 10; ++i) {
        *slots[i] = at;
        at += sizes[i];
      }
    }
  };

  // (a + ib) * (c + id)
  static void cmul(V a, V b, V c, V d, V& re, V& im) {
    re = Ops::sub(Ops::mul(a, c), Ops::mul(b, d));
    im = Ops::fma(a, d, Ops::mul(b, c));
  }

  // In-place decimation-in-time FFT of size m (a power of two); input in bit-reversed order.
  // Stages are merged in pairs (radix 2^2): for blocks of 4L and k < L the four values
  // k, k + L, k + 2L, k + 3L go through the size-2L and size-4L butterflies in registers, with
  // W_4L^(k + L) = -i W_4L^k. Twiddle k of size s is tw[k * m / s].
  // Sizes 2 and 4 at k = 0 (no multiplications) of four consecutive bit-reversed inputs.
  static void first_pass(V x0r, V x0i, V x1r, V x1i, V x2r, V x2i, V x3r, V x3i, V* re, V* im) {
    const V a0r = Ops::add(x0r, x1r), a0i = Ops::add(x0i, x1i);
    const V a1r = Ops::sub(x0r, x1r), a1i = Ops::sub(x0i, x1i);
    const V a2r = Ops::add(x2r, x3r), a2i = Ops::add(x2i, x3i);
    const V a3r = Ops::sub(x2r, x3r), a3i = Ops::sub(x2i, x3i);
    re[0] = Ops::add(a0r, a2r);
    im[0] = Ops::add(a0i, a2i);
    re[2] = Ops::sub(a0r, a2r);
    im[2] = Ops::sub(a0i, a2i);
    re[1] = Ops::add(a1r, a3i);  // a3 * -i = (a3i, -a3r)
    im[1] = Ops::sub(a1i, a3r);
    re[3] = Ops::sub(a1r, a3i);
    im[3] = Ops::add(a1i, a3r);
  }

  // The butterfly of one radix-2^2 step at i0 = s + k: D0 at i0 and the twiddled
  // p1 = W^2k D1, p2 = W^k D2, p3 = W^3k D3 (D1..D3 at i0 + L, + 2L, + 3L).
  static void radix4(V* re, V* im, int i0, int L, V p1r, V p1i, V p2r, V p2i, V p3r, V p3i) {
    const int i1 = i0 + L, i2 = i1 + L, i3 = i2 + L;
    const V t0r = Ops::add(re[i0], p1r), t0i = Ops::add(im[i0], p1i);
    const V t1r = Ops::sub(re[i0], p1r), t1i = Ops::sub(im[i0], p1i);
    const V t2r = Ops::add(p2r, p3r), t2i = Ops::add(p2i, p3i);
    const V t3r = Ops::sub(p2r, p3r), t3i = Ops::sub(p2i, p3i);
    re[i0] = Ops::add(t0r, t2r);
    im[i0] = Ops::add(t0i, t2i);
    re[i2] = Ops::sub(t0r, t2r);
    im[i2] = Ops::sub(t0i, t2i);
    // X[k + L] = T1 - i T3, X[k + 3L] = T1 + i T3; -i (a + ib) = b - ia.
    re[i1] = Ops::add(t1r, t3i);
    im[i1] = Ops::sub(t1i, t3r);
    re[i3] = Ops::sub(t1r, t3i);
    im[i3] = Ops::add(t1i, t3r);
  }

  // first_pass_done: the caller already ran first_pass() while packing the input.
  static void fft_pow2(V* re, V* im, int m, const FftTables& t, bool first_pass_done = false) {
    int size = 2;  // size of the butterflies the next pass starts with
    if (m >= 4 && !first_pass_done) {
      for (int s = 0; s < m; s += 4) {
        first_pass(re[s], im[s], re[s + 1], im[s + 1], re[s + 2], im[s + 2], re[s + 3], im[s + 3],
                   re + s, im + s);
      }
    }
    if (m >= 4) size = 8;
    for (; size * 2 <= m; size *= 4) {
      // Blocks of 4L hold the sub-DFTs D0..D3 of x[4n], x[4n+2], x[4n+1], x[4n+3] (bit-reversed
      // order) at k, k + L, k + 2L, k + 3L. With W = W_4L: X[k] = D0 + W^2k D1 + W^k D2 +
      // W^3k D3, and X[k + L], X[k + 2L], X[k + 3L] from the same four products.
      const int L = size / 2;
      const int step2 = m / size, step4 = m / (2 * size);
      for (int s = 0; s < m; s += 4 * L) {  // k = 0: every twiddle is 1
        radix4(re, im, s, L, re[s + L], im[s + L], re[s + 2 * L], im[s + 2 * L], re[s + 3 * L],
               im[s + 3 * L]);
      }
      for (int k = 1; k < L; ++k) {
        const float c2 = t.tw_re[k * step2], s2 = t.tw_im[k * step2];  // W^2k
        const float c1 = t.tw_re[k * step4], s1 = t.tw_im[k * step4];  // W^k
        const float c3 = c1 * c2 - s1 * s2, s3 = c1 * s2 + s1 * c2;    // W^3k
        const V w2r = Ops::set1(c2), w2i = Ops::set1(s2);
        const V w1r = Ops::set1(c1), w1i = Ops::set1(s1);
        const V w3r = Ops::set1(c3), w3i = Ops::set1(s3);
        for (int s = 0; s < m; s += 4 * L) {
          const int i1 = s + k + L, i2 = i1 + L, i3 = i2 + L;
          V p1r, p1i, p2r, p2i, p3r, p3i;
          cmul(re[i1], im[i1], w2r, w2i, p1r, p1i);
          cmul(re[i2], im[i2], w1r, w1i, p2r, p2i);
          cmul(re[i3], im[i3], w3r, w3i, p3r, p3i);
          radix4(re, im, s + k, L, p1r, p1i, p2r, p2i, p3r, p3i);
        }
      }
    }
    if (size <= m) {  // one radix-2 stage left (m is 2 * 4^j)
      const int half = size / 2, step = m / size;
      for (int k = 0; k < half; ++k) {
        const V wr = Ops::set1(t.tw_re[k * step]), wi = Ops::set1(t.tw_im[k * step]);
        for (int s = 0; s < m; s += size) {
          const int a = s + k, b = a + half;
          V tr, ti;
          cmul(re[b], im[b], wr, wi, tr, ti);
          re[b] = Ops::sub(re[a], tr);
          im[b] = Ops::sub(im[a], ti);
          re[a] = Ops::add(re[a], tr);
          im[a] = Ops::add(im[a], ti);
        }
      }
    }
  }

  // Power-of-two real FFT, split step: with Z = FFT(x[2j] + i x[2j+1]) (size m = n/2),
  // X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / 2i.
  // Calls emit(k, Re 2X[k], Im 2X[k]) for k = 0..m: the halves are left out (scaling by a power
  // of two is exact), callers scale once at the end.
  // Bins k and m - k read the same Z[k], Z[m-k] (their E and O differ only in signs), so they
  // are computed together; k = 0 and k = m both read Z[0].
  template <class Emit>
  static void split2(const FftTables& t, const V* re, const V* im, Emit emit) {
    const int m = t.m;
    auto bin = [&](int k, V er, V ei, V orr, V oi) {
      V tr, ti;
      cmul(orr, oi, Ops::set1(t.split_re[k]), Ops::set1(t.split_im[k]), tr, ti);
      emit(k, Ops::add(er, tr), Ops::add(ei, ti));
    };
    const V zero = Ops::zero();
    {
      const V er = Ops::add(re[0], re[0]), ei = Ops::sub(im[0], im[0]);
      const V orr = Ops::add(im[0], im[0]), oi = Ops::sub(re[0], re[0]);
      bin(0, er, ei, orr, oi);
      if (m > 0) bin(m, er, ei, orr, oi);
    }
    int k = 1;
    for (; k < m - k; ++k) {
      const int j = m - k;
      const V er = Ops::add(re[k], re[j]), ei = Ops::sub(im[k], im[j]);
      const V orr = Ops::add(im[k], im[j]), oi = Ops::sub(re[j], re[k]);
      bin(k, er, ei, orr, oi);
      bin(j, er, Ops::sub(zero, ei), orr, Ops::sub(zero, oi));
    }
    if (k == m - k) {
      bin(k, Ops::add(re[k], re[k]), Ops::sub(im[k], im[k]), Ops::add(im[k], im[k]),
          Ops::sub(re[k], re[k]));
    }
  }

  // Puts sample i of a power-of-two frame where the packed FFT input wants it. (Written with a
  // named pointer: GCC 12 with -fsanitize=address miscompiles `(c ? im : re)[k] = v` here,
  // which scripts/sanitize.sh caught as wrong spectra.)
  static void pack(const FftTables& t, V* re, V* im, int i, V v) {
    V* dst = (i & 1) ? im : re;
    dst[t.bitrev[i >> 1]] = v;
  }

  // Bluestein spectrum of n real samples x[0..used) (zero beyond) into spec_re/spec_im:
  // X[k] = c[k] sum_j (x[j] c[j]) conj(c[k - j]), chirp c[j] = exp(-i pi j^2 / n), a circular
  // convolution of length m computed as IFFT(FFT(a) * kernel), IFFT(Y) = conj(FFT(conj Y)) / m.
  static void bluestein(const FftTables& t, const V* x, int used, Scratch& s) {
    const int n = t.n, m = t.m;
    for (int j = 0; j < m; ++j) {
      const int r = t.bitrev[j];
      const V xj = j < used && j < n ? x[j] : Ops::zero();
      s.re[r] = Ops::mul(xj, Ops::set1(j < n ? t.chirp_re[j] : 0.0f));
      s.im[r] = Ops::mul(xj, Ops::set1(j < n ? t.chirp_im[j] : 0.0f));
    }
    fft_pow2(s.re, s.im, m, t);
    for (int j = 0; j < m; ++j) {
      V pr, pi;
      cmul(s.re[j], s.im[j], Ops::set1(t.kernel_re[j]), Ops::set1(t.kernel_im[j]), pr, pi);
      s.re2[t.bitrev[j]] = pr;
      s.im2[t.bitrev[j]] = Ops::sub(Ops::zero(), pi);  // conjugate
    }
    fft_pow2(s.re2, s.im2, m, t);
    const V inv_m = Ops::set1(1.0f / static_cast<float>(m));
    for (int k = 0; k <= n / 2; ++k) {
      const V cr = Ops::mul(s.re2[k], inv_m);
      const V ci = Ops::mul(Ops::sub(Ops::zero(), s.im2[k]), inv_m);
      cmul(cr, ci, Ops::set1(t.chirp_re[k]), Ops::set1(t.chirp_im[k]), s.spec_re[k], s.spec_im[k]);
    }
  }

  // Spectrum X[k], k = 0..n/2, of n real samples x[0..used) (zero beyond) into s.spec_re/im.
  static void rfft(const FftTables& t, const V* x, int used, Scratch& s) {
    if (!t.pow2) {
      bluestein(t, x, used, s);
      return;
    }
    for (int i = 0; i < t.n; ++i) pack(t, s.re, s.im, i, i < used ? x[i] : Ops::zero());
    fft_pow2(s.re, s.im, t.m, t);
    const V half = Ops::set1(0.5f);
    split2(t, s.re, s.im, [&](int k, V r, V i) {
      s.spec_re[k] = Ops::mul(r, half);
      s.spec_im[k] = Ops::mul(i, half);
    });
  }

  // Features of kLanes frames. frames[l]: win_length samples of frame l; rows[l]: its n_mels
  // log-mel values; mfcc_rows[l]: its n_mfcc MFCC (DCT of the log-mel, lifter, and with
  // use_energy the ln frame energy as C0), or mfcc_rows == nullptr for log-mel only.
  // dct == false: only C0, when it is the energy, goes to mfcc_rows (clamp() does the rest).
  static void frames(const Pipeline& pl, const float* const* frames, float* const* rows,
                     float* const* mfcc_rows, Scratch& s, bool dct = true) {
    const FeatureParams& p = pl.params;
    const FftTables& t = pl.fft;
    const int win = p.win_length;
    V* x = s.x;
    Ops::load_rows(frames, 0, win, x);
    if (p.sample_scale != 1.0f) {
      const V scale = Ops::set1(p.sample_scale);
      for (int i = 0; i < win; ++i) x[i] = Ops::mul(x[i], scale);
    }
    if (p.remove_dc) {
      V sum = Ops::zero();
      for (int i = 0; i < win; ++i) sum = Ops::add(sum, x[i]);
      const V mean = Ops::mul(sum, Ops::set1(1.0f / static_cast<float>(win)));
      for (int i = 0; i < win; ++i) x[i] = Ops::sub(x[i], mean);
    }
    // Pre-emphasis (descending: x[i] needs the unmodified x[i - 1]) and window; for powers of
    // two straight into the packed FFT input.
    const V k = Ops::set1(p.preemphasis);
    const float* w = pl.tables.window.data();
    auto shaped = [&](int i) {
      const V v =
          p.preemphasis != 0.0f ? Ops::sub(x[i], Ops::mul(k, i > 0 ? x[i - 1] : x[0])) : x[i];
      return Ops::mul(v, Ops::set1(w[i]));
    };
    // Kaldi's energy: after DC removal, before (raw_energy) or after pre-emphasis and window.
    V log_energy = Ops::zero();
    if (mfcc_rows != nullptr && p.use_energy) {
      V e = Ops::zero();
      for (int i = 0; i < win; ++i) {
        const V v = p.raw_energy ? x[i] : shaped(i);
        e = Ops::fma(v, v, e);
      }
      log_energy = Ops::log(Ops::max(e, Ops::set1(std::numeric_limits<float>::epsilon())));
      if (p.energy_floor > 0.0f) {
        log_energy = Ops::max(log_energy, Ops::set1(std::log(p.energy_floor)));
      }
    }
    const int bins = p.n_bins();
    // Power-of-two FFTs leave the spectrum doubled (split2): their power is 4 |X|^2 (or 2 |X|
    // for magnitudes), which the mel weights of that path (mel_pow2) take back exactly.
    const bool pow2 = t.pow2;
    if (pow2) {
      // shaped() reads x only, so the packed input can be built in any order: four slots at a
      // time, straight through the first FFT pass. Slot r holds samples 2 b(r), 2 b(r) + 1,
      // b = bit reversal (its own inverse).
      auto value = [&](int i) { return i < win ? shaped(i) : Ops::zero(); };
      const int m = t.m;
      if (m >= 4) {
        for (int r = 0; r < m; r += 4) {
          const int j0 = t.bitrev[r], j1 = t.bitrev[r + 1], j2 = t.bitrev[r + 2],
                    j3 = t.bitrev[r + 3];
          first_pass(value(2 * j0), value(2 * j0 + 1), value(2 * j1), value(2 * j1 + 1),
                     value(2 * j2), value(2 * j2 + 1), value(2 * j3), value(2 * j3 + 1), s.re + r,
                     s.im + r);
        }
      } else {
        for (int i = 0; i < t.n; ++i) pack(t, s.re, s.im, i, value(i));
      }
      fft_pow2(s.re, s.im, m, t, /*first_pass_done=*/m >= 4);
      split2(t, s.re, s.im,
             [&](int kk, V r, V i) { s.power[kk] = Ops::fma(r, r, Ops::mul(i, i)); });
    } else {
      for (int i = win - 1; i >= 0; --i) x[i] = shaped(i);
      bluestein(t, x, win, s);
      for (int kk = 0; kk < bins; ++kk) {
        s.power[kk] =
            Ops::fma(s.spec_re[kk], s.spec_re[kk], Ops::mul(s.spec_im[kk], s.spec_im[kk]));
      }
    }
    if (p.power != 2.0f) {
      for (int kk = 0; kk < bins; ++kk) s.power[kk] = Ops::sqrt(s.power[kk]);
    }
    const MelFilterBank& fb = pl.tables.mel;
    const V floor = Ops::set1(p.log_floor);
    const bool db = p.log == LogMode::kDecibel;
    const V db_scale = Ops::set1(static_cast<float>(10.0 / std::log(10.0)));
    const V db_offset = Ops::set1(-10.0f * std::log10(std::max(p.log_floor, p.db_ref)));
    mel_energies(pl, s, pow2 ? pl.mel_pow2.data() : fb.weight.data());
    if (p.log != LogMode::kNone) {
      for (int b = 0; b < p.n_mels; ++b) {
        const V ln = Ops::log(Ops::max(s.mel[b], floor));
        s.mel[b] = db ? Ops::fma(ln, db_scale, db_offset) : ln;
      }
    }
    Ops::store_rows(s.mel, rows, 0, p.n_mels);
    if (mfcc_rows == nullptr) return;
    if (p.use_energy) Ops::store(log_energy, mfcc_rows, 0);
    if (dct) cepstra(pl, s, mfcc_rows);
  }

  // s.mel[b] = the weighted sum of band b's power bins, bins in ascending order. Four bands per
  // sweep over their common length: four independent FMA chains hide the latency one chain
  // waits on, and each band keeps its own order of summation (the same bits as one at a time).
  static void mel_energies(const Pipeline& pl, Scratch& s, const float* weights) {
    const MelFilterBank& fb = pl.tables.mel;
    const int n_mels = pl.params.n_mels;
    auto tail = [&](int b, int from, V acc) {
      const float* fw = weights + fb.offset[b];
      const V* pw = &s.power[fb.first[b]];
      for (int j = from; j < fb.count[b]; ++j) acc = Ops::fma(Ops::set1(fw[j]), pw[j], acc);
      s.mel[b] = acc;
    };
    int b = 0;
    for (; b + 4 <= n_mels; b += 4) {
      const int common = std::min(std::min(fb.count[b], fb.count[b + 1]),
                                  std::min(fb.count[b + 2], fb.count[b + 3]));
      const float *w0 = weights + fb.offset[b], *w1 = weights + fb.offset[b + 1],
                  *w2 = weights + fb.offset[b + 2], *w3 = weights + fb.offset[b + 3];
      const V *p0 = &s.power[fb.first[b]], *p1 = &s.power[fb.first[b + 1]],
              *p2 = &s.power[fb.first[b + 2]], *p3 = &s.power[fb.first[b + 3]];
      V a0 = Ops::zero(), a1 = Ops::zero(), a2 = Ops::zero(), a3 = Ops::zero();
      for (int j = 0; j < common; ++j) {
        a0 = Ops::fma(Ops::set1(w0[j]), p0[j], a0);
        a1 = Ops::fma(Ops::set1(w1[j]), p1[j], a1);
        a2 = Ops::fma(Ops::set1(w2[j]), p2[j], a2);
        a3 = Ops::fma(Ops::set1(w3[j]), p3[j], a3);
      }
      tail(b, common, a0);
      tail(b + 1, common, a1);
      tail(b + 2, common, a2);
      tail(b + 3, common, a3);
    }
    for (; b < n_mels; ++b) tail(b, 0, Ops::zero());
  }

  // MFCC of log-mel lanes: DCT-II rows and lifter; C0 is left alone when it is the energy.
  static void cepstra(const Pipeline& pl, Scratch& s, float* const* mfcc_rows) {
    const FeatureParams& p = pl.params;
    const std::vector<float>& dct = pl.tables.dct;
    const int first = p.use_energy ? 1 : 0;
    const float* lifter = pl.tables.lifter.data();
    auto row_of = [&](int c) { return &dct[static_cast<size_t>(c) * p.n_mels]; };
    // Four coefficients per sweep: four independent FMA chains hide the FMA latency that one
    // chain waits on (each coefficient keeps its own order of summation, so the results are
    // the same bits as one at a time).
    int c = first;
    for (; c + 4 <= p.n_mfcc; c += 4) {
      const float *r0 = row_of(c), *r1 = row_of(c + 1), *r2 = row_of(c + 2), *r3 = row_of(c + 3);
      V a0 = Ops::zero(), a1 = Ops::zero(), a2 = Ops::zero(), a3 = Ops::zero();
      for (int b = 0; b < p.n_mels; ++b) {
        const V m = s.mel[b];
        a0 = Ops::fma(Ops::set1(r0[b]), m, a0);
        a1 = Ops::fma(Ops::set1(r1[b]), m, a1);
        a2 = Ops::fma(Ops::set1(r2[b]), m, a2);
        a3 = Ops::fma(Ops::set1(r3[b]), m, a3);
      }
      s.cep[c] = Ops::mul(a0, Ops::set1(lifter[c]));
      s.cep[c + 1] = Ops::mul(a1, Ops::set1(lifter[c + 1]));
      s.cep[c + 2] = Ops::mul(a2, Ops::set1(lifter[c + 2]));
      s.cep[c + 3] = Ops::mul(a3, Ops::set1(lifter[c + 3]));
    }
    for (; c < p.n_mfcc; ++c) {
      const float* row = row_of(c);
      V acc = Ops::zero();
      for (int b = 0; b < p.n_mels; ++b) acc = Ops::fma(Ops::set1(row[b]), s.mel[b], acc);
      s.cep[c] = Ops::mul(acc, Ops::set1(lifter[c]));
    }
    Ops::store_rows(s.cep + first, mfcc_rows, first, p.n_mfcc - first);
  }

  // librosa's top_db clamp of kLanes log-mel rows (in place), then their MFCC.
  static void clamp(const Pipeline& pl, float* const* rows, float* const* mfcc_rows, float floor,
                    Scratch& s) {
    const int n_mels = pl.params.n_mels;
    Ops::load_rows(rows, 0, n_mels, s.mel);
    const V f = Ops::set1(floor);
    for (int b = 0; b < n_mels; ++b) s.mel[b] = Ops::max(s.mel[b], f);
    Ops::store_rows(s.mel, rows, 0, n_mels);
    if (mfcc_rows != nullptr) cepstra(pl, s, mfcc_rows);
  }
};
