/*
 * norm.cu — layernorm (weight and bias) and rmsnorm (weight only) over the
 * rows of x (rows x cols, row-major); bf16 in and out, fp32 math.
 *   layernorm: y = (x - mean) / sqrt(var + eps) * w + b   (var: biased, over cols)
 *   rmsnorm:   y = x / sqrt(mean(x^2) + eps) * w
 *
 * Bytes: 2 x rows x cols x 2 (x read once, y written once) + cols x 2 per
 * parameter vector. 16384 x 4096: 268.4 MB (~63 us at 4.27 TB/s);
 * 16384 x 8192: 536.9 MB (~126 us). ~8 FLOPs per element: memory-bound.
 *
 * Variants (kept; each says what changed and why):
 *   0 naive  One thread per row, two passes over the row (pass 1: sum and sum
 *            of squares, pass 2: normalize and write), scalar 2-byte loads:
 *            uncoalesced (a warp touches 32 rows) and x read twice. Fixed by
 *            the issue.
 *   1 block  One block per row, the row held in registers as 16-byte chunks
 *            (8 bf16, PER per thread), so x is read once; mean, then the
 *            variance from the registers (exact two-pass in registers, no
 *            E[x^2]-E[x]^2 cancellation); w and b read as 16-byte chunks.
 *            256 threads: PER = cols / 2048.
 *   2 stream As 1 with 128 threads (PER doubled: twice the bytes in flight per
 *            thread, half the threads per barrier) and cache hints: x loaded
 *            with ld.global.cs (read once: evict first), y stored with
 *            st.global.cs, so w and b stay cached.
 *   3 warp   One warp per row, 8 rows per block of 256 threads, the row in
 *            registers (up to 16 chunks a lane: cols <= 4096), reductions by
 *            warp shuffles alone (no barriers, no shared memory), x loaded and
 *            y stored with the streaming hints of 2. First run (2026-11-29,
 *            H200): at 16384 x 4096 variants 1 and 2 reached ~3.6 TB/s, ~85 %
 *            of PyTorch's copy; the block barriers stall whole rows.
 *            Outcome (runs 2-4): slower, 60 % (layernorm) and 52 % (rmsnorm):
 *            16 chunks a lane take 186 / 159 registers, so one block (8 rows)
 *            per SM. Kept as a measured negative result.
   4 onepass As 1 (256 threads, the row in registers, 16-byte loads) in one
 *            pass: sums of d = x - shift and d^2 with shift = the row's first
 *            element (a shifted-data variance, no cancellation for rows whose
 *            mean is large against their spread), reduced together as one
 *            float2 with a single barrier (1 and 2 take four: two block sums),
 *            and w and b loaded with x, before the reduction, so their latency
 *            hides behind it. 64 registers (layernorm x 4096, PER 2), 120 at
 *            x 8192 (PER 4, two blocks an SM). Prediction (2026-11-29): x 4096
 *            from 84.5 % to ~87 % (fewer barriers per row; the rest is the
 *            flush's write-back, see docs/kernels.md); x 8192 no better than 1.
 *            Outcome (run 5): slower: layernorm 78.7 % (x 4096) and 72.6 %
 *            (x 8192) against 1's 84.6 / 94.1 %; rmsnorm 88.2 / 94.0 % against
 *            90.5 / 94.6 %. Holding w and b in registers doubles (rmsnorm) or
 *            triples (layernorm) the registers, so fewer rows an SM; the saved
 *            barriers did not pay for it. Kept as a measured negative result.
 *   5 tma    A persistent grid (as many 256-thread blocks as fit at once,
 *            each walking rows r, r + G, ...): each row arrives by one 1-D
 *            bulk copy (cp.async.bulk, bulk.cuh; L2 evict-first) in a ring of
 *            2-4 shared-memory stages that one thread keeps refilled, so the
 *            next rows' loads are in flight while this one is reduced and
 *            written; w and b are read once a block into registers instead of
 *            once a row; the row goes from its stage into registers, and the
 *            barrier of the first block sum (one barrier each: alternating
 *            scratch) also frees the stage. Exact two-pass statistics as in 1.
 *            Why: 1 at 16384 x 4096 is 15.5 waves of one-row blocks, each
 *            starting with empty pipes, its loads issued by threads, w and b
 *            reloaded every row (as many load instructions as x), and 4
 *            barriers a row; rmsnorm (half of that work) reaches 90.5 % where
 *            layernorm stops at 84.5 %. Prediction (2026-11-29): layernorm x
 *            4096 >= 90 %, rmsnorm x 4096 ~92 %, x 8192 no worse than 1.
 *            Outcome (run 7, 2026-12-03): slower everywhere: layernorm 74.5 /
 *            81.5 %, rmsnorm 79.6 / 84.5 % (x 4096 / x 8192). The bulk copies
 *            from DRAM come in at ~1.5 TB/s of reads whatever the stage count
 *            or size (softmax 9-11 too), and w and b in registers take 64
 *            registers (4 blocks an SM, 1 has 7). Kept as a negative result.
 *   6 async  5 with per-thread async copies (cp.async.cg, 16 bytes, LDGSTS)
 *            instead of the bulk copy: each thread copies its own chunks of
 *            the next rows into its slots of the ring and alone reads them
 *            back, so it refills a stage as soon as its chunks are in
 *            registers (no barrier); w and b read every row as in 1 (36
 *            registers). Prediction: >= 1's figure (84 %) if bytes in flight
 *            are what 1 lacks, ~90 % at x 4096.
 *            Outcome (run 8, 2026-12-03): slower (layernorm 76.3 / 81.8 %,
 *            rmsnorm 81.1 / 86.7 %); kept as a measured negative result.
 *   7 hint   1 (same code) with x loaded and y stored under an L2
 *            evict-first policy (l2hint.cuh) instead of 2's .cs: the
 *            flush's dirty lines are then not the lines the kernel evicts
 *            (the read flush made 1 six points faster at x 4096).
 *   8 onered 7 with one reduction a row: shifted sums of d and d^2 (shift =
 *            the row's first element) as one float2, one barrier (1: four);
 *            w and b read in the write loop as 1, so no extra registers
 *            (layernorm x 4096: 32, 8 blocks an SM; 4-onepass's 64 lost).
 *   9 red128 8 with 128-thread blocks (x 4096: 4 chunks a thread).
 *  10 pipe   Persistent blocks (as many as fit) walking rows g, g + G, ...;
 *            the next row's chunks are loaded into a second register set
 *            before this row is reduced and written (two rows an iteration,
 *            roles swapped, so no copy waits on them); 8's statistics and
 *            hints. 48 registers at x 4096 (5 blocks an SM, 10 rows live).
 *            Prediction for 7-10 (run 9): layernorm x 4096 from 84 % towards
 *            the read flush's 90 %; x 8192 and rmsnorm no worse than 1.
 *            Outcome (run 9, 2026-12-03, H200): the hints lose (7 vs 1:
 *            layernorm 83.1 / 86.8 % against 84.2 / 93.9 % at x 4096 / x
 *            8192, rmsnorm 85.0 / 87.9 against 90.3 / 94.7), though ncu shows
 *            11.5 MB fewer DRAM writes inside the kernel at layernorm x 4096;
 *            8-onered is the best at layernorm x 4096, 85.4 %, despite them;
 *            9 84.9 %; 10-pipe 77.2 % (5 blocks an SM: fewer threads to
 *            issue than the rows in flight are worth). Kept, all passing.
 *  11 onered2 8 without the hints (plain loads and stores, 32 registers at
 *            layernorm x 4096: 8 blocks an SM, 1 has 6). Added after run 9,
 *            not yet measured; prediction: layernorm x 4096 ~86-87 %.
 * Variants 1, 2 and 3 need cols a multiple of 8 and at most 16 chunks per thread,
 * 4, 5 and 10 at most 4 chunks of 256 threads (cols <= 8192; else ERR_UNSUPPORTED);
 * 8, 9 and 11 as 1.
 *
 * Sections: naive; register-cached (1, 2, 7-9); one warp per row; one pass;
 * tma; pipe; entry points.
 */
