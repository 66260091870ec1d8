// mmedge._C: the compiled kernels. The Python API is mmedge.preprocess; this module is internal.
#include <pybind11/pybind11.h>

#include "bindings.h"

#ifndef MMEDGE_VERSION
#define MMEDGE_VERSION "unknown"
#endif
#ifndef MMEDGE_CUDA_ARCHITECTURES
#define MMEDGE_CUDA_ARCHITECTURES ""
#endif

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() =
      "mmedge compiled kernels (C++17, CUDA when built with it). Internal: use mmedge.preprocess.";
  m.attr("__version__") = MMEDGE_VERSION;
#if defined(MMEDGE_WITH_CUDA)
  m.attr("cuda_compiled") = true;
#else
  m.attr("cuda_compiled") = false;
#endif
  m.attr("cuda_architectures") = MMEDGE_CUDA_ARCHITECTURES;
#if defined(__clang__)
  m.attr("compiler") = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.attr("compiler") = "gcc " __VERSION__;
#else
  m.attr("compiler") = "unknown";
#endif
  mmedge::python::bind_parallel(m);
  mmedge::python::bind_image(m);
  mmedge::python::bind_audio(m);
  mmedge::python::bind_detect(m);
  mmedge::python::bind_segment(m);
  mmedge::python::bind_cuda(m);
}
