// Bindings of cpp_ext/include/mmedge/audio/*.h: feature extraction (batch and streaming), the
// real FFT, mel filters and resampling. Parameters arrive as a dict (AudioSpec.kernel_params())
// keyed by the names of MMEDGE_AUDIO_FEATURE_OPTIONS (exported as FEATURE_OPTIONS); unknown keys
// and bad values raise ValueError naming them.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <complex>
#include <stdexcept>
#include <string>
#include <type_traits>
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

// One option from the dict: enums by the names in audio::EnumNames, numbers and flags as such.
template <typename T>
T option_from(const py::handle& value, const char* key) {
  if constexpr (std::is_enum_v<T>) {
    const std::string v = py::str(value);
    std::string known;
    for (const auto& [name, e] : audio::EnumNames<T>::values) {
      if (v == name) return e;
      known += (known.empty() ? "" : ", ") + std::string(name);
    }
    throw std::invalid_argument(std::string(key) + " must be one of " + known + ", got " + v);
  } else {
    return value.cast<T>();
  }
}

// The option macros name the enum types unqualified.
using audio::FilterNorm, audio::Lifter, audio::LogMode, audio::MelFilters, audio::MelScale,
    audio::Padding, audio::Window;

template <typename T>
void add_value_names(py::dict& d, const char* key) {
  if constexpr (std::is_enum_v<T>) {
    py::list names;
    for (const auto& entry : audio::EnumNames<T>::values) names.append(entry.name);
    d[key] = py::tuple(names);
  }
}

// {option: its value names} for every enum option.
py::dict option_values() {
  py::dict d;
#define MMEDGE_OPTION_VALUES(type, name, value) add_value_names<type>(d, #name);
  MMEDGE_AUDIO_FEATURE_OPTIONS(MMEDGE_OPTION_VALUES)
#undef MMEDGE_OPTION_VALUES
  return d;
}

// The option names, in declaration order (AudioSpec.kernel_params() sends exactly these).
std::vector<std::string> option_names() {
  std::vector<std::string> names;
#define MMEDGE_OPTION_NAME(type, name, value) names.emplace_back(#name);
  MMEDGE_AUDIO_FEATURE_OPTIONS(MMEDGE_OPTION_NAME)
#undef MMEDGE_OPTION_NAME
  return names;
}

FeatureParams params_from(const py::dict& d) {
  static const std::vector<std::string> names = option_names();
  for (const auto& item : d) {
    const std::string key = py::str(item.first);
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      throw std::invalid_argument("unknown feature parameter " + key);
    }
  }
  FeatureParams p;
#define MMEDGE_READ_OPTION(type, name, value) \
  if (d.contains(#name)) p.name = option_from<type>(d[#name], #name);
  MMEDGE_AUDIO_FEATURE_OPTIONS(MMEDGE_READ_OPTION)
#undef MMEDGE_READ_OPTION
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

  // Both outputs of one pass (Kaldi's fbank energy column is MFCC column 0 with use_energy).
  py::tuple logmel_and_mfcc(const py::array& x, py::object top_db) const {
    const FloatArray s = samples_of(x);
    const py::ssize_t frames = frames_of(s);
    py::array_t<float> logmel({frames, static_cast<py::ssize_t>(ex_.params().n_mels)});
    py::array_t<float> mfcc({frames, static_cast<py::ssize_t>(ex_.params().n_mfcc)});
    compute(s, top_db, logmel.mutable_data(), mfcc.mutable_data());
    return py::make_tuple(logmel, mfcc);
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
  m.attr("FEATURE_OPTIONS") = py::tuple(py::cast(option_names()));
  m.attr("FEATURE_OPTION_VALUES") = option_values();
  py::class_<PyFeatureExtractor>(m, "FeatureExtractor",
                                 "Batch log-mel / MFCC for one parameter set (a dict).")
      .def(py::init<const py::dict&>(), py::arg("params"))
      .def("num_frames", &PyFeatureExtractor::num_frames, py::arg("num_samples"))
      .def("logmel", &PyFeatureExtractor::logmel, py::arg("samples"),
           py::arg("top_db") = py::none(),
           "(frames, n_mels) float32 log-mel of mono float samples; top_db clamps to the "
           "maximum minus top_db (librosa). Releases the GIL.")
      .def("mfcc", &PyFeatureExtractor::mfcc, py::arg("samples"), py::arg("top_db") = py::none(),
           "(frames, n_mfcc) float32 MFCC (top_db applied to the log-mel first).")
      .def("logmel_and_mfcc", &PyFeatureExtractor::logmel_and_mfcc, py::arg("samples"),
           py::arg("top_db") = py::none(), "(log-mel, MFCC) of one pass, as logmel() and mfcc().");
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
  m.def(
      "first_nonfinite",
      [](const py::array_t<float, py::array::c_style>& x) {
        const float* data = x.data();
        const int64_t n = static_cast<int64_t>(x.size());
        py::gil_scoped_release release;
        return audio::first_nonfinite(data, n);
      },
      py::arg("x"), "Index of the first NaN or Inf of a C-contiguous float32 array, or -1.");
  m.def("audio_driver", &audio::FeatureExtractor::driver_name,
        "The lanes the audio features run on this CPU: 'avx2' or 'scalar'.");
}

}  // namespace mmedge::python