#include "kernels/bulk.cuh"
#include "kernels/kcommon.cuh"
#include "kernels/kernels_cuda.h"
#include "kernels/l2hint.cuh"

/* ---- naive -------------------------------------------------------------- */

template <bool LN>
__global__ void norm_naive(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                           __nv_bfloat16 *y, int rows, int cols, float eps) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const __nv_bfloat16 *row = x + (size_t)r * cols;
  __nv_bfloat16 *out = y + (size_t)r * cols;
  float s = 0.0f, ss = 0.0f;
  for (int c = 0; c < cols; c++) {
    float v = __bfloat162float(row[c]);
    s += v;
    ss += v * v;
  }
  float mean = LN ? s / cols : 0.0f;
  float var = ss / cols - mean * mean;
  float rstd = rsqrtf(fmaxf(var, 0.0f) + eps);
  for (int c = 0; c < cols; c++) {
    float v = (__bfloat162float(row[c]) - mean) * rstd * __bfloat162float(w[c]);
    if (LN) v += __bfloat162float(b[c]);
    out[c] = __float2bfloat16_rn(v);
  }
}

/* ---- register-cached ---------------------------------------------------- */

/* Cache hints on x and y: 0 none (1), 1 .cs (2-stream), 2 the L2
   evict-first policy pol (7-10, l2hint.cuh). */
template <int HINT>
__device__ __forceinline__ uint4 ld_x(const uint4 *p, uint64_t pol) {
  if constexpr (HINT == 1) return __ldcs(p);
  if constexpr (HINT == 2) return ld16_l2(p, pol);
  return *p;
}
template <int HINT>
__device__ __forceinline__ void st_y(uint4 *p, uint4 v, uint64_t pol) {
  if constexpr (HINT == 1)
    __stcs(p, v);
  else if constexpr (HINT == 2)
    st16_l2(p, v, pol);
  else
    *p = v;
}
template <int HINT>
__device__ __forceinline__ uint64_t x_policy() {
  if constexpr (HINT == 2) return l2_evict_first();
  return 0;
}

/* (s, ss) summed over the block with one barrier: each warp's pair to scratch
   (32 float2 of shared memory that no thread reads between the block's
   previous barrier and this call), then every thread adds them all.
   blockDim.x a multiple of 32; every thread must call it. */
__device__ __forceinline__ float2 sum2_once(float s, float ss, float2 *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  s = warp_sum(s);
  ss = warp_sum(ss);
  if (lane == 0) scratch[warp] = make_float2(s, ss);
  __syncthreads();
  float2 t = lane < nw ? scratch[lane] : make_float2(0.0f, 0.0f);
  return make_float2(warp_sum(t.x), warp_sum(t.y));
}

/* (mean, rstd) of a row held as PER chunks a thread (zeros past the row), for
   8-10: sums of d = x - shift and d^2 with shift = the row's first element (no
   cancellation for a mean large against the spread), reduced as one float2
   with one barrier (rmsnorm: one sum, one barrier) where 1 takes two block
   sums (four barriers); scratch must be unread since the block's previous
   barrier. */
