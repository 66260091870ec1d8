// CUDA drivers of the audio features (see features_cuda.h). Kernel 1 (gpuLogMel): one block per
// frame: load + padding, DC removal and energy (block reductions), pre-emphasis + window into the
// packed FFT input, radix-2 FFT in shared memory (Bluestein for other sizes), split, power, mel,
// log. Kernel 2 (gpuFeatureMax): per-signal maximum for top_db. Kernel 3 (gpuCepstra): clamp,
// DCT, lifter, energy as C0.
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmedge/audio/features_cuda.h"
#include "mmedge/audio/filters.h"
#include "mmedge/audio/rfft.h"
#include "mmedge/common/cuda_device.h"

namespace mmedge::audio {
namespace {

constexpr int kThreads = 256;

// Device pointers of every table, passed by value to the kernels.
struct Tables {
  const float* window;
  const int* bitrev;
  const float *tw_re, *tw_im;
  const float *split_re, *split_im;
  const float *chirp_re, *chirp_im, *kernel_re, *kernel_im;
  const int *mel_first, *mel_count, *mel_offset;
  const float* mel_weight;
  const float *dct, *lifter;
};

struct Geometry {
  int n_fft, win, hop, bins, m;
  bool pow2;
  Padding padding;
  int64_t n;  // samples per signal
  int64_t frames;
};

__device__ float block_sum(float v, float* red) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  const float total = red[0];
  __syncthreads();
  return total;
}

__device__ float sample_at(const float* x, int64_t g, const Geometry& geo) {
  if (geo.padding == Padding::kCenterReflect && geo.n > 1) {
    while (g < 0 || g >= geo.n) g = g < 0 ? -g : 2 * (geo.n - 1) - g;
  } else if (geo.padding == Padding::kKaldiCentered && geo.n > 0) {
    while (g < 0 || g >= geo.n) g = g < 0 ? -g - 1 : 2 * geo.n - 1 - g;
  }
  return g >= 0 && g < geo.n ? x[g] : 0.0f;
}

// In-place radix-2 DIT FFT of size m in shared memory; input in bit-reversed order.
__device__ void fft_shared(float* re, float* im, int m, const Tables& t) {
  for (int size = 2; size <= m; size *= 2) {
    const int half = size / 2, step = m / size;
    for (int b = threadIdx.x; b < m / 2; b += blockDim.x) {
      const int k = b % half;
      const int a = (b / half) * size + k, c = a + half;
      const float wr = t.tw_re[k * step], wi = t.tw_im[k * step];
      const float tr = re[c] * wr - im[c] * wi;
      const float ti = re[c] * wi + im[c] * wr;
      re[c] = re[a] - tr;
      im[c] = im[a] - ti;
      re[a] += tr;
      im[a] += ti;
    }
    __syncthreads();
  }
}

__global__ void gpuLogMel(const float* samples, int64_t sample_stride, FeatureParams p,
                          Geometry geo, Tables t, float* logmel, float* energy) {
  extern __shared__ float sm[];
  const int64_t frame = blockIdx.x;
  const int64_t batch = blockIdx.y;
  const float* x = samples + batch * sample_stride;
  float* xs = sm;                 // win
  float* re = xs + geo.win;       // m
  float* im = re + geo.m;         // m
  float* re2 = im + geo.m;        // m (Bluestein)
  float* im2 = re2 + geo.m;       // m
  float* power = im2 + geo.m;     // bins
  float* red = power + geo.bins;  // blockDim
  const int64_t start = p.padding == Padding::kSnipEdges ? frame * geo.hop
                        : p.padding == Padding::kKaldiCentered
                            ? frame * geo.hop + geo.hop / 2 - geo.win / 2
                            : frame * geo.hop - geo.n_fft / 2 + (geo.n_fft - geo.win) / 2;
  float local = 0.0f;
  for (int i = threadIdx.x; i < geo.win; i += blockDim.x) {
    xs[i] = sample_at(x, start + i, geo) * p.sample_scale;
    local += xs[i];
  }
  __syncthreads();
  if (p.remove_dc) {
    const float mean = block_sum(local, red) / geo.win;
    for (int i = threadIdx.x; i < geo.win; i += blockDim.x) xs[i] -= mean;
    __syncthreads();
  }
  auto shaped = [&](int i) -> float {
    if (i >= geo.win) return 0.0f;
    const float v = p.preemphasis != 0.0f ? xs[i] - p.preemphasis * xs[i > 0 ? i - 1 : 0] : xs[i];
    return v * t.window[i];
  };
  if (energy != nullptr) {  // before (raw_energy) or after pre-emphasis and window
    float e = 0.0f;
    for (int i = threadIdx.x; i < geo.win; i += blockDim.x) {
      const float v = p.raw_energy ? xs[i] : shaped(i);
      e += v * v;
    }
    e = block_sum(e, red);
    if (threadIdx.x == 0) {
      float log_e = logf(fmaxf(e, FLT_EPSILON));
      if (p.energy_floor > 0.0f) log_e = fmaxf(log_e, logf(p.energy_floor));
      energy[batch * geo.frames + frame] = log_e;
    }
  }
  if (geo.pow2) {
    for (int j = threadIdx.x; j < geo.m; j += blockDim.x) {
      re[t.bitrev[j]] = shaped(2 * j);
      im[t.bitrev[j]] = shaped(2 * j + 1);
    }
    __syncthreads();
    fft_shared(re, im, geo.m, t);
    for (int k = threadIdx.x; k <= geo.m; k += blockDim.x) {
      const int a = k == geo.m ? 0 : k, b = k == 0 ? 0 : geo.m - k;
      const float er = 0.5f * (re[a] + re[b]), ei = 0.5f * (im[a] - im[b]);
      const float orr = 0.5f * (im[a] + im[b]), oi = 0.5f * (re[b] - re[a]);
      const float xr = er + orr * t.split_re[k] - oi * t.split_im[k];
      const float xi = ei + orr * t.split_im[k] + oi * t.split_re[k];
      power[k] = xr * xr + xi * xi;
    }
  } else {
    for (int j = threadIdx.x; j < geo.m; j += blockDim.x) {
      const float v = j < geo.n_fft ? shaped(j) : 0.0f;
      re[t.bitrev[j]] = j < geo.n_fft ? v * t.chirp_re[j] : 0.0f;
      im[t.bitrev[j]] = j < geo.n_fft ? v * t.chirp_im[j] : 0.0f;
    }
    __syncthreads();
    fft_shared(re, im, geo.m, t);
    for (int j = threadIdx.x; j < geo.m; j += blockDim.x) {
      const float pr = re[j] * t.kernel_re[j] - im[j] * t.kernel_im[j];
      const float pi = re[j] * t.kernel_im[j] + im[j] * t.kernel_re[j];
      re2[t.bitrev[j]] = pr;
      im2[t.bitrev[j]] = -pi;
    }
    __syncthreads();
    fft_shared(re2, im2, geo.m, t);
    for (int k = threadIdx.x; k < geo.bins; k += blockDim.x) {
      const float cr = re2[k] / geo.m, ci = -im2[k] / geo.m;
      const float xr = cr * t.chirp_re[k] - ci * t.chirp_im[k];
      const float xi = cr * t.chirp_im[k] + ci * t.chirp_re[k];
      power[k] = xr * xr + xi * xi;
    }
  }
  __syncthreads();
  const bool db = p.log == LogMode::kDecibel;
  const float db_offset = -10.0f * log10f(fmaxf(p.log_floor, p.db_ref));
  float* row = logmel + (batch * geo.frames + frame) * p.n_mels;
  for (int b = threadIdx.x; b < p.n_mels; b += blockDim.x) {
    float acc = 0.0f;
    const float* w = t.mel_weight + t.mel_offset[b];
    const int first = t.mel_first[b];
    for (int j = 0; j < t.mel_count[b]; ++j) {
      const float pw = p.power == 2.0f ? power[first + j] : sqrtf(power[first + j]);
      acc += w[j] * pw;
    }
    if (p.log == LogMode::kNone) {
      row[b] = acc;
      continue;
    }
    const float ln = logf(fmaxf(acc, p.log_floor));
    row[b] = db ? ln * (10.0f / 2.302585092994046f) + db_offset : ln;
  }
}

// Per-signal maximum of the log-mel values (for top_db), written as floor = max - top_db.
__global__ void gpuFeatureMax(const float* logmel, int64_t per_signal, float top_db,
                              float* floors) {
  __shared__ float red[kThreads];
  const float* v = logmel + blockIdx.x * per_signal;
  float m = -FLT_MAX;
  for (int64_t i = threadIdx.x; i < per_signal; i += blockDim.x) m = fmaxf(m, v[i]);
  red[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) floors[blockIdx.x] = red[0] - top_db;
}

// One thread per (frame, coefficient) of the MFCC: DCT of the log-mel row (clamped at the
// signal's floor when top_db is on), lifter, energy as C0. The stored log-mel rows are clamped
// afterwards by gpuClamp.
__global__ void gpuCepstra(const float* logmel, const float* energy, const float* floors,
                           FeatureParams p, Geometry geo, Tables t, float* mfcc) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t total = geo.frames * p.n_mfcc;
  if (idx >= total) return;
  const int64_t batch = blockIdx.y;
  const int64_t frame = idx / p.n_mfcc;
  const int c = static_cast<int>(idx % p.n_mfcc);
  const int64_t row_index = batch * geo.frames + frame;
  float out;
  if (c == 0 && p.use_energy) {
    out = energy[row_index];
  } else {
    const float floor = floors != nullptr ? floors[batch] : -FLT_MAX;
    const float* row = logmel + row_index * p.n_mels;
    float acc = 0.0f;
    for (int b = 0; b < p.n_mels; ++b) acc += t.dct[c * p.n_mels + b] * fmaxf(row[b], floor);
    out = acc * t.lifter[c];
  }
  mfcc[row_index * p.n_mfcc + c] = out;
}

