#pragma once
// What this ucoro is and what it was compiled with: the version, the
// language check, and the optional integrations.
//
// ucoro is header-only, so "compiled with" means "what the including
// translation unit can see". Each optional integration is on when its
// header is on the include path and the user defined nothing; an explicit
// -DUCORO_HAS_X=0 or =1 always wins (=1 without the header is an error at
// the #include). Including a header does not link its library: a program
// that uses topology also links hwloc (`pkg-config --libs hwloc`, or the
// CMake component ucoro::hwloc), one that uses the PMIx bootstrap links
// pmix, and so on.
//
//   UCORO_HAS_HWLOC   <hwloc.h>            topology.hpp
//   UCORO_HAS_PMIX    <pmix.h>             communicator bootstrap under mpirun/srun
//   UCORO_HAS_MPI     <mpi.h>              communicator_mpi.hpp
//   UCORO_HAS_CUDA    <cuda_runtime_api.h> cuda.hpp
//   UCORO_HAS_THRUST  <thrust/device_vector.h> buffer/cuda.hpp, join/device.hpp
//   UCORO_HAS_RMM     <rmm/device_buffer.hpp>  buffer/rmm.hpp

#include <ucoro/version.hpp>

// MSVC reports 199711L in __cplusplus unless /Zc:__cplusplus is given.
#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define UCORO_DETAIL_CPLUSPLUS _MSVC_LANG
#else
#define UCORO_DETAIL_CPLUSPLUS __cplusplus
#endif
// A preprocessor check, not a static_assert: GCC lexes the whole translation
// unit before it parses any of it, so a static_assert here would come after
// <coroutine>'s own "#error requires -fcoroutines", which names the wrong fix.
#if UCORO_DETAIL_CPLUSPLUS < 202002L
#error "ucoro needs C++20 (coroutines and concepts): compile with -std=c++20 (GCC, Clang, nvcc) or /std:c++20 (MSVC); in CMake, linking ucoro::ucoro does this for you"
#endif

#ifndef UCORO_HAS_HWLOC
#if __has_include(<hwloc.h>)
#define UCORO_HAS_HWLOC 1
#else
#define UCORO_HAS_HWLOC 0
#endif
#endif

#ifndef UCORO_HAS_PMIX
#if __has_include(<pmix.h>)
#define UCORO_HAS_PMIX 1
#else
#define UCORO_HAS_PMIX 0
#endif
#endif

#ifndef UCORO_HAS_MPI
#if __has_include(<mpi.h>)
#define UCORO_HAS_MPI 1
#else
#define UCORO_HAS_MPI 0
#endif
#endif

#ifndef UCORO_HAS_CUDA
#if __has_include(<cuda_runtime_api.h>)
#define UCORO_HAS_CUDA 1
#else
#define UCORO_HAS_CUDA 0
#endif
#endif

#ifndef UCORO_HAS_THRUST
#if __has_include(<thrust/device_vector.h>)
#define UCORO_HAS_THRUST 1
#else
#define UCORO_HAS_THRUST 0
#endif
#endif

#ifndef UCORO_HAS_RMM
#if __has_include(<rmm/device_buffer.hpp>)
#define UCORO_HAS_RMM 1
#else
#define UCORO_HAS_RMM 0
#endif
#endif

// Built under AddressSanitizer: GCC defines __SANITIZE_ADDRESS__, Clang 14
// only answers __has_feature(address_sanitizer). Code that pools memory (the
// coroutine frame cache) hands it back to the allocator instead, so that
// ASan sees every use after free.
#ifndef UCORO_ASAN
#if defined(__SANITIZE_ADDRESS__)
#define UCORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UCORO_ASAN 1
#endif
#endif
#endif
#ifndef UCORO_ASAN
#define UCORO_ASAN 0
#endif