template <bool LN, int PER>
__device__ __forceinline__ float2 row_stats(const uint4 *raw, int chunks, int cols, float shift,
                                            float eps, float2 *scratch) {
  const int t = (int)threadIdx.x, nt = (int)blockDim.x;
  float s = 0.0f, ss = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    float f[8];
    bf16x8_to_f32(raw[p], f);
    bool in = t + p * nt < chunks; /* padding chunks are zeros, but shift is not */
#pragma unroll
    for (int k = 0; k < 8; k++) {
      float d = in ? f[k] - shift : 0.0f;
      s += d;
      ss += d * d;
    }
  }
  float2 r = LN ? sum2_once(s, ss, scratch)
                : make_float2(0.0f, block_sum_once(ss, reinterpret_cast<float *>(scratch)));
  float md = LN ? r.x / cols : 0.0f; /* mean - shift */
  return make_float2(shift + md, rsqrtf(fmaxf(r.y / cols - md * md, 0.0f) + eps));
}

/* y = (x - mean) * rstd * w (+ b) for this thread's chunks of one row. */
template <bool LN, int PER, int HINT>
__device__ __forceinline__ void row_write(const uint4 *raw, uint4 *out, const uint4 *w4,
                                          const uint4 *b4, int chunks, float2 st, uint64_t pol) {
  const int t = (int)threadIdx.x, nt = (int)blockDim.x;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = t + p * nt;
    if (i >= chunks) continue;
    float f[8], wf[8], bf[8];
    bf16x8_to_f32(raw[p], f);
    bf16x8_to_f32(w4[i], wf);
    if (LN) bf16x8_to_f32(b4[i], bf);
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = (f[k] - st.x) * st.y * wf[k] + (LN ? bf[k] : 0.0f);
    st_y<HINT>(out + i, f32_to_bf16x8(f), pol);
  }
}

/* HINT as ld_x. */
template <bool LN, int PER, int HINT>
__global__ void __launch_bounds__(256)
    norm_regs(const __nv_bfloat16 *__restrict__ x, const __nv_bfloat16 *__restrict__ w,
              const __nv_bfloat16 *__restrict__ b, __nv_bfloat16 *__restrict__ y, int cols,
              float eps) {
  __shared__ float scratch[32];
  const uint4 *row = reinterpret_cast<const uint4 *>(x + (size_t)blockIdx.x * cols);
  uint4 *out = reinterpret_cast<uint4 *>(y + (size_t)blockIdx.x * cols);
  const uint4 *w4 = reinterpret_cast<const uint4 *>(w), *b4 = reinterpret_cast<const uint4 *>(b);
  const uint64_t pol = x_policy<HINT>();
  int chunks = cols / 8;
  uint4 raw[PER];
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    raw[p] = i < chunks ? ld_x<HINT>(row + i, pol) : make_uint4(0, 0, 0, 0); /* bf16 zeros */
  }
  float mean = 0.0f;
  if (LN) {
    float s = 0.0f;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      float f[8];
      bf16x8_to_f32(raw[p], f);
#pragma unroll
      for (int k = 0; k < 8; k++) s += f[k];
    }
    mean = block_sum(s, scratch) / cols;
  }
  float ss = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    float f[8];
    bf16x8_to_f32(raw[p], f);
#pragma unroll
    for (int k = 0; k < 8; k++) {
      float d = i < chunks ? f[k] - mean : 0.0f;
      ss += d * d;
    }
  }
  float rstd = rsqrtf(block_sum(ss, scratch) / cols + eps);
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i >= chunks) continue;
    float f[8], wf[8], bf[8];
    bf16x8_to_f32(raw[p], f);
    bf16x8_to_f32(w4[i], wf);
    if (LN) bf16x8_to_f32(b4[i], bf);
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = (f[k] - mean) * rstd * wf[k] + (LN ? bf[k] : 0.0f);
    st_y<HINT>(out + i, f32_to_bf16x8(f), pol);
  }
}

/* 1 with the one-barrier statistics (row_stats); x and y hinted as ld_x
   (HINT 2: 8, 9; 0: 11). */
template <bool LN, int PER, int HINT>
__global__ void __launch_bounds__(256)
    norm_onered(const __nv_bfloat16 *__restrict__ x, const __nv_bfloat16 *__restrict__ w,
                const __nv_bfloat16 *__restrict__ b, __nv_bfloat16 *__restrict__ y, int cols,
                float eps) {
  __shared__ float2 scratch[32];
  const __nv_bfloat16 *xr = x + (size_t)blockIdx.x * cols;
  const uint4 *row = reinterpret_cast<const uint4 *>(xr);
  uint4 *out = reinterpret_cast<uint4 *>(y + (size_t)blockIdx.x * cols);
  const uint64_t pol = x_policy<HINT>();
  int chunks = cols / 8;
  uint4 raw[PER];
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    raw[p] = i < chunks ? ld_x<HINT>(row + i, pol) : make_uint4(0, 0, 0, 0); /* bf16 zeros */
  }
  float shift = LN ? __bfloat162float(xr[0]) : 0.0f; /* one address: a broadcast */
  float2 st = row_stats<LN, PER>(raw, chunks, cols, shift, eps, scratch);
  row_write<LN, PER, HINT>(raw, out, reinterpret_cast<const uint4 *>(w),
                           reinterpret_cast<const uint4 *>(b), chunks, st, pol);
}