__global__ void gpuClamp(float* logmel, int64_t per_signal, const float* floors) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < per_signal) {
    float* v = logmel + blockIdx.y * per_signal + i;
    *v = fmaxf(*v, floors[blockIdx.y]);
  }
}

template <typename T>
const T* upload(const std::vector<T>& host, std::vector<void*>& owned) {
  if (host.empty()) return nullptr;
  void* ptr = cuda::malloc_device(host.size() * sizeof(T));
  owned.push_back(ptr);
  cuda::copy(ptr, host.data(), host.size() * sizeof(T), cuda::CopyKind::kHostToDevice, nullptr);
  return static_cast<const T*>(ptr);
}

}  // namespace

struct CudaFeatureExtractor::Device {
  FeatureParams params;
  FftTables fft;
  Tables tables{};
  std::vector<void*> owned;
  ~Device() {
    for (void* p : owned) cuda::free_device(p);
  }
};

CudaFeatureExtractor::CudaFeatureExtractor(const FeatureParams& p) : d_(new Device) {
  const std::string err = validate(p);
  if (!err.empty()) throw std::invalid_argument(err);
  d_->params = p;
  const FeatureTables host = make_tables(p);
  d_->fft = make_fft_tables(p.n_fft);
  const FftTables& f = d_->fft;
  auto& o = d_->owned;
  Tables& t = d_->tables;
  t.window = upload(host.window, o);
  t.bitrev = upload(f.bitrev, o);
  t.tw_re = upload(f.tw_re, o);
  t.tw_im = upload(f.tw_im, o);
  t.split_re = upload(f.split_re, o);
  t.split_im = upload(f.split_im, o);
  t.chirp_re = upload(f.chirp_re, o);
  t.chirp_im = upload(f.chirp_im, o);
  t.kernel_re = upload(f.kernel_re, o);
  t.kernel_im = upload(f.kernel_im, o);
  t.mel_first = upload(host.mel.first, o);
  t.mel_count = upload(host.mel.count, o);
  t.mel_offset = upload(host.mel.offset, o);
  t.mel_weight = upload(host.mel.weight, o);
  t.dct = upload(host.dct, o);
  t.lifter = upload(host.lifter, o);
}

