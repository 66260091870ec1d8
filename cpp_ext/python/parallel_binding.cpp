#include <pybind11/pybind11.h>

#include "bindings.h"
#include "mmedge/common/parallel.h"

namespace py = pybind11;

namespace mmedge::python {

void bind_parallel(py::module_& m) {
  m.def("get_num_threads", &parallel::num_threads,
        "Threads the CPU kernels use, the calling thread included.");
  m.def("set_num_threads", &parallel::set_num_threads, py::arg("n"),
        "Sets the CPU kernels' thread count; 0 restores the default (MMEDGE_NUM_THREADS, else "
        "the number of CPUs, at most 4). Call it while no kernel is running.");
}

}  // namespace mmedge::python