/* One row a block of bt threads: norm_onered (ONERED: 8, 9, 11) or
   norm_regs. */
template <bool LN, int PER, int HINT, bool ONERED>
static void launch_regs(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                        __nv_bfloat16 *y, int rows, int cols, float eps, int bt, cudaStream_t st) {
  if constexpr (ONERED)
    norm_onered<LN, PER, HINT><<<rows, bt, 0, st>>>(x, w, b, y, cols, eps);
  else
    norm_regs<LN, PER, HINT><<<rows, bt, 0, st>>>(x, w, b, y, cols, eps);
}

/* PER from {1, 2, 4, 8, 16}: the smallest with chunks / PER <= threads. */
template <bool LN, int HINT, bool ONERED = false>
static int run_regs(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                    __nv_bfloat16 *y, int rows, int cols, float eps, int threads, cudaStream_t st,
                    char *errbuf, size_t errlen) {
  if (cols % 8) return KUNSUP(errbuf, errlen, "norm: cols must be a multiple of 8 (got %d)", cols);
  int chunks = cols / 8, per = 1;
  while (per < 16 && (chunks + per - 1) / per > threads) per *= 2;
  if ((chunks + per - 1) / per > threads)
    return KUNSUP(errbuf, errlen, "norm: a row of %d does not fit in %d threads x 16 chunks", cols,
                  threads);
  int bt = ((chunks + per - 1) / per + 31) / 32 * 32;
  switch (per) {
    case 1: launch_regs<LN, 1, HINT, ONERED>(x, w, b, y, rows, cols, eps, bt, st); break;
    case 2: launch_regs<LN, 2, HINT, ONERED>(x, w, b, y, rows, cols, eps, bt, st); break;
    case 4: launch_regs<LN, 4, HINT, ONERED>(x, w, b, y, rows, cols, eps, bt, st); break;
    case 8: launch_regs<LN, 8, HINT, ONERED>(x, w, b, y, rows, cols, eps, bt, st); break;
    default: launch_regs<LN, 16, HINT, ONERED>(x, w, b, y, rows, cols, eps, bt, st); break;
  }
  return 0;
}

/* ---- one warp per row ------------------------------------------------------ */

/* 8 rows per block of 256 threads, the row in registers (PER chunks per lane),
   warp shuffles only: no barrier, no shared memory. */
template <bool LN, int PER>
__global__ void __launch_bounds__(256)
    norm_warp(const __nv_bfloat16 *__restrict__ x, const __nv_bfloat16 *__restrict__ w,
              const __nv_bfloat16 *__restrict__ b, __nv_bfloat16 *__restrict__ y, int rows,
              int cols, float eps) {
  int r = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (r >= rows) return;
  const uint4 *row = reinterpret_cast<const uint4 *>(x + (size_t)r * cols);
  uint4 *out = reinterpret_cast<uint4 *>(y + (size_t)r * cols);
  const uint4 *w4 = reinterpret_cast<const uint4 *>(w), *b4 = reinterpret_cast<const uint4 *>(b);
  int chunks = cols / 8;
  uint4 raw[PER];
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = lane + 32 * p;
    raw[p] = i < chunks ? __ldcs(row + i) : make_uint4(0, 0, 0, 0);
  }
  float mean = 0.0f;
  if (LN) {
    float s = 0.0f;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      float f[8];
      bf16x8_to_f32(raw[p], f);
#pragma unroll
      for (int k = 0; k < 8; k++) s += f[k];
    }
    mean = warp_sum(s) / cols;
  }
  float ss = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    float f[8];
    bf16x8_to_f32(raw[p], f);
#pragma unroll
    for (int k = 0; k < 8; k++) {
      float d = lane + 32 * p < chunks ? f[k] - mean : 0.0f;
      ss += d * d;
    }
  }
  float rstd = rsqrtf(warp_sum(ss) / cols + eps);
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = lane + 32 * p;
    if (i >= chunks) continue;
    float f[8], wf[8], bf[8];
    bf16x8_to_f32(raw[p], f);
    bf16x8_to_f32(w4[i], wf);
    if (LN) bf16x8_to_f32(b4[i], bf);
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = (f[k] - mean) * rstd * wf[k] + (LN ? bf[k] : 0.0f);
    __stcs(out + i, f32_to_bf16x8(f));
  }
}

template <bool LN>
static int run_warp(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                    __nv_bfloat16 *y, int rows, int cols, float eps, cudaStream_t st, char *errbuf,
                    size_t errlen) {
  if (cols % 8)
    return KUNSUP(errbuf, errlen, "norm warp: cols must be a multiple of 8 (got %d)", cols);
  int chunks = cols / 8, g = (rows + 7) / 8;
  if (chunks <= 32)
    norm_warp<LN, 1><<<g, 256, 0, st>>>(x, w, b, y, rows, cols, eps);
  else if (chunks <= 64)
    norm_warp<LN, 2><<<g, 256, 0, st>>>(x, w, b, y, rows, cols, eps);
  else if (chunks <= 128)
    norm_warp<LN, 4><<<g, 256, 0, st>>>(x, w, b, y, rows, cols, eps);
  else if (chunks <= 256)
    norm_warp<LN, 8><<<g, 256, 0, st>>>(x, w, b, y, rows, cols, eps);
  else if (chunks <= 512)
    norm_warp<LN, 16><<<g, 256, 0, st>>>(x, w, b, y, rows, cols, eps);
  else
    return KUNSUP(errbuf, errlen, "norm warp: a row of %d is over 4096 (16 chunks a lane)", cols);
  return 0;
}

