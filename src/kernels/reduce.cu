/*
 * reduce.cu — sum of an fp32 vector, x[0..n) -> *out (fp32).
 *
 * Bytes: n x 4 read (2^28 elements: 1073.7 MB; at the H200's ~4.2 TB/s read
 * roof that is ~255 us). FLOPs: n adds, negligible: memory-bound.
 *
 * Variants (kept, llm.c manner; each says what changed and why):
 *   0 naive   The classic first reduction: one element per thread into shared
 *             memory, a tree with interleaved addressing (tid % (2s) == 0,
 *             divergent warps, bank conflicts), one partial per block of 256,
 *             relaunched on the partials until one value is left (2^28 -> 2^20
 *             -> 4096 -> 16 -> 1: four launches). Fixed by the issue so "2x" means
 *             something.
 *   1 vec4    16-byte loads (float4) in a grid-stride loop over a grid of
 *             8 x 256-thread blocks per SM, warp-shuffle tree (no shared memory
 *             tree, no divergence), one partial per block; the last block to
 *             finish (threadfence + atomic ticket) sums the partials, so it is
 *             one launch. One load in flight per thread per iteration.
 *   2 vec4x4  As 1 with four independent 16-byte loads issued before the
 *             first add (4 accumulators), so each thread has 64 B in flight:
 *             what Little's law asks of HBM3e at ~4 TB/s and ~600 ns.
 *   cub       CUB DeviceReduce::Sum, the vendor library (entry point
 *             cub_reduce_sum_f32; not a numbered variant).
 * Results are deterministic for a given n and variant (fixed grid and order).
 *
 * Sections: naive; vectorized; workspace and entry points; CUB.
 */
#include <cub/device/device_reduce.cuh>

#include "kernels/kcommon.cuh"
#include "kernels/kernels_cuda.h"

enum { NAIVE_BLOCK = 256, VEC_BLOCK = 256, MAX_PARTIALS = 4096 };

/* ---- naive -------------------------------------------------------------- */

__global__ void reduce_naive(const float *x, size_t n, float *partial) {
  __shared__ float sdata[NAIVE_BLOCK];
  unsigned tid = threadIdx.x;
  size_t i = blockIdx.x * (size_t)blockDim.x + tid;
  sdata[tid] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (unsigned s = 1; s < blockDim.x; s *= 2) {
    if (tid % (2 * s) == 0) sdata[tid] += sdata[tid + s];
    __syncthreads();
  }
  if (tid == 0) partial[blockIdx.x] = sdata[0];
}

static size_t naive_partials(size_t n) { return (n + NAIVE_BLOCK - 1) / NAIVE_BLOCK; }

static int run_naive(const float *x, size_t n, float *out, void *ws, size_t ws_bytes,
                     cudaStream_t st, char *errbuf, size_t errlen) {
  size_t first = naive_partials(n);
  if (ws_bytes < 2 * first * sizeof(float))
    return KBAD(errbuf, errlen, "reduce naive: workspace too small");
  float *buf[2] = {(float *)ws, (float *)ws + first};
  const float *in = x;
  int k = 0;
  while (n > 1) {
    size_t g = naive_partials(n);
    float *dst = g == 1 ? out : buf[k];
    reduce_naive<<<(unsigned)g, NAIVE_BLOCK, 0, st>>>(in, n, dst);
    in = dst;
    n = g;
    k ^= 1;
  }
  if (in != out) /* n was 1 to begin with */
    cudaMemcpyAsync(out, in, sizeof(float), cudaMemcpyDeviceToDevice, st);
  return klaunch_check("reduce naive", errbuf, errlen);
}

/* ---- vectorized --------------------------------------------------------- */

