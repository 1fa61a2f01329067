/*
 * kcommon.cuh — device helpers shared by the kernel files of the CUDA plugin
 * (reduce.cu, transpose.cu, softmax.cu, norm.cu, ceiling.cu): error
 * reporting into the caller's buffer, bf16 <-> fp32, warp and block sums and
 * maxima, and the launch check every entry point ends with.
 *
 * Sections: errors; conversions; reductions.
 */
#ifndef GPUOPS_KERNELS_KCOMMON_CUH
#define GPUOPS_KERNELS_KCOMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

extern "C" {
#include "base/err.h"
#include "kernels/cudaplugin.h"
}

/* ---- errors ------------------------------------------------------------- */

static inline void kput(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void kput(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (!errbuf || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

/* A bad argument: ERR_INVALID with the message. */
#define KBAD(errbuf, errlen, ...) (kput(errbuf, errlen, __VA_ARGS__), ERR_INVALID)
/* A variant that does not handle this shape (the harness reports it, untimed). */
#define KUNSUP(errbuf, errlen, ...) (kput(errbuf, errlen, __VA_ARGS__), ERR_UNSUPPORTED)

/* After the launches of an entry point: 0, or the launch error as a gpuops code. */
static inline int klaunch_check(const char *what, char *errbuf, size_t errlen) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return 0;
  kput(errbuf, errlen, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
  if (e == cudaErrorInvalidConfiguration || e == cudaErrorInvalidValue) return ERR_INVALID;
  if (e == cudaErrorMemoryAllocation) return ERR_NOMEM;
  return ERR_DRIVER;
}

static inline cudaStream_t kstream(cudaplugin_stream s) {
  return reinterpret_cast<cudaStream_t>(s);
}

/* ---- conversions -------------------------------------------------------- */

/* Eight bf16 packed in a uint4 (one 16-byte load) to fp32, and back. */
__device__ __forceinline__ void bf16x8_to_f32(uint4 v, float f[8]) {
  const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&v);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    float2 t = __bfloat1622float2(h[i]);
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}
__device__ __forceinline__ uint4 f32_to_bf16x8(const float f[8]) {
  uint4 v;
  __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&v);
#pragma unroll
  for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return v;
}

/* ---- reductions --------------------------------------------------------- */

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Sum over the block, returned to every thread, with one barrier. scratch: 32
   floats of shared memory that no thread reads between the block's previous
   barrier and this call (callers alternate two, or call block_sum);
   blockDim.x a multiple of 32; every thread must call it. */
__device__ __forceinline__ float block_sum_once(float v, float *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

/* As block_sum_once, for any scratch: two barriers (the first waits for the
   readers of a previous call). */
__device__ __forceinline__ float block_sum(float v, float *scratch) {
  __syncthreads();
  return block_sum_once(v, scratch);
}
__device__ __forceinline__ float block_max(float v, float *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

#endif