/* ---- one pass: shifted sums, one reduction -------------------------------- */

/* As norm_regs, but one pass: sums of d = x - shift and d^2 with shift = the
   row's first element (var = E[d^2] - E[d]^2 without the cancellation of a
   large mean), so one reduction (one barrier) instead of two (four); w and b
   are loaded with x, before the reduction, so their latency overlaps it. */
template <bool LN, int PER>
__global__ void __launch_bounds__(256)
    norm_onepass(const __nv_bfloat16 *__restrict__ x, const __nv_bfloat16 *__restrict__ w,
                 const __nv_bfloat16 *__restrict__ b, __nv_bfloat16 *__restrict__ y, int cols,
                 float eps) {
  __shared__ float2 scratch[32];
  const __nv_bfloat16 *xr = x + (size_t)blockIdx.x * cols;
  const uint4 *row = reinterpret_cast<const uint4 *>(xr);
  uint4 *out = reinterpret_cast<uint4 *>(y + (size_t)blockIdx.x * cols);
  const uint4 *w4 = reinterpret_cast<const uint4 *>(w), *b4 = reinterpret_cast<const uint4 *>(b);
  int chunks = cols / 8;
  uint4 raw[PER], wr[PER], br[PER];
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i < chunks) raw[p] = row[i];
  }
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i < chunks) {
      wr[p] = w4[i];
      if (LN) br[p] = b4[i];
    }
  }
  float shift = LN ? __bfloat162float(xr[0]) : 0.0f; /* one address: a broadcast */
  float s = 0.0f, ss = 0.0f;
#pragma unroll
  for (int p = 0; p < PER; p++) {
    if ((int)threadIdx.x + p * (int)blockDim.x >= chunks) continue;
    float f[8];
    bf16x8_to_f32(raw[p], f);
#pragma unroll
    for (int k = 0; k < 8; k++) {
      float d = f[k] - shift;
      s += d;
      ss += d * d;
    }
  }
  float2 t = sum2_once(s, ss, scratch);
  float md = LN ? t.x / cols : 0.0f; /* mean - shift */
  float mean = shift + md;
  float rstd = rsqrtf(fmaxf(t.y / cols - md * md, 0.0f) + eps);
#pragma unroll
  for (int p = 0; p < PER; p++) {
    int i = threadIdx.x + p * blockDim.x;
    if (i >= chunks) continue;
    float f[8], wf[8], bf[8];
    bf16x8_to_f32(raw[p], f);
    bf16x8_to_f32(wr[p], wf);
    if (LN) bf16x8_to_f32(br[p], bf);
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = (f[k] - mean) * rstd * wf[k] + (LN ? bf[k] : 0.0f);
    out[i] = f32_to_bf16x8(f);
  }
}

/* 256 threads (fewer for short rows), PER from {1, 2, 4}: cols <= 8192, else
   ERR_UNSUPPORTED (x, w and b in registers: 12 x PER registers of data). */
template <bool LN>
static int run_onepass(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                       __nv_bfloat16 *y, int rows, int cols, float eps, cudaStream_t st,
                       char *errbuf, size_t errlen) {
  if (cols % 8)
    return KUNSUP(errbuf, errlen, "norm onepass: cols must be a multiple of 8 (got %d)", cols);
  int chunks = cols / 8, per = 1;
  while (per < 4 && (chunks + per - 1) / per > 256) per *= 2;
  if ((chunks + per - 1) / per > 256)
    return KUNSUP(errbuf, errlen, "norm onepass: a row of %d is over 256 threads x 4 chunks", cols);
  int bt = ((chunks + per - 1) / per + 31) / 32 * 32;
  if (per == 1)
    norm_onepass<LN, 1><<<rows, bt, 0, st>>>(x, w, b, y, cols, eps);
  else if (per == 2)
    norm_onepass<LN, 2><<<rows, bt, 0, st>>>(x, w, b, y, cols, eps);
  else
    norm_onepass<LN, 4><<<rows, bt, 0, st>>>(x, w, b, y, cols, eps);
  return 0;
}

/* ---- tma: persistent blocks, rows by bulk copy into a stage ring -------- */

#define NORM_MAX_STAGES 4

/* Row it of this block (rows blockIdx.x + it x gridDim.x) arrives in stage
   it % stages (dynamic shared memory, stages x cols x 2 bytes); thread t
   holds chunks t + p x blockDim.x, p < PER, of the row, of w and of b. */