/* Sums the block's partials in the last block to finish; ticket lives after the partials. */
__device__ void finish_last_block(float block_total, float *partials, unsigned *ticket, float *out,
                                  float *scratch) {
  __shared__ bool last;
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = block_total;
    __threadfence();
    last = atomicAdd(ticket, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  float v = 0.0f;
  for (unsigned i = threadIdx.x; i < gridDim.x; i += blockDim.x)
    v += ((volatile float *)partials)[i];
  v = block_sum(v, scratch);
  if (threadIdx.x == 0) {
    *out = v;
    *ticket = 0; /* ready for the next call */
  }
}

template <int UNROLL>
__global__ void __launch_bounds__(VEC_BLOCK)
    reduce_vec(const float *__restrict__ x, size_t n, float *partials, unsigned *ticket,
               float *out) {
  __shared__ float scratch[32];
  const float4 *x4 = reinterpret_cast<const float4 *>(x);
  size_t n4 = n / 4, stride = (size_t)gridDim.x * blockDim.x;
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  float acc[UNROLL];
#pragma unroll
  for (int u = 0; u < UNROLL; u++) acc[u] = 0.0f;
  for (; i + (UNROLL - 1) * stride < n4; i += UNROLL * stride) {
    float4 v[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; u++) v[u] = x4[i + u * stride];
#pragma unroll
    for (int u = 0; u < UNROLL; u++) acc[u] += (v[u].x + v[u].y) + (v[u].z + v[u].w);
  }
  for (; i < n4; i += stride) {
    float4 v = x4[i];
    acc[0] += (v.x + v.y) + (v.z + v.w);
  }
  if (blockIdx.x == 0) /* the n % 4 tail */
    for (size_t j = n4 * 4 + threadIdx.x; j < n; j += blockDim.x) acc[0] += x[j];
  float t = 0.0f;
#pragma unroll
  for (int u = 0; u < UNROLL; u++) t += acc[u];
  t = block_sum(t, scratch);
  finish_last_block(t, partials, ticket, out, scratch);
}

static int vec_grid(size_t n) {
  int dev = 0, sms = 132;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    sms = 132;
  }
  size_t g = (n / 4 + VEC_BLOCK - 1) / VEC_BLOCK;
  size_t cap = (size_t)sms * 8;
  if (cap > MAX_PARTIALS) cap = MAX_PARTIALS;
  if (g > cap) g = cap;
  return g < 1 ? 1 : (int)g;
}

/* ---- workspace and entry points ----------------------------------------- */

extern "C" int kc_reduce_workspace(int variant, size_t n, size_t *bytes, char *errbuf,
                                   size_t errlen) {
  if (!bytes) return KBAD(errbuf, errlen, "reduce_workspace: NULL output");
  switch (variant) {
    case -1: { /* CUB */
      size_t b = 0;
      cudaError_t e =
          cub::DeviceReduce::Sum(nullptr, b, (const float *)nullptr, (float *)nullptr, (int64_t)n);
      if (e != cudaSuccess)
        return KBAD(errbuf, errlen, "cub workspace query: %s", cudaGetErrorString(e));
      *bytes = b < 256 ? 256 : b;
      return 0;
    }
    case 0: *bytes = 2 * naive_partials(n) * sizeof(float) + 256; return 0;
    case 1:
    case 2: *bytes = (MAX_PARTIALS + 32) * sizeof(float); return 0;
    default:
      return KBAD(errbuf, errlen, "reduce: no variant %d (0 naive, 1 vec4, 2 vec4x4)", variant);
  }
}

extern "C" int kc_reduce_sum_f32(int variant, const float *x, size_t n, float *out, void *ws,
                                 size_t ws_bytes, cudaplugin_stream s, char *errbuf,
                                 size_t errlen) {
  if (!x || !out || !ws || n == 0) return KBAD(errbuf, errlen, "reduce: NULL pointer or n = 0");
  if ((uintptr_t)x % 16) return KBAD(errbuf, errlen, "reduce: x must be 16-byte aligned");
  cudaStream_t st = kstream(s);
  if (variant == 0) return run_naive(x, n, out, ws, ws_bytes, st, errbuf, errlen);
  if (ws_bytes < (MAX_PARTIALS + 32) * sizeof(float))
    return KBAD(errbuf, errlen, "reduce: workspace too small");
  float *partials = (float *)ws;
  unsigned *ticket = (unsigned *)((float *)ws + MAX_PARTIALS);
  int g = vec_grid(n);
  if (variant == 1)
    reduce_vec<1><<<g, VEC_BLOCK, 0, st>>>(x, n, partials, ticket, out);
  else if (variant == 2)
    reduce_vec<4><<<g, VEC_BLOCK, 0, st>>>(x, n, partials, ticket, out);
  else
    return KBAD(errbuf, errlen, "reduce: no variant %d (0 naive, 1 vec4, 2 vec4x4)", variant);
  return klaunch_check("reduce", errbuf, errlen);
}

/* ---- CUB ---------------------------------------------------------------- */

extern "C" int kc_cub_reduce_sum_f32(const float *x, size_t n, float *out, void *ws,
                                     size_t ws_bytes, cudaplugin_stream s, char *errbuf,
                                     size_t errlen) {
  if (!x || !out || !ws || n == 0) return KBAD(errbuf, errlen, "cub reduce: NULL pointer or n = 0");
  size_t b = ws_bytes;
  cudaError_t e = cub::DeviceReduce::Sum(ws, b, x, out, (int64_t)n, kstream(s));
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    kput(errbuf, errlen, "cub::DeviceReduce::Sum: %s", cudaGetErrorString(e));
    return ERR_DRIVER;
  }
  return klaunch_check("cub reduce", errbuf, errlen);
}
