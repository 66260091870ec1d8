// A small persistent thread pool for the CPU kernels.
//
// parallel_for() splits [0, n) into chunks of at least `grain` items and runs them on the pool's
// workers and the calling thread. Kernels are called from several modality workers at once; a
// call that finds the pool busy runs serially on its own thread instead of waiting, so one
// modality never stalls another. After fork() the child rebuilds the pool.
#pragma once

#include <cstdint>
#include <functional>

namespace mmedge::parallel {

// Threads used by kernels, the calling thread included (>= 1).
int num_threads();

// Sets the thread count (clamped to [1, 64]); 0 = the default (MMEDGE_NUM_THREADS, else the
// number of CPUs, at most 4).
void set_num_threads(int n);

// Runs body(begin, end) over disjoint chunks covering [0, n); returns when all are done.
// Exceptions from body are rethrown on the calling thread (the first one).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace mmedge::parallel