template <bool LN, int PER, bool ASYNC>
__global__ void __launch_bounds__(256)
    norm_tma(const __nv_bfloat16 *__restrict__ x, const __nv_bfloat16 *__restrict__ w,
             const __nv_bfloat16 *__restrict__ b, __nv_bfloat16 *__restrict__ y, int rows, int cols,
             float eps, int stages) {
#if !BULK_SM90
  __trap(); /* bulk copies need sm_90: the compute_80 PTX never launches this */
#else
  extern __shared__ uint4 stage[]; /* stages x chunks */
  __shared__ uint64_t full[NORM_MAX_STAGES];
  __shared__ float red[2][32]; /* scratch of the block sums, alternating */
  const int chunks = cols / 8, t = (int)threadIdx.x, nt = (int)blockDim.x;
  const uint32_t bytes = (uint32_t)chunks * 16u;
  const int first = (int)blockIdx.x, step = (int)gridDim.x;
  const uint4 *w4 = reinterpret_cast<const uint4 *>(w), *b4 = reinterpret_cast<const uint4 *>(b);
  const uint64_t pol = l2_evict_first();
  /* TMA: one thread copies row `row` into stage s. ASYNC: every thread its
     own chunks (which it alone reads back), one group a row, committed even
     when empty so that groups count rows. */
  auto issue = [&](int s, int row) {
    const uint4 *src = reinterpret_cast<const uint4 *>(x + (size_t)row * cols);
    if constexpr (!ASYNC) {
      bulk_bar_expect(&full[s], bytes);
      bulk_load(stage + (size_t)s * chunks, src, bytes, &full[s], pol);
    } else {
#pragma unroll
      for (int p = 0; p < PER; p++)
        if (t + p * nt < chunks && row < rows)
          async_copy16(stage + (size_t)s * chunks + t + p * nt, src + t + p * nt);
      async_commit();
    }
  };
  if (!ASYNC && t == 0)
    for (int s = 0; s < stages; s++) bulk_bar_init(&full[s], 1);
  __syncthreads();
  if (ASYNC || t == 0)
    for (int s = 0; s < stages && (ASYNC || first + s * step < rows); s++)
      issue(s, first + s * step);
  /* TMA: w and b in registers for the block's life; ASYNC: read every row
     (L1 hits), as in 1, which leaves 36 registers instead of 64 (layernorm
     x 4096): 7 blocks an SM instead of 4. */
  uint4 wr[ASYNC ? 1 : PER], br[LN && !ASYNC ? PER : 1];
#pragma unroll
  for (int p = 0; p < PER && !ASYNC; p++) {
    if (t + p * nt >= chunks) continue;
    wr[ASYNC ? 0 : p] = w4[t + p * nt];
    if (LN) br[LN && !ASYNC ? p : 0] = b4[t + p * nt];
  }
  for (int it = 0, row = first; row < rows; it++, row += step) {
    const int s = it % stages;
    if (ASYNC)
      async_wait(stages - 1); /* this row's group; the next stages - 1 may fly */
    else
      bulk_bar_wait(&full[s], (uint32_t)(it / stages) & 1u);
    uint4 raw[PER];
    float mean = 0.0f;
#pragma unroll
    for (int p = 0; p < PER; p++)
      raw[p] =
          t + p * nt < chunks ? stage[(size_t)s * chunks + t + p * nt] : make_uint4(0, 0, 0, 0);
    if (ASYNC) issue(s, row + stages * step); /* its own chunks of stage s are in raw */
    if (LN) {
      float s1 = 0.0f;
#pragma unroll
      for (int p = 0; p < PER; p++) {
        float f[8];
        bf16x8_to_f32(raw[p], f);
#pragma unroll
        for (int k = 0; k < 8; k++) s1 += f[k];
      }
      /* layernorm: two sums a row, scratch 0 then 1; its barrier frees stage s */
      mean = block_sum_once(s1, red[0]) / cols;
      if (!ASYNC && t == 0 && row + stages * step < rows) issue(s, row + stages * step);
    }
    float ss = 0.0f;
#pragma unroll
    for (int p = 0; p < PER; p++) {
      float f[8];
      bf16x8_to_f32(raw[p], f);
      bool in = t + p * nt < chunks; /* padding chunks are zeros, but mean is not */
#pragma unroll
      for (int k = 0; k < 8; k++) {
        float d = in ? f[k] - mean : 0.0f;
        ss += d * d;
      }
    }
    /* rmsnorm: one sum a row, scratch alternating by row; its barrier frees stage s */
    float rstd = rsqrtf(block_sum_once(ss, red[LN ? 1 : it & 1]) / cols + eps);
    if (!ASYNC && !LN && t == 0 && row + stages * step < rows) issue(s, row + stages * step);
    uint4 *out = reinterpret_cast<uint4 *>(y + (size_t)row * cols);
#pragma unroll
    for (int p = 0; p < PER; p++) {
      if (t + p * nt >= chunks) continue;
      float f[8], wf[8], bf[8];
      bf16x8_to_f32(raw[p], f);
      bf16x8_to_f32(ASYNC ? w4[t + p * nt] : wr[ASYNC ? 0 : p], wf);
      if (LN) bf16x8_to_f32(ASYNC ? b4[t + p * nt] : br[LN && !ASYNC ? p : 0], bf);
#pragma unroll
      for (int k = 0; k < 8; k++) f[k] = (f[k] - mean) * rstd * wf[k] + (LN ? bf[k] : 0.0f);
      out[t + p * nt] = f32_to_bf16x8(f);
    }
  }
#endif
}

/* The launch shape for a row length, worked out once per instantiation and
   cols (host calls on one thread, as the harness makes them): stages that
   fit in 32 KB (2 to 4), blocks = what fits on the device at once. */
struct norm_shape {
  int cols, threads, stages, blocks;
  size_t smem;
};

