// Bindings of cpp_ext/include/mmedge/audio/*.h: feature extraction (batch and streaming), the
// real FFT, mel filters and resampling. Parameters arrive as a dict (AudioSpec.kernel_params());
// unknown keys and bad values raise ValueError naming them.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <complex>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings.h"
#include "mmedge/audio/features.h"
#include "mmedge/audio/features_cuda.h"
#include "mmedge/audio/filters.h"
#include "mmedge/audio/resample.h"
#include "mmedge/audio/rfft.h"

namespace py = pybind11;

namespace mmedge::python {
namespace {

using audio::FeatureParams;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

template <typename E>
E enum_from(const py::dict& d, const char* key, const std::map<std::string, E>& names, E fallback) {
  if (!d.contains(key)) return fallback;
  const std::string v = py::str(d[key]);
  auto it = names.find(v);
  if (it == names.end()) {
    std::string known;
    for (const auto& [name, _] : names) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument(std::string(key) + " must be one of " + known + ", got " + v);
  }
  return it->second;
}

FeatureParams params_from(const py::dict& d) {
  static const std::set<std::string> known = {
      "sample_rate_hz",  "n_fft",       "win_length",   "hop_length", "window",
      "window_periodic", "padding",     "sample_scale", "remove_dc",  "preemphasis",
      "power",           "n_mels",      "fmin_hz",      "fmax_hz",    "mel_scale",
      "mel_filters",     "slaney_norm", "log",          "log_floor",  "db_ref",
      "n_mfcc",          "lifter",      "lifter_style", "use_energy", "energy_floor"};
  for (const auto& item : d) {
    const std::string key = py::str(item.first);
    if (!known.count(key)) throw std::invalid_argument("unknown feature parameter " + key);
  }
  FeatureParams p;
  auto get = [&](const char* key, auto fallback) {
    return d.contains(key) ? d[key].cast<decltype(fallback)>() : fallback;
  };
  p.sample_rate_hz = get("sample_rate_hz", p.sample_rate_hz);
  p.n_fft = get("n_fft", p.n_fft);
  p.win_length = get("win_length", p.win_length);
  p.hop_length = get("hop_length", p.hop_length);
  p.window = enum_from<audio::Window>(d, "window",
                                      {{"hann", audio::Window::kHann},
                                       {"hamming", audio::Window::kHamming},
                                       {"povey", audio::Window::kPovey},
                                       {"rectangular", audio::Window::kRectangular}},
                                      p.window);
  p.window_periodic = get("window_periodic", p.window_periodic);
  p.padding = enum_from<audio::Padding>(d, "padding",
                                        {{"center_zero", audio::Padding::kCenterZero},
                                         {"center_reflect", audio::Padding::kCenterReflect},
                                         {"snip_edges", audio::Padding::kSnipEdges}},
                                        p.padding);
  p.sample_scale = get("sample_scale", p.sample_scale);
  p.remove_dc = get("remove_dc", p.remove_dc);
  p.preemphasis = get("preemphasis", p.preemphasis);
  p.power = get("power", p.power);
  p.n_mels = get("n_mels", p.n_mels);
  p.fmin_hz = get("fmin_hz", p.fmin_hz);
  p.fmax_hz = get("fmax_hz", p.fmax_hz);
  p.mel_scale = enum_from<audio::MelScale>(
      d, "mel_scale", {{"slaney", audio::MelScale::kSlaney}, {"htk", audio::MelScale::kHtk}},
      p.mel_scale);
  p.mel_filters = enum_from<audio::MelFilters>(
      d, "mel_filters",
      {{"librosa", audio::MelFilters::kLibrosa}, {"kaldi", audio::MelFilters::kKaldi}},
      p.mel_filters);
  p.slaney_norm = get("slaney_norm", p.slaney_norm);
  p.log_mode = enum_from<audio::LogMode>(
      d, "log", {{"db", audio::LogMode::kDecibel}, {"ln", audio::LogMode::kNatural}}, p.log_mode);
  p.log_floor = get("log_floor", p.log_floor);
  p.db_ref = get("db_ref", p.db_ref);
  p.n_mfcc = get("n_mfcc", p.n_mfcc);
  p.lifter = get("lifter", p.lifter);
  p.lifter_style = enum_from<audio::Lifter>(
      d, "lifter_style", {{"kaldi", audio::Lifter::kKaldi}, {"librosa", audio::Lifter::kLibrosa}},
      p.lifter_style);
  p.use_energy = get("use_energy", p.use_energy);
  p.energy_floor = get("energy_floor", p.energy_floor);
  const std::string err = audio::validate(p);
  if (!err.empty()) throw std::invalid_argument(err);
  return p;
}

FloatArray samples_of(const py::array& x, const char* what = "samples") {
  if (x.ndim() != 1) {
    throw std::invalid_argument(std::string(what) + " must be 1-D (mono), got " +
                                std::to_string(x.ndim()) + " dimensions");
  }
  if (x.dtype().kind() != 'f') {
    throw std::invalid_argument(std::string(what) + " must be floating point, got " +
                                std::string(py::str(x.dtype())));
  }
  return FloatArray::ensure(x);
}

py::array_t<float> rows_array(std::vector<float>&& rows, int row_size) {
  const auto n = static_cast<py::ssize_t>(rows.size() / row_size);
  py::array_t<float> out({n, static_cast<py::ssize_t>(row_size)});
  std::copy(rows.begin(), rows.end(), out.mutable_data());
  return out;
}

py::array_t<float> vector_array(const std::vector<float>& v) {
  py::array_t<float> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

class PyFeatureExtractor {
 public:
  explicit PyFeatureExtractor(const py::dict& params) : ex_(params_from(params)) {}

  int64_t num_frames(int64_t n) const { return ex_.num_frames(n); }

  // Log-mel (into `logmel`, frames x n_mels) and, when mfcc is non-null, MFCC of mono float
  // samples, with librosa's top_db clamp when given.
  void compute(const FloatArray& s, py::object top_db, float* logmel, float* mfcc) const {
    const float db = top_db.is_none() ? 0.0f : top_db.cast<float>();
    if (!top_db.is_none() && !(db > 0.0f)) {
      throw std::invalid_argument("top_db must be positive or None");
    }
    const float* in = s.data();
    py::gil_scoped_release release;
    ex_.compute(in, s.shape(0), logmel, mfcc, db);
  }

  py::ssize_t frames_of(const FloatArray& s) const {
    return static_cast<py::ssize_t>(ex_.num_frames(s.shape(0)));
  }

  py::array_t<float> logmel(const py::array& x, py::object top_db) const {
    const FloatArray s = samples_of(x);
    py::array_t<float> out({frames_of(s), static_cast<py::ssize_t>(ex_.params().n_mels)});
    compute(s, top_db, out.mutable_data(), nullptr);
    return out;
  }

  py::array_t<float> mfcc(const py::array& x, py::object top_db) const {
    const FloatArray s = samples_of(x);
    const py::ssize_t frames = frames_of(s);
    py::array_t<float> out({frames, static_cast<py::ssize_t>(ex_.params().n_mfcc)});
    // The log-mel rows are only an intermediate here: a per-thread buffer, reused across calls
    // (a fresh array of this size would be mmap'ed and page-faulted on every call).
    thread_local std::vector<float> logmel;
    logmel.resize(static_cast<size_t>(frames) * ex_.params().n_mels);
    compute(s, top_db, logmel.data(), out.mutable_data());
    return out;
  }

 private:
  audio::FeatureExtractor ex_;
};

class PyFeatureStream {
 public:
  PyFeatureStream(const py::dict& params, bool mfcc) : stream_(params_from(params), mfcc) {}
  py::array_t<float> push(const py::array& x) {
    const FloatArray s = samples_of(x, "chunk");
    std::vector<float> rows;
    {
      py::gil_scoped_release release;
      rows = stream_.push(s.data(), s.shape(0));
    }
    return rows_array(std::move(rows), stream_.row_size());
  }
  py::array_t<float> flush() {
    std::vector<float> rows;
    {
      py::gil_scoped_release release;
      rows = stream_.flush();
    }
    return rows_array(std::move(rows), stream_.row_size());
  }
  int64_t frames_emitted() const { return stream_.frames_emitted(); }

 private:
  audio::FeatureStream stream_;
};

class PyResampler {
 public:
  PyResampler(int from_hz, int to_hz) : r_(from_hz, to_hz) {}
  py::array_t<float> push(const py::array& x) {
    const FloatArray s = samples_of(x, "chunk");
    std::vector<float> out;
    {
      py::gil_scoped_release release;
      out = r_.push(s.data(), s.shape(0));
    }
    return vector_array(out);
  }
  py::array_t<float> flush() {
    std::vector<float> out;
    {
      py::gil_scoped_release release;
      out = r_.flush();
    }
    return vector_array(out);
  }
  int up() const { return r_.up(); }
  int down() const { return r_.down(); }

 private:
  audio::Resampler r_;
};

}  // namespace

void bind_audio(py::module_& m) {
  py::class_<PyFeatureExtractor>(m, "FeatureExtractor",
                                 "Batch log-mel / MFCC for one parameter set (a dict).")
      .def(py::init<const py::dict&>(), py::arg("params"))
      .def("num_frames", &PyFeatureExtractor::num_frames, py::arg("num_samples"))
      .def("logmel", &PyFeatureExtractor::logmel, py::arg("samples"),
           py::arg("top_db") = py::none(),
           "(frames, n_mels) float32 log-mel of mono float samples; top_db clamps to the "
           "maximum minus top_db (librosa). Releases the GIL.")
      .def("mfcc", &PyFeatureExtractor::mfcc, py::arg("samples"), py::arg("top_db") = py::none(),
           "(frames, n_mfcc) float32 MFCC (top_db applied to the log-mel first).");
  py::class_<PyFeatureStream>(m, "FeatureStream",
                              "Streaming log-mel / MFCC: push() any chunks, flush() at the end; "
                              "returns exactly the frames of the batch call.")
      .def(py::init<const py::dict&, bool>(), py::arg("params"), py::arg("mfcc"))
      .def("push", &PyFeatureStream::push, py::arg("chunk"))
      .def("flush", &PyFeatureStream::flush)
      .def_property_readonly("frames_emitted", &PyFeatureStream::frames_emitted);
  py::class_<PyResampler>(m, "Resampler",
                          "Polyphase resampler (scipy.signal.resample_poly's filter), streaming.")
      .def(py::init<int, int>(), py::arg("from_hz"), py::arg("to_hz"))
      .def("push", &PyResampler::push, py::arg("chunk"))
      .def("flush", &PyResampler::flush)
      .def_property_readonly("up", &PyResampler::up)
      .def_property_readonly("down", &PyResampler::down);
  m.def(
      "resample",
      [](const py::array& x, int from_hz, int to_hz) {
        const FloatArray s = samples_of(x);
        std::vector<float> out;
        {
          py::gil_scoped_release release;
          out = audio::Resampler::resample(s.data(), s.shape(0), from_hz, to_hz);
        }
        return vector_array(out);
      },
      py::arg("samples"), py::arg("from_hz"), py::arg("to_hz"),
      "Resamples mono float samples from from_hz to to_hz (batch).");
  m.def(
      "rfft",
      [](const py::array& x) {
        const FloatArray s = samples_of(x, "x");
        if (s.shape(0) < 2) throw std::invalid_argument("rfft needs at least 2 samples");
        const audio::FftTables t = audio::make_fft_tables(static_cast<int>(s.shape(0)));
        py::array_t<std::complex<float>> out(s.shape(0) / 2 + 1);
        audio::rfft(t, s.data(), out.mutable_data());
        return out;
      },
      py::arg("x"), "numpy.fft.rfft in float32 with mmedge's own FFT (any length).");
  m.def(
      "mel_filters",
      [](const py::dict& params) {
        const FeatureParams p = params_from(params);
        const std::vector<float> w = audio::dense_mel_filters(p);
        return rows_array(std::vector<float>(w), p.n_bins());
      },
      py::arg("params"), "(n_mels, n_fft/2 + 1) mel filter matrix of a parameter set.");
#if defined(MMEDGE_WITH_CUDA)
  py::class_<audio::CudaFeatureExtractor>(
      m, "CudaFeatureExtractor", "Log-mel / MFCC of a batch of device signals (tables on the GPU).")
      .def(py::init([](const py::dict& params) {
             return std::make_unique<audio::CudaFeatureExtractor>(params_from(params));
           }),
           py::arg("params"))
      .def(
          "compute",
          [](const audio::CudaFeatureExtractor& ex, uintptr_t samples, int64_t n, int batch,
             int64_t sample_stride, uintptr_t logmel, uintptr_t mfcc, float top_db,
             uintptr_t stream) {
            if (samples == 0 || logmel == 0) throw std::invalid_argument("null device pointer");
            if (n < 0) throw std::invalid_argument("n must be >= 0");
            py::gil_scoped_release release;
            ex.compute(reinterpret_cast<const float*>(samples), n, batch, sample_stride,
                       reinterpret_cast<float*>(logmel), reinterpret_cast<float*>(mfcc), top_db,
                       reinterpret_cast<void*>(stream));
          },
          py::arg("samples"), py::arg("n"), py::arg("batch"), py::arg("sample_stride"),
          py::arg("logmel"), py::arg("mfcc"), py::arg("top_db"), py::arg("stream") = 0,
          "Device pointers: batch signals of n float32 samples (sample_stride floats apart) -> "
          "logmel (batch, frames, n_mels) and mfcc (batch, frames, n_mfcc) or 0; top_db <= 0: "
          "none.");
#endif
  m.def("audio_driver", &audio::FeatureExtractor::driver_name,
        "The lanes the audio features run on this CPU: 'avx2' or 'scalar'.");
}

}  // namespace mmedge::python
