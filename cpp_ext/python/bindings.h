// Registration functions of the binding files, one per kernel family (mirrors cpp_ext/src/).
#pragma once

#include <pybind11/pybind11.h>

namespace mmedge::python {

void bind_parallel(pybind11::module_& m);
void bind_image(pybind11::module_& m);
void bind_audio(pybind11::module_& m);
void bind_detect(pybind11::module_& m);
void bind_segment(pybind11::module_& m);
void bind_cuda(pybind11::module_& m);  // device queries and memory; stubs without CUDA

}  // namespace mmedge::python