template <bool LN, int PER, bool ASYNC>
static int launch_tma(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                      __nv_bfloat16 *y, int rows, int cols, float eps, cudaStream_t st,
                      char *errbuf, size_t errlen) {
  static struct norm_shape sh = {-1, 0, 0, 0, 0}; /* per instantiation */
  auto kern = norm_tma<LN, PER, ASYNC>;
  cudaError_t e = cudaSuccess;
  if (sh.cols != cols) {
    int chunks = cols / 8, dev = 0, sms = 0, per_sm = 0;
    size_t row = (size_t)chunks * 16;
    sh.stages = (int)(32 * 1024 / row);
    sh.stages = sh.stages < 2 ? 2 : sh.stages > NORM_MAX_STAGES ? NORM_MAX_STAGES : sh.stages;
    sh.smem = row * (size_t)sh.stages;
    sh.threads = chunks < 256 ? (chunks + 31) / 32 * 32 : 256;
    e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sh.smem);
    if (e == cudaSuccess) e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    if (e == cudaSuccess)
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, sh.threads, sh.smem);
    if (e == cudaSuccess && per_sm < 1) e = cudaErrorInvalidConfiguration;
    sh.blocks = per_sm * sms;
    sh.cols = e == cudaSuccess ? cols : -1;
  }
  if (e == cudaSuccess) {
    int g = sh.blocks < rows ? sh.blocks : rows;
    kern<<<g, sh.threads, sh.smem, st>>>(x, w, b, y, rows, cols, eps, sh.stages);
    e = cudaGetLastError();
  }
  if (e != cudaSuccess) {
    sh.cols = -1;
    return KUNSUP(errbuf, errlen, "norm tma: a row of %d (%zu bytes of shared memory a block): %s",
                  cols, sh.smem, cudaGetErrorString(e));
  }
  return 0;
}

/* PER 2 or 4 (the smallest with chunks <= 256 x PER): cols <= 8192 (w and b
   take 8 (rmsnorm 4) registers a chunk: layernorm at PER 4 takes 117). */
template <bool LN, bool ASYNC>
static int run_tma(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                   __nv_bfloat16 *y, int rows, int cols, float eps, cudaStream_t st, char *errbuf,
                   size_t errlen) {
  if (cols % 8)
    return KUNSUP(errbuf, errlen, "norm tma: cols must be a multiple of 8 (got %d)", cols);
  int chunks = cols / 8;
  if (chunks <= 512)
    return launch_tma<LN, 2, ASYNC>(x, w, b, y, rows, cols, eps, st, errbuf, errlen);
  if (chunks <= 1024)
    return launch_tma<LN, 4, ASYNC>(x, w, b, y, rows, cols, eps, st, errbuf, errlen);
  return KUNSUP(errbuf, errlen, "norm tma: a row of %d is over 256 threads x 4 chunks", cols);
}

/* ---- pipe: persistent blocks, the next row loaded during this one --------- */

/* Block g walks rows g, g + G, ... (G = gridDim.x, as many blocks as fit at
   once); the next row's chunks (and its shift) are loaded into a second set
   of registers before this row is reduced and written, so every block keeps
   a row's loads in flight through its reduction and stores. One-barrier
   statistics (row_stats ONERED), scratch alternating by row; evict-first x
   and y as 7. */
template <bool LN, int PER>
__global__ void __launch_bounds__(256)
    norm_pipe(const __nv_bfloat16 *__restrict__ x, const __nv_bfloat16 *__restrict__ w,
              const __nv_bfloat16 *__restrict__ b, __nv_bfloat16 *__restrict__ y, int rows,
              int cols, float eps) {
  __shared__ float2 scratch[2][32];
  const int chunks = cols / 8, t = (int)threadIdx.x, nt = (int)blockDim.x;
  const uint64_t pol = x_policy<2>();
  const uint4 *w4 = reinterpret_cast<const uint4 *>(w), *b4 = reinterpret_cast<const uint4 *>(b);
  uint4 ra[PER], rb[PER]; /* this row and the next, roles swapped every row */
  float sa = 0.0f, sb = 0.0f;
  auto load = [&](uint4 *r, float *sh, int row) {
    const __nv_bfloat16 *xr = x + (size_t)row * cols;
    const uint4 *src = reinterpret_cast<const uint4 *>(xr);
#pragma unroll
    for (int p = 0; p < PER; p++)
      r[p] = t + p * nt < chunks ? ld_x<2>(src + t + p * nt, pol) : make_uint4(0, 0, 0, 0);
    if (LN) *sh = __bfloat162float(xr[0]);
  };
  /* Row `row` from cur while the next is loaded into nxt; false past the end. */
  auto step = [&](uint4 *cur, float sc, uint4 *nxt, float *sn, int row, int par) {
    if (row >= rows) return false;
    if (row + (int)gridDim.x < rows) load(nxt, sn, row + (int)gridDim.x);
    float2 st = row_stats<LN, PER>(cur, chunks, cols, sc, eps, scratch[par]);
    row_write<LN, PER, 2>(cur, reinterpret_cast<uint4 *>(y + (size_t)row * cols), w4, b4, chunks,
                          st, pol);
    return true;
  };
  int row = (int)blockIdx.x;
  if (row < rows) load(ra, &sa, row);
  /* Two rows an iteration so that no register copy waits on the next row's loads. */
  for (; row < rows; row += 2 * (int)gridDim.x) {
    if (!step(ra, sa, rb, &sb, row, 0)) break;
    if (!step(rb, sb, ra, &sa, row + (int)gridDim.x, 1)) break;
  }
}

/* Blocks: what fits on the device at once (occupancy API, worked out once per
   instantiation and cols; host calls on one thread, as the harness makes
   them), at most one a row. */
