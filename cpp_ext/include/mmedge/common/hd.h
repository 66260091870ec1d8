// Macros for code shared by host (CPU) and device (CUDA) drivers.
//
// Math that defines a result (interpolation weights, colour conversion, normalisation) is written
// once, in headers, as MMEDGE_HD functions. The CPU loops and the CUDA kernels are thin drivers
// around it, so the CPU tests cover the arithmetic the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define MMEDGE_HD __host__ __device__ __forceinline__
#else
#define MMEDGE_HD inline
#endif