CudaFeatureExtractor::~CudaFeatureExtractor() = default;

const FeatureParams& CudaFeatureExtractor::params() const { return d_->params; }

void CudaFeatureExtractor::compute(const float* samples, int64_t n, int batch,
                                   int64_t sample_stride, float* logmel, float* mfcc, float top_db,
                                   void* stream) const {
  const FeatureParams& p = d_->params;
  if (batch < 1 || batch > 65535) {
    throw std::invalid_argument("batch must be 1..65535, got " + std::to_string(batch));
  }
  Geometry geo{p.n_fft,        p.win_length, p.hop_length, p.n_bins(),
               d_->fft.m,      d_->fft.pow2, p.padding,    n,
               p.num_frames(n)};
  if (geo.frames == 0) return;
  if (geo.frames > 2147483647LL) throw std::invalid_argument("too many frames for one launch");
  auto s = static_cast<cudaStream_t>(stream);
  const size_t shared =
      sizeof(float) * (geo.win + 4 * static_cast<size_t>(geo.m) + geo.bins + kThreads);
  if (shared > 48 * 1024) {
    cuda::check(cudaFuncSetAttribute(gpuLogMel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(shared)),
                "cudaFuncSetAttribute (shared memory for n_fft)");
  }
  const bool need_energy = mfcc != nullptr && p.use_energy;
  const bool clamp = top_db > 0.0f;
  float* scratch = nullptr;  // energies (batch x frames), then floors (batch)
  const size_t scratch_floats = (need_energy ? batch * geo.frames : 0) + (clamp ? batch : 0);
  if (scratch_floats) {
    cuda::check(
        cudaMallocAsync(reinterpret_cast<void**>(&scratch), scratch_floats * sizeof(float), s),
        "cudaMallocAsync");
  }
  float* energy = need_energy ? scratch : nullptr;
  float* floors = clamp ? scratch + (need_energy ? batch * geo.frames : 0) : nullptr;
  gpuLogMel<<<dim3(static_cast<unsigned>(geo.frames), batch), kThreads, shared, s>>>(
      samples, sample_stride, p, geo, d_->tables, logmel, energy);
  cuda::check(cudaGetLastError(), "gpuLogMel launch");
  const int64_t per_signal = geo.frames * p.n_mels;
  if (clamp) {
    gpuFeatureMax<<<batch, kThreads, 0, s>>>(logmel, per_signal, top_db, floors);
    cuda::check(cudaGetLastError(), "gpuFeatureMax launch");
  }
  if (mfcc != nullptr) {
    const int64_t total = geo.frames * p.n_mfcc;
    gpuCepstra<<<dim3(static_cast<unsigned>((total + kThreads - 1) / kThreads), batch), kThreads, 0,
                 s>>>(logmel, energy, floors, p, geo, d_->tables, mfcc);
    cuda::check(cudaGetLastError(), "gpuCepstra launch");
  }
  if (clamp) {  // after the cepstra read the unclamped rows with their own fmaxf
    gpuClamp<<<dim3(static_cast<unsigned>((per_signal + kThreads - 1) / kThreads), batch), kThreads,
               0, s>>>(logmel, per_signal, floors);
    cuda::check(cudaGetLastError(), "gpuClamp launch");
  }
  if (scratch != nullptr) cuda::check(cudaFreeAsync(scratch, s), "cudaFreeAsync");
}

}  // namespace mmedge::audio