template <bool LN, int PER>
static int launch_pipe(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                       __nv_bfloat16 *y, int rows, int cols, float eps, cudaStream_t st,
                       char *errbuf, size_t errlen) {
  static int cached_cols = -1, blocks, threads; /* per instantiation */
  auto kern = norm_pipe<LN, PER>;
  cudaError_t e = cudaSuccess;
  if (cached_cols != cols) {
    int dev = 0, sms = 0, per_sm = 0, chunks = cols / 8;
    threads = (chunks + PER - 1) / PER < 256 ? ((chunks + PER - 1) / PER + 31) / 32 * 32 : 256;
    e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    if (e == cudaSuccess)
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, threads, 0);
    if (e == cudaSuccess && per_sm < 1) e = cudaErrorInvalidConfiguration;
    blocks = per_sm * sms;
    cached_cols = e == cudaSuccess ? cols : -1;
  }
  if (e == cudaSuccess) {
    int g = blocks < rows ? blocks : rows;
    kern<<<g, threads, 0, st>>>(x, w, b, y, rows, cols, eps);
    e = cudaGetLastError();
  }
  if (e != cudaSuccess)
    return KUNSUP(errbuf, errlen, "norm pipe: a row of %d: %s", cols, cudaGetErrorString(e));
  return 0;
}

/* PER 1, 2 or 4 (the smallest with chunks <= 256 x PER): cols <= 8192. */
template <bool LN>
static int run_pipe(const __nv_bfloat16 *x, const __nv_bfloat16 *w, const __nv_bfloat16 *b,
                    __nv_bfloat16 *y, int rows, int cols, float eps, cudaStream_t st, char *errbuf,
                    size_t errlen) {
  if (cols % 8)
    return KUNSUP(errbuf, errlen, "norm pipe: cols must be a multiple of 8 (got %d)", cols);
  int chunks = cols / 8;
  if (chunks <= 256) return launch_pipe<LN, 1>(x, w, b, y, rows, cols, eps, st, errbuf, errlen);
  if (chunks <= 512) return launch_pipe<LN, 2>(x, w, b, y, rows, cols, eps, st, errbuf, errlen);
  if (chunks <= 1024) return launch_pipe<LN, 4>(x, w, b, y, rows, cols, eps, st, errbuf, errlen);
  return KUNSUP(errbuf, errlen, "norm pipe: a row of %d is over 256 threads x 4 chunks", cols);
}

/* ---- entry points ------------------------------------------------------- */

template <bool LN>
static int norm_dispatch(int variant, const void *x, const void *w, const void *b, void *y,
                         int rows, int cols, float eps, cudaplugin_stream s, char *errbuf,
                         size_t errlen) {
  const char *name = LN ? "layernorm" : "rmsnorm";
  if (!x || !w || !y || (LN && !b) || rows <= 0 || cols <= 0)
    return KBAD(errbuf, errlen, "%s: NULL pointer or empty shape", name);
  const __nv_bfloat16 *xb = (const __nv_bfloat16 *)x, *wb = (const __nv_bfloat16 *)w,
                      *bb = (const __nv_bfloat16 *)b;
  __nv_bfloat16 *yb = (__nv_bfloat16 *)y;
  cudaStream_t st = kstream(s);
  int rc = 0;
  switch (variant) {
    case 0:
      norm_naive<LN><<<(rows + 127) / 128, 128, 0, st>>>(xb, wb, bb, yb, rows, cols, eps);
      break;
    case 1: rc = run_regs<LN, 0>(xb, wb, bb, yb, rows, cols, eps, 256, st, errbuf, errlen); break;
    case 2: rc = run_regs<LN, 1>(xb, wb, bb, yb, rows, cols, eps, 128, st, errbuf, errlen); break;
    case 3: rc = run_warp<LN>(xb, wb, bb, yb, rows, cols, eps, st, errbuf, errlen); break;
    case 4: rc = run_onepass<LN>(xb, wb, bb, yb, rows, cols, eps, st, errbuf, errlen); break;
    case 5: rc = run_tma<LN, false>(xb, wb, bb, yb, rows, cols, eps, st, errbuf, errlen); break;
    case 6: rc = run_tma<LN, true>(xb, wb, bb, yb, rows, cols, eps, st, errbuf, errlen); break;
    case 7: rc = run_regs<LN, 2>(xb, wb, bb, yb, rows, cols, eps, 256, st, errbuf, errlen); break;
    case 8:
      rc = run_regs<LN, 2, true>(xb, wb, bb, yb, rows, cols, eps, 256, st, errbuf, errlen);
      break;
    case 9:
      rc = run_regs<LN, 2, true>(xb, wb, bb, yb, rows, cols, eps, 128, st, errbuf, errlen);
      break;
    case 10: rc = run_pipe<LN>(xb, wb, bb, yb, rows, cols, eps, st, errbuf, errlen); break;
    case 11:
      rc = run_regs<LN, 0, true>(xb, wb, bb, yb, rows, cols, eps, 256, st, errbuf, errlen);
      break;
    default:
      return KBAD(errbuf, errlen,
                  "%s: no variant %d (0 naive, 1 block, 2 stream, 3 warp, 4 onepass, 5 tma, "
                  "6 async, 7 hint, 8 onered, 9 red128, 10 pipe, 11 onered2)",
                  name, variant);
  }
  if (rc) return rc;
  return klaunch_check(name, errbuf, errlen);
}

extern "C" int kc_layernorm_bf16(int variant, const void *x, const void *w, const void *b, void *y,
                                 int rows, int cols, float eps, cudaplugin_stream s, char *errbuf,
                                 size_t errlen) {
  return norm_dispatch<true>(variant, x, w, b, y, rows, cols, eps, s, errbuf, errlen);
}

extern "C" int kc_rmsnorm_bf16(int variant, const void *x, const void *w, void *y, int rows,
                               int cols, float eps, cudaplugin_stream s, char *errbuf,
                               size_t errlen) {
  return norm_dispatch<false>(variant, x, w, NULL, y, rows, cols, eps, s, errbuf, errlen);
}
