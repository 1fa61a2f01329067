/*
 * gemm.cu — C[M,N] = A[M,K] · W[N,K]ᵀ (+ bias[N]) (then exact-erf GELU):
 * bf16 in, fp32 accumulate, bf16 out. A and W are row-major and both
 * K-major (W is PyTorch's Linear weight as stored), C is row-major.
 *
 * Napkin math (8192³): 2·M·N·K = 1.10 TFLOP; bytes at least (MK + NK + MN)·2
 * = 403 MB. On the H200 (cuBLAS ~800 TFLOP/s, ~4.2 TB/s) that is 1.37 ms of
 * matrix work against 0.1 ms of memory: compute-bound by 14x. The skinny
 * shapes (M = 16, N = K = 8192: 4.3 GFLOP, 134 MB, almost all of it W) are
 * the opposite: 32 us of memory against 5 us of math, so they are judged by
 * bandwidth.
 *
 * Variants (each kept; the numbers are the harness's):
 *   0-naive   one thread per output, the K loop reading global memory (the
 *             issue's fixed baseline). Portable.
 *   1-smem    32x32 output tiles, A and W staged through shared memory in
 *             32-wide K slices, one output per thread: each loaded element is
 *             used 32 times instead of once. Portable.
 *   2-regs    register blocking: 128x128 tiles, 256 threads, 8x8 outputs per
 *             thread from K slices of 16 kept transposed in shared memory
 *             (float4 reads), fp32 FMA: 64 FMAs per 16 shared loads. Portable.
 *             M <= 16: 16x128 tiles, 1x8 outputs a thread (a 128-row tile
 *             was 7/8 padding there: 1.89x the baseline at 16x4096^2).
 *   3-mma     tensor cores with mma.sync m16n8k16 (sm_80+): 128x128x32 tiles,
 *             8 warps of 64x32, ldmatrix from XOR-swizzled shared memory (no
 *             bank conflicts), cp.async with 3 stages. Portable to sm_80.
 *   4-wgmma   Hopper (sm_90a): TMA bulk tensor copies (128-byte swizzle) into a
 *             4-stage ring of shared-memory stages guarded by mbarriers; one
 *             producer warp group (one thread issues the copies, setmaxnreg
 *             gives its registers away) and two consumer warp groups issuing
 *             wgmma m64n256k16 from shared memory; 128x256 tiles; a persistent
 *             grid (one CTA per SM) walking the tiles in groups of 16 rows so
 *             that tiles running together share A and W in L2, the producer
 *             running ahead into the next tile while the consumers write the
 *             last one.
 *   5-overlap variant 4 with one wgmma group left in flight: a consumer issues
 *             k-tile kt, waits only for kt-1 (wgmma.wait_group 1) and frees
 *             kt-1's stage, so the tensor cores never drain between k-tiles.
 *   6-auto    the kernel chosen by shape (wgmma_auto; measured 2026-12-03/04):
 *             8-tmastore from one full wave of 128x256 tiles (10-streamk from 8
 *             waves); 7-splitk for
 *             M <= 32 or where even 64-wide W tiles leave SMs idle; else variant
 *             5's kernel with 64/128-row tiles and more stages, so that every SM
 *             streams its share of W (evict-first when each W tile is read once).
 *   7-splitk  skinny M (<= 128; larger M in tiles of 128): the operands swap,
 *             Cᵀ = W·Aᵀ, so 64 rows of W are wgmma's M side and A's rows (padded
 *             to 16/32/64/128) its N side: no zero rows at M = 16. Tiles of 128 W
 *             rows, K split over a cluster of up to 8 CTAs so that ~one CTA per SM
 *             streams W through 6-10 TMA stages; the fp32 partials are summed
 *             through distributed shared memory (no global workspace).
 *   8-tmastore variant 5 with the epilogue through shared memory: each consumer
 *             group writes its bf16 tile (bias/GELU applied) in 128-column halves
 *             into a swizzled buffer and one thread issues TMA stores, so the
 *             group goes back to wgmma at once instead of issuing 64 scattered
 *             4-byte global stores a thread.
 *   9-sk64    7 with 64-row W tiles always (one consumer group), so that N = 8192
 *             gives 128 tiles and needs no cluster or reduction at all.
 *   10-streamk 8 without the partial last wave (stream-K, Osama et al. 2023): whole
 *             waves of 128x256 tiles as in 8, then the leftover tiles' k-tiles split
 *             evenly over all CTAs in contiguous ranges; a CTA holding a tile's last
 *             k-tile adds the partial sums the others left in a global workspace (fp32,
 *             128 KB a CTA, flags released/acquired at GPU scope) and writes C. At 4096³
 *             (3.88 waves) the slowest SM then does 248 k-tiles instead of 256, at
 *             2048x4096² 124 instead of 128, at 8192³ 1986 instead of 2048. Measured:
 *             1.3 % faster than 8 at 8192³, but 2 % (4096³) and 6 % (2048x4096²)
 *             slower: two extra fix-ups a CTA (64 KB of fp32 stored, or loaded, a
 *             consumer group, with the tensor cores idle) cost ~10 us, more than the
 *             partial wave there. cuBLAS's times match total work / 132 SMs at all three.
 *   11-pingpong 8 with 64x256 tiles, the two consumer groups taking every other tile of
 *             the CTA's walk (each stage read by one group), so one group's epilogue and
 *             accumulator drain run while the other issues wgmma: at 64 k-tiles a tile
 *             (4096³, 2048x4096²) those cost ~4 % of 8's time with the tensor cores idle.
 *             The price: W is loaded once per 64 rows instead of 128 (40 KB a stage for
 *             half the math of 8's 48 KB). Measured (exp13, 2026-12-04): 5 % slower than
 *             8 at 4096³ (197.6 vs 187.8 us) and 6 % at 8192³ (1492.7 vs 1405.4): ncu at
 *             4096³ shows 2.68 GB moved from L2 into the SMs against 8's 1.61 GB, and
 *             DRAM reads 182 vs 146 MB; the tensor pipe was 83.2 vs 81.7 % active. A
 *             measured negative result, kept; hiding the epilogue this way needs W
 *             shared across CTAs (TMA multicast in a cluster) to pay.
 * CUDAPLUGIN_GEMM_BEST picks 6 on sm_90, else 3. The vendor row is cuBLASLt
 * (vendor_gemm_bf16, dlopen'ed at first use).
 *
 * Shapes: 0-3 take any M, N, K (bounds-checked; 3 needs K % 8 == 0 for
 * 16-byte copies); 4-6 need K % 8 == 0 (TMA strides are multiples of 16
 * bytes) and 16-byte aligned pointers; partial tiles are zero-filled by TMA
 * and masked in the epilogue.
 *
 * Sections: epilogue; 0-naive; 1-smem; 2-regs; 3-mma; 4/5-wgmma (PTX
 * helpers, tensor maps, kernel, configurations); cuBLASLt; entry points.
 */
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <cublasLt.h>

#include "kernels/kcommon.cuh"
#include "kernels/l2hint.cuh"
#include "kernels/wgmma_ops.cuh"

typedef __nv_bfloat16 bf16;

/* ---- epilogue ---------------------------------------------------------------- */

/* Exact GELU: 0.5·v·(1 + erf(v/√2)). */
__device__ __forceinline__ float gelu(float v) {
  return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

/* v + bias[n] (EPI_BIAS), then GELU (EPI_BIAS_GELU). */
__device__ __forceinline__ float epi_apply(float v, const bf16 *bias, int n, int epi) {
  if (epi >= CUDAPLUGIN_EPI_BIAS) v += __bfloat162float(bias[n]);
  if (epi == CUDAPLUGIN_EPI_BIAS_GELU) v = gelu(v);
  return v;
}

/* The biases of outputs n and n + 1 (0 past N or without a bias): the wgmma epilogues
   hold pairs of adjacent columns. */
__device__ __forceinline__ float2 bias_pair(const bf16 *bias, int n, int N, int epi) {
  float2 b = make_float2(0.0f, 0.0f);
  if (epi >= CUDAPLUGIN_EPI_BIAS) {
    b.x = n < N ? __bfloat162float(bias[n]) : 0.0f;
    b.y = n + 1 < N ? __bfloat162float(bias[n + 1]) : 0.0f;
  }
  return b;
}

/* ---- 0-naive ----------------------------------------------------------------- */

/* Block 32 (n) x 8 (m); each thread reads a row of A and a row of W: 2K loads per output. */
__global__ void gemm_naive(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N,
                           int K, int epi) {
  int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y * blockDim.y + threadIdx.y;
  if (m >= M || n >= N) return;
  const bf16 *a = A + (size_t)m * K, *w = W + (size_t)n * K;
  float acc = 0.0f;
  for (int k = 0; k < K; k++) acc += __bfloat162float(a[k]) * __bfloat162float(w[k]);
  C[(size_t)m * N + n] = __float2bfloat16(epi_apply(acc, bias, n, epi));
}

/* ---- 1-smem ------------------------------------------------------------------- */

/* 32x32 tile per 1024-thread block; K slices of 32 in shared memory (fp32, +1 pad: the
   W tile is read down a column, so the pad makes the 32 lanes hit 32 banks). */
__global__ void gemm_smem(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N,
                          int K, int epi) {
  __shared__ float sa[32][33], sw[32][33];
  int tx = threadIdx.x, ty = threadIdx.y;
  int m0 = blockIdx.y * 32, n0 = blockIdx.x * 32;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += 32) {
    int k = k0 + tx;
    sa[ty][tx] = (m0 + ty < M && k < K) ? __bfloat162float(A[(size_t)(m0 + ty) * K + k]) : 0.0f;
    sw[ty][tx] = (n0 + ty < N && k < K) ? __bfloat162float(W[(size_t)(n0 + ty) * K + k]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 32; kk++) acc += sa[ty][kk] * sw[tx][kk];
    __syncthreads();
  }
  if (m0 + ty < M && n0 + tx < N)
    C[(size_t)(m0 + ty) * N + n0 + tx] = __float2bfloat16(epi_apply(acc, bias, n0 + tx, epi));
}

/* ---- 2-regs ------------------------------------------------------------------- */

enum { R_BM = 128, R_BN = 128, R_BK = 16 };

/* Rows r0..r0+ROWS-1 of X (ld K), columns k0..k0+15, into s[k][r] as fp32 (transposed, so
   the compute loop reads 4 consecutive rows as one float4). One 8-element chunk per thread
   (the first 2 x ROWS threads). */
template <int ROWS>
__device__ __forceinline__ void regs_load(const bf16 *X, int rows, int K, int r0, int k0,
                                          float (*s)[R_BM + 4]) {
  int t = threadIdx.x, r = t >> 1, kc = (t & 1) * 8;
  if (r >= ROWS) return;
  float f[8];
  bool vec = ((K & 7) == 0) && r0 + r < rows && k0 + kc + 8 <= K;
  if (vec) {
    bf16x8_to_f32(*reinterpret_cast<const uint4 *>(X + (size_t)(r0 + r) * K + k0 + kc), f);
  } else {
#pragma unroll
    for (int i = 0; i < 8; i++) {
      int k = k0 + kc + i;
      f[i] = (r0 + r < rows && k < K) ? __bfloat162float(X[(size_t)(r0 + r) * K + k]) : 0.0f;
    }
  }
#pragma unroll
  for (int i = 0; i < 8; i++) s[kc + i][r] = f[i];
}

/* 256 threads as 16 x 16 over a (16 x RM) x 128 tile. RM 8 (128 rows): thread (ty, tx) owns
   rows {ty*4+i, 64+ty*4+i} and columns {tx*4+j, 64+tx*4+j}, the two halves keeping each
   warp's float4 reads conflict-free. RM 1 (16 rows, for M <= 16): row ty, the same columns;
   a warp's two rows are broadcast reads. Why RM 1: at M = 16 a 128-row tile computes 112
   rows of zero padding, and N / 128 CTAs (32 at N = 4096) each do 8x the work. */
template <int RM>
__device__ __forceinline__ int regs_row(int ty, int i) {
  if constexpr (RM == 8) return i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4;
  return ty * RM + i;
}

template <int RM>
__global__ void __launch_bounds__(256) gemm_regs(const bf16 *A, const bf16 *W, const bf16 *bias,
                                                 bf16 *C, int M, int N, int K, int epi) {
  static_assert(RM == 8 || RM == 1, "2-regs tiles: 128 or 16 rows");
  constexpr int BM = 16 * RM;
  __shared__ __align__(16) float sa[R_BK][R_BM + 4], sw[R_BK][R_BN + 4];
  int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  int m0 = blockIdx.y * BM, n0 = blockIdx.x * R_BN;
  float acc[RM][8] = {};
  for (int k0 = 0; k0 < K; k0 += R_BK) {
    regs_load<BM>(A, M, K, m0, k0, sa);
    regs_load<R_BN>(W, N, K, n0, k0, sw);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < R_BK; kk++) {
      float a[RM], b[8];
      if constexpr (RM == 8) {
        *reinterpret_cast<float4 *>(&a[0]) = *reinterpret_cast<const float4 *>(&sa[kk][ty * 4]);
        *reinterpret_cast<float4 *>(&a[4]) =
            *reinterpret_cast<const float4 *>(&sa[kk][64 + ty * 4]);
      } else {
        a[0] = sa[kk][ty];
      }
      *reinterpret_cast<float4 *>(&b[0]) = *reinterpret_cast<const float4 *>(&sw[kk][tx * 4]);
      *reinterpret_cast<float4 *>(&b[4]) = *reinterpret_cast<const float4 *>(&sw[kk][64 + tx * 4]);
#pragma unroll
      for (int i = 0; i < RM; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < RM; i++) {
    int m = m0 + regs_row<RM>(ty, i);
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; j++) {
      int n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      if (n < N) C[(size_t)m * N + n] = __float2bfloat16(epi_apply(acc[i][j], bias, n, epi));
    }
  }
}

/* ---- 3-mma -------------------------------------------------------------------- */

enum { M_BM = 128, M_BN = 128, M_BK = 32, M_STAGES = 3 };
/* One stage: A then W, each 128 rows x 32 bf16 = 64 bytes a row = four 16-byte chunks. */
enum { M_TILE_BYTES = M_BM * M_BK * 2, M_STAGE_BYTES = 2 * M_TILE_BYTES };

/* Byte offset of 16-byte chunk c of row r: chunks XOR-swizzled by (r >> 1) & 3, so the
   8 rows one ldmatrix phase reads land in 8 different 16-byte bank groups. */
__device__ __forceinline__ uint32_t mma_off(int r, int c) {
  return (uint32_t)(r * 64 + ((c ^ ((r >> 1) & 3)) << 4));
}

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}

/* cp.async of 16 bytes, zero-filled (src-size 0) when the chunk is outside the matrix. */
__device__ __forceinline__ void cp16(uint32_t dst, const void *src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(ok ? 16 : 0));
}

/* Stage of rows r0.. of X (ld K) at K offset k0: 128 rows x 4 chunks, two per thread. */
__device__ __forceinline__ void mma_load(const bf16 *X, int rows, int K, int r0, int k0,
                                         uint32_t s) {
#pragma unroll
  for (int i = 0; i < 2; i++) {
    int idx = threadIdx.x + i * 256, r = idx >> 2, c = idx & 3;
    int gr = r0 + r, gk = k0 + c * 8;
    bool ok = gr < rows && gk < K; /* K % 8 == 0, so a chunk is all in or all out */
    const bf16 *src = ok ? X + (size_t)gr * K + gk : X;
    cp16(s + mma_off(r, c), src, ok);
  }
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2,
                                        uint32_t &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* 8 warps as 2 (m) x 4 (n), each 64x32: 4 m16 x 4 n8 tiles, 64 accumulators a thread. */
__global__ void __launch_bounds__(256) gemm_mma(const bf16 *A, const bf16 *W, const bf16 *bias,
                                                bf16 *C, int M, int N, int K, int epi) {
  extern __shared__ __align__(128) uint8_t msmem[];
  uint32_t base = smem_u32(msmem);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
  int m0 = blockIdx.y * M_BM, n0 = blockIdx.x * M_BN;
  int ktiles = (K + M_BK - 1) / M_BK;
  float acc[4][4][4] = {};
  for (int s = 0; s < M_STAGES - 1; s++) {
    if (s < ktiles) {
      mma_load(A, M, K, m0, s * M_BK, base + s * M_STAGE_BYTES);
      mma_load(W, N, K, n0, s * M_BK, base + s * M_STAGE_BYTES + M_TILE_BYTES);
    }
    asm volatile("cp.async.commit_group;\n");
  }
  for (int kt = 0; kt < ktiles; kt++) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(M_STAGES - 2));
    __syncthreads(); /* stage kt is in; every warp is done with stage kt-1 */
    int nk = kt + M_STAGES - 1;
    if (nk < ktiles) {
      uint32_t s = base + (nk % M_STAGES) * M_STAGE_BYTES;
      mma_load(A, M, K, m0, nk * M_BK, s);
      mma_load(W, N, K, n0, nk * M_BK, s + M_TILE_BYTES);
    }
    asm volatile("cp.async.commit_group;\n");
    uint32_t sa = base + (kt % M_STAGES) * M_STAGE_BYTES, sw = sa + M_TILE_BYTES;
#pragma unroll
    for (int ks = 0; ks < M_BK / 16; ks++) {
      uint32_t af[4][4], bfr[4][2];
#pragma unroll
      for (int i = 0; i < 4; i++) /* lanes 0-15: rows 0-15 chunk 2ks; 16-31: chunk 2ks+1 */
        ldsm_x4(sa + mma_off(wm + i * 16 + (lane & 15), ks * 2 + (lane >> 4)), af[i][0], af[i][1],
                af[i][2], af[i][3]);
#pragma unroll
      for (int j = 0; j < 2; j++) { /* two n8 tiles per x4: (n0-7,k0), (n0-7,k8), (n8-15,..) */
        int r = wn + j * 16 + (lane & 7) + ((lane >> 4) << 3);
        ldsm_x4(sw + mma_off(r, ks * 2 + ((lane >> 3) & 1)), bfr[2 * j][0], bfr[2 * j][1],
                bfr[2 * j + 1][0], bfr[2 * j + 1][1]);
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) mma16816(acc[i][j], af[i], bfr[j][0], bfr[j][1]);
    }
  }
  asm volatile("cp.async.wait_group 0;\n");
  /* C fragment: c0,c1 at (row lane/4, cols 2(lane%4)+{0,1}); c2,c3 eight rows down. */
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        int m = m0 + wm + i * 16 + (lane >> 2) + h * 8, n = n0 + wn + j * 8 + (lane & 3) * 2;
        if (m >= M) continue;
        float v0 = epi_apply(acc[i][j][2 * h], bias, n, epi);
        bf16 *c = C + (size_t)m * N + n;
        if (n + 1 < N && (N & 1) == 0) {
          float v1 = epi_apply(acc[i][j][2 * h + 1], bias, n + 1, epi);
          *reinterpret_cast<__nv_bfloat162 *>(c) = __floats2bfloat162_rn(v0, v1);
        } else {
          if (n < N) c[0] = __float2bfloat16(v0);
          if (n + 1 < N) c[1] = __float2bfloat16(epi_apply(acc[i][j][2 * h + 1], bias, n + 1, epi));
        }
      }
}

/* ---- 4-6 wgmma: PTX helpers ---------------------------------------------------------- */

__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* Spin until the phase with this parity has completed. */
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity) {
  asm volatile(
      "{\n.reg .pred p;\nWAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
/* 2-D TMA copy of the box at (c0 = K offset, c1 = row) into shared memory, completing on bar. */
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, int c0, int c1,
                                            uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}
/* The same with an L2 cache policy (createpolicy), e.g. evict-first for data read once. */
__device__ __forceinline__ void tma_load_2d_hint(uint32_t dst, const CUtensorMap *map, int c0,
                                                 int c1, uint32_t bar, uint64_t pol) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      ".L2::cache_hint [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar), "l"(pol)
      : "memory");
}
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
template <int R>
__device__ __forceinline__ void reg_dealloc() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
#endif
}
template <int R>
__device__ __forceinline__ void reg_alloc() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
#endif
}

/* Matrix descriptor of a K-major tile written by TMA with the 128-byte swizzle: rows of
   128 bytes (64 bf16), 8-row groups 1024 bytes apart (SBO), swizzle mode 1 (128 B) in
   bits 62-63. The tile base must be 1024-byte aligned; a k-step of 16 elements inside
   the 64-wide row is +32 bytes of start address, i.e. +2 in the >>4 field. */
__device__ __forceinline__ uint64_t wg_desc(uint32_t saddr) {
  return (uint64_t)((saddr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
         ((uint64_t)1 << 62);
}

template <int BN>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], uint64_t da, uint64_t db, int sc) {
  if constexpr (BN == 16) wgmma_m64n16k16(d, da, db, sc);
  if constexpr (BN == 256) wgmma_m64n256k16(d, da, db, sc);
  if constexpr (BN == 128) wgmma_m64n128k16(d, da, db, sc);
  if constexpr (BN == 64) wgmma_m64n64k16(d, da, db, sc);
  if constexpr (BN == 32) wgmma_m64n32k16(d, da, db, sc);
}

/* ---- 4-6 wgmma: the kernel --------------------------------------------------------- */

enum { WG_BK = 64, WG_GROUP_M = 16 };

template <int BN, int NCONS, int STAGES, bool TSTORE = false, bool PP = false>
struct wg_cfg {
  /* PP (11-pingpong): 64-row tiles, each consumer group owning every other one */
  static constexpr int BM = PP ? 64 : 64 * NCONS;
  static constexpr int A_BYTES = BM * WG_BK * 2, B_BYTES = BN * WG_BK * 2;
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int THREADS = 128 * (NCONS + 1);
  /* 8-tmastore: per consumer group a 64 x EPI_COLS bf16 buffer, boxes of 64 x 64 */
  static constexpr int EPI_COLS = BN < 128 ? BN : 128;
  static constexpr int EPI_BYTES = TSTORE ? NCONS * 64 * EPI_COLS * 2 : 0;
  /* stages, the epilogue buffers, then 2·STAGES mbarriers, plus 1 KB to align the base */
  static constexpr int BARS = STAGES * STAGE_BYTES + EPI_BYTES;
  static constexpr int SMEM = BARS + 2 * STAGES * 8 + 1024;
  static_assert(!TSTORE || BN % 64 == 0, "TMA store boxes are 64 columns wide");
  static_assert(!PP || NCONS == 2, "11-pingpong's groups take turns in twos");
};

/* Tile t of the persistent walk -> (tile row, tile column): groups of WG_GROUP_M tile rows,
   column by column inside a group, so the ~132 tiles in flight share A rows and W rows. */
__device__ __forceinline__ void wg_tile_coords(int t, int tiles_m, int tiles_n, int *tm, int *tn) {
  int per_group = WG_GROUP_M * tiles_n, g = t / per_group, first = g * WG_GROUP_M;
  int rows = min(WG_GROUP_M, tiles_m - first), in = t % per_group;
  *tm = first + in % rows;
  *tn = in / rows;
}

/* Accumulator d[i] of a consumer group (64 x BN): n8 block j = i/4, r = i%4; row
   16·warp + lane/4 + 8·(r/2), column 8j + 2·(lane%4) + r%2 (wgmma's D layout). */
template <int BN>
__device__ __forceinline__ void wg_store(const float (&d)[BN / 2], const bf16 *bias, bf16 *C, int M,
                                         int N, int m0, int n0, int epi) {
  int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
  bool pairs = (N & 1) == 0;
#pragma unroll
  for (int j = 0; j < BN / 8; j++) {
    int n = n0 + j * 8 + (lane & 3) * 2;
    float2 b = bias_pair(bias, n, N, epi);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      int m = m0 + warp * 16 + (lane >> 2) + h * 8;
      if (m >= M || n >= N) continue;
      float v0 = d[j * 4 + 2 * h] + b.x, v1 = d[j * 4 + 2 * h + 1] + b.y;
      if (epi == CUDAPLUGIN_EPI_BIAS_GELU) v0 = gelu(v0), v1 = gelu(v1);
      bf16 *c = C + (size_t)m * N + n;
      if (pairs && n + 1 < N)
        *reinterpret_cast<__nv_bfloat162 *>(c) = __floats2bfloat162_rn(v0, v1);
      else {
        c[0] = __float2bfloat16(v0);
        if (n + 1 < N) c[1] = __float2bfloat16(v1);
      }
    }
  }
}

/* ---- 8-tmastore: the epilogue through shared memory and TMA stores ---- */

__device__ __forceinline__ void tma_store_2d(const CUtensorMap *map, uint32_t src, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
          reinterpret_cast<uint64_t>(map)),
      "r"(c0), "r"(c1), "r"(src)
      : "memory");
}
__device__ __forceinline__ void bulk_commit() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}
/* This thread's bulk stores have finished reading shared memory (the buffer is free). */
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}
__device__ __forceinline__ void bulk_wait_all() {
  asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}
/* The 128 threads of one consumer warp group (named barrier id 1 + group). */
__device__ __forceinline__ void group_sync(int c) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(1 + c) : "memory");
}

/* 11-pingpong's turns (named barriers 3, 4 of 256 threads): group c waits for its turn,
   which the other group hands over with an arrive once its main loop has seen every stage
   of its tile. Why it is needed beyond the order of the ring: an mbarrier parity wait
   cannot tell a phase from the one two phases on, so a group must not wait on a stage's
   fill while the previous fill of that stage (in the other group's tile) is still open. */
__device__ __forceinline__ void turn_wait(int c) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(3 + c) : "memory");
}
__device__ __forceinline__ void turn_give(int c) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(3 + c) : "memory");
}

/*
 * A consumer group's 64 x BN accumulators -> bias/GELU -> bf16 into its shared buffer in
 * the 128-byte-swizzled layout of 64 x 64 TMA boxes (16-byte chunk q of row r at
 * q ^ (r % 8): a warp's 8 rows x 4 lanes land in 32 different banks), EPI_COLS columns
 * at a time; one thread then issues the TMA stores, which clip rows and columns outside
 * C. The group returns to the mainloop at once; the stores drain in the background and
 * the buffer is reused only after they have read it.
 */
template <int BN, int EPI_COLS>
__device__ __forceinline__ void wg_store_tma(const float (&d)[BN / 2], const bf16 *bias,
                                             const CUtensorMap *tmC, uint32_t buf, int c, int N,
                                             int m0, int n0, int epi) {
  int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
#pragma unroll
  for (int h = 0; h < BN / EPI_COLS; h++) {
    if (t == 0) bulk_wait_read();
    group_sync(c);
#pragma unroll
    for (int j = 0; j < EPI_COLS / 8; j++) {
      int jj = h * (EPI_COLS / 8) + j, n = n0 + jj * 8 + (lane & 3) * 2;
      float2 b = bias_pair(bias, n, N, epi);
#pragma unroll
      for (int hh = 0; hh < 2; hh++) {
        int r = warp * 16 + (lane >> 2) + hh * 8;
        float v0 = d[jj * 4 + 2 * hh] + b.x, v1 = d[jj * 4 + 2 * hh + 1] + b.y;
        if (epi == CUDAPLUGIN_EPI_BIAS_GELU) v0 = gelu(v0), v1 = gelu(v1);
        __nv_bfloat162 p = __floats2bfloat162_rn(v0, v1);
        uint32_t a = buf + (j / 8) * 8192 + r * 128 + (((j % 8) ^ (r % 8)) << 4) + (lane & 3) * 4;
        asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(a), "r"(*reinterpret_cast<uint32_t *>(&p))
                     : "memory");
      }
    }
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    group_sync(c);
    if (t == 0) {
#pragma unroll
      for (int b = 0; b < EPI_COLS / 64; b++)
        tma_store_2d(tmC, buf + b * 8192, n0 + h * EPI_COLS + b * 64, m0);
      bulk_commit();
    }
  }
}

/* ---- 10-streamk: the last partial wave split by k-tiles ---- */

/*
 * 10-streamk's split (Osama et al., "Stream-K", PPoPP 2023, in its data-parallel + one
 * stream-K wave form): the first dp_tiles = (tiles / G) · G tiles go whole to the G CTAs
 * as in 4-8; the k-tiles ("iterations") of the remaining tiles, sk_iters in all, are cut
 * into G contiguous ranges, CTA c taking [c·sk_iters/G, (c+1)·sk_iters/G). A range may
 * start or end inside a tile: the CTA whose piece holds the tile's last k-tile finishes
 * it (adds the others' partial sums and writes C), the others (contributors) leave their
 * fp32 accumulators in a global workspace slot and raise a flag. No SM idles in a
 * partial last wave, which is what cuBLAS's times at 4096³ (3.88 waves of 128x256 tiles)
 * and 2048x4096² (1.94) show it avoids. ws == NULL: no stream-K part (variants 4-8).
 */
struct wg_sk {
  float4 *ws;   /* per (CTA, consumer group): 32 float4 a thread, thread-minor */
  int *flags;   /* per (CTA, consumer group): 1 = partial written; the finisher resets it to 0 */
  int dp_tiles; /* tiles done whole; tiles past it are split */
  long long sk_iters;
};

/* CTA c's first stream-K iteration. */
__device__ __forceinline__ long long sk_begin(const wg_sk &sk, int c) {
  return (long long)c * sk.sk_iters / gridDim.x;
}

/*
 * One CTA's work as units (tile, k-tiles [kb, ke)), the same sequence for the producer
 * and the consumers: the whole tiles first (every CTA has the same number, so all reach
 * the stream-K part together), then the stream-K range walked backwards by tile, so that
 * a CTA's contributing piece (the head of a tile, at the end of its range) comes before
 * anything that waits: a finisher waits only on lower CTAs' first stream-K units, which
 * wait on nothing, so there is no cycle (and the launch is cooperative, so every CTA is
 * resident). Measured (exp12, docs/kernels.md): the stream-K part first instead cost
 * 3.5 % at 8192³, where its pieces ran beside no other work; the cooperative launch and
 * the fence before the flag cost nothing measurable.
 */
struct wg_walk {
  long long b, pos; /* stream-K iterations [b, pos) still to walk */
  int t, step, ntiles, ktiles, dp_tiles;
  /* skip, of: this CTA's whole tiles number skip, skip + of, skip + 2·of, ... only
     (11-pingpong's consumer groups; no stream-K part then) */
  __device__ wg_walk(const wg_sk &sk, int ntiles_, int ktiles_, int skip = 0, int of = 1)
      : b(0),
        pos(0),
        t(blockIdx.x + skip * gridDim.x),
        step(of * gridDim.x),
        ntiles(ntiles_),
        ktiles(ktiles_),
        dp_tiles(ntiles_) {
    if (sk.ws) {
      b = sk_begin(sk, blockIdx.x), pos = sk_begin(sk, blockIdx.x + 1);
      dp_tiles = sk.dp_tiles;
    }
  }
  __device__ __forceinline__ bool next(int *tile, int *kb, int *ke) {
    if (t < dp_tiles) {
      *tile = t, *kb = 0, *ke = ktiles;
      t += step;
      return true;
    }
    if (pos <= b) return false;
    long long last = pos - 1, ts = last / ktiles * ktiles, s = b > ts ? b : ts;
    *tile = dp_tiles + (int)(last / ktiles), *kb = (int)(s - ts), *ke = (int)(pos - ts);
    pos = s;
    return true;
  }
};

__device__ __forceinline__ void flag_release(int *f, int v) {
  asm volatile("st.release.gpu.global.s32 [%0], %1;\n" ::"l"(f), "r"(v) : "memory");
}
__device__ __forceinline__ int flag_acquire(const int *f) {
  int v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];\n" : "=r"(v) : "l"(f) : "memory");
  return v;
}

/* A contributor's accumulators -> its workspace slot (stores that stay in L2), then the
   flag, released after the whole group's stores (each thread's fence, the group barrier). */
template <int BN, int NCONS>
__device__ __forceinline__ void sk_put(const float (&d)[BN / 2], const wg_sk &sk, int c) {
  int t = threadIdx.x % 128, slot = blockIdx.x * NCONS + c;
  float4 *w = sk.ws + (size_t)slot * (BN / 8) * 128 + t;
#pragma unroll
  for (int j = 0; j < BN / 8; j++)
    __stcg(w + j * 128, make_float4(d[4 * j], d[4 * j + 1], d[4 * j + 2], d[4 * j + 3]));
  __threadfence();
  group_sync(c);
  if (t == 0) flag_release(sk.flags + slot, 1);
}

/* A finisher of a tile whose piece starts at stream-K iteration s (> the tile's start ts):
   the partials of CTAs blockIdx.x - 1, -2, ... down to the one holding ts, added in. */
template <int BN, int NCONS>
__device__ __forceinline__ void sk_gather(float (&d)[BN / 2], const wg_sk &sk, int c,
                                          long long ts) {
  int t = threadIdx.x % 128;
  for (int o = blockIdx.x - 1; o >= 0; o--) {
    if (sk_begin(sk, o) == sk_begin(sk, o + 1)) continue; /* an empty range (sk_iters < G) */
    int slot = o * NCONS + c;
    if (t == 0) {
      while (flag_acquire(sk.flags + slot) != 1) {
      }
      sk.flags[slot] = 0; /* consumed: the next launch starts from 0 (graph replays too) */
    }
    group_sync(c);
    const float4 *w = sk.ws + (size_t)slot * (BN / 8) * 128 + t;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
      float4 v = __ldcg(w + j * 128);
      d[4 * j] += v.x, d[4 * j + 1] += v.y, d[4 * j + 2] += v.z, d[4 * j + 3] += v.w;
    }
    if (sk_begin(sk, o) <= ts) break;
  }
}

/*
 * Warp group 0 produces (one thread issues TMA copies for every (tile, k-tile) of this
 * CTA's walk into the stage ring), warp groups 1..NCONS consume: each waits for a full
 * stage, issues 4 wgmma k16 steps on its 64 rows, waits for them, and frees the stage
 * (the empty barrier counts one arrival per consumer group). Both sides walk the same
 * (stage, phase) sequence, so no other coordination is needed.
 */
template <int BN, int NCONS, int STAGES, bool OVERLAP, bool TSTORE = false, bool PP = false>
__global__ void __launch_bounds__(wg_cfg<BN, NCONS, STAGES, TSTORE, PP>::THREADS, 1)
    gemm_wgmma(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmW,
               const __grid_constant__ CUtensorMap tmC, const bf16 *bias, bf16 *C, int M, int N,
               int K, int epi, int whint, const wg_sk sk) {
  using cfg = wg_cfg<BN, NCONS, STAGES, TSTORE, PP>;
  extern __shared__ uint8_t wsmem[];
  uint32_t base = (smem_u32(wsmem) + 1023) & ~1023u;
  uint32_t full = base + cfg::BARS, empty = full + STAGES * 8;
  int wg = threadIdx.x / 128;
  int tiles_m = (M + cfg::BM - 1) / cfg::BM, tiles_n = (N + BN - 1) / BN;
  int ntiles = tiles_m * tiles_n, ktiles = (K + WG_BK - 1) / WG_BK;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; s++) {
      mbar_init(full + 8 * s, 1);
      mbar_init(empty + 8 * s, PP ? 1 : NCONS); /* PP: one group reads each stage */
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    if constexpr (NCONS == 2) reg_dealloc<40>(); /* one CTA of 384 threads: give 128 x 128 back */
    if (threadIdx.x == 0) {
      int stage = 0, phase = 0;
      uint64_t pol = l2_evict_first();
      wg_walk walk(sk, ntiles, ktiles);
      for (int t, kb, ke; walk.next(&t, &kb, &ke);) {
        int tm, tn;
        wg_tile_coords(t, tiles_m, tiles_n, &tm, &tn);
        for (int kt = kb; kt < ke; kt++) {
          mbar_wait(empty + 8 * stage, phase ^ 1);
          uint32_t sa = base + stage * cfg::STAGE_BYTES, bar = full + 8 * stage;
          mbar_expect_tx(bar, cfg::STAGE_BYTES);
          tma_load_2d(sa, &tmA, kt * WG_BK, tm * cfg::BM, bar);
          if (whint)
            tma_load_2d_hint(sa + cfg::A_BYTES, &tmW, kt * WG_BK, tn * BN, bar, pol);
          else
            tma_load_2d(sa + cfg::A_BYTES, &tmW, kt * WG_BK, tn * BN, bar);
          if (++stage == STAGES) stage = 0, phase ^= 1;
        }
      }
    }
  } else {
    if constexpr (NCONS == 2) reg_alloc<232>();
    int c = wg - 1, stage = 0, phase = 0, prev = 0;
    float d[BN / 2] = {};
    /* PP: group c takes the CTA's tiles c, c + 2, ...; it steps over the stages of the
       other group's tiles (ktiles each, no stream-K here) before its first and after
       each of its own */
    auto pass = [&] {
      stage += ktiles % STAGES, phase ^= (ktiles / STAGES) & 1;
      if (stage >= STAGES) stage -= STAGES, phase ^= 1;
    };
    if (PP && c == 1) pass();
    /* PP has no stream-K part: a constant empty split lets the compiler drop it */
    wg_walk walk(PP ? wg_sk{NULL, NULL, ntiles, 0} : sk, ntiles, ktiles, PP ? c : 0,
                 PP ? NCONS : 1);
    for (int t, kb, ke; walk.next(&t, &kb, &ke);) {
      int tm, tn;
      wg_tile_coords(t, tiles_m, tiles_n, &tm, &tn);
      if (PP && t >= (int)gridDim.x) turn_wait(c); /* not the CTA's first tile */
      for (int kt = kb; kt < ke; kt++) {
        mbar_wait(full + 8 * stage, phase);
        uint32_t sa = base + stage * cfg::STAGE_BYTES + (PP ? 0 : c * (64 * WG_BK * 2));
        uint64_t da = wg_desc(sa), db = wg_desc(base + stage * cfg::STAGE_BYTES + cfg::A_BYTES);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < WG_BK / 16; kk++)
          wgmma_tile<BN>(d, da + 2 * kk, db + 2 * kk, kt != kb || kk != 0);
        wgmma_commit();
        if constexpr (OVERLAP) {
          /* k-tile kt-1 is done once at most one group (kt's) is pending: free its stage */
          wgmma_wait<1>();
          if (kt > kb && threadIdx.x % 128 == 0) mbar_arrive(empty + 8 * prev);
          prev = stage;
        } else {
          wgmma_wait<0>();
          if (threadIdx.x % 128 == 0) mbar_arrive(empty + 8 * stage);
        }
        if (++stage == STAGES) stage = 0, phase ^= 1;
      }
      /* the CTA's next tile is the other group's: its main loop may start under this
         group's drain and epilogue */
      if (PP && t + (int)gridDim.x < ntiles) turn_give(1 - c);
      if constexpr (OVERLAP) {
        wgmma_wait<0>();
        if (threadIdx.x % 128 == 0) mbar_arrive(empty + 8 * prev);
      }
      if (ke < ktiles) { /* a stream-K piece without the tile's end: hand it over */
        sk_put<BN, NCONS>(d, sk, c);
        continue;
      }
      if (kb > 0) sk_gather<BN, NCONS>(d, sk, c, (long long)(t - sk.dp_tiles) * ktiles);
      if constexpr (TSTORE)
        wg_store_tma<BN, cfg::EPI_COLS>(
            d, bias, &tmC, base + STAGES * cfg::STAGE_BYTES + c * (64 * cfg::EPI_COLS * 2), c, N,
            tm * cfg::BM + (PP ? 0 : c * 64), tn * BN, epi);
      else
        wg_store<BN>(d, bias, C, M, N, tm * cfg::BM + (PP ? 0 : c * 64), tn * BN, epi);
      if (PP) pass();
    }
    if constexpr (TSTORE)
      if (threadIdx.x % 128 == 0) bulk_wait_all(); /* the buffer lives until the stores are done */
  }
}

/* ---- 7-splitk: skinny M, swapped operands, K split over a cluster -------------------- */

/*
 * For M <= 128 the work is streaming W (N x K) once; a 128 x 256 output tile would
 * leave most SMs idle and waste the tensor cores on zero rows. So the roles swap:
 * Cᵀ = W · Aᵀ, with 64 rows of W as wgmma's M side and all of A's (padded) MN rows
 * as its N side (m64nMNk16, MN = 16..128, nothing wasted at M = 16). A CTA owns
 * BW = 64·NCONS rows of W and one K range; the S CTAs of a cluster split K, so
 * tiles·S CTAs stream W at once (~one per SM). At the end each CTA leaves its fp32
 * partial tile in its own shared memory and, after a cluster barrier, sums a 1/S
 * slice of the tile over the cluster's shared memories (DSMEM), applies bias/GELU
 * and writes C: no global workspace, so concurrent launches on several streams
 * stay independent.
 */
template <int BW, int MN, int STAGES>
struct sk_cfg {
  static constexpr int NCONS = BW / 64;
  static constexpr int W_BYTES = BW * WG_BK * 2, A_BYTES = MN * WG_BK * 2;
  static constexpr int STAGE_BYTES = W_BYTES + A_BYTES;
  static constexpr int THREADS = 128 * (NCONS + 1);
  static constexpr int PSTRIDE = BW + 4; /* floats a partial row (one m): the pad spreads banks */
  static constexpr int SMEM = STAGES * STAGE_BYTES + 2 * STAGES * 8 + 1024;
  static_assert(MN * PSTRIDE * 4 <= STAGES * STAGE_BYTES, "the partial tile reuses the stages");
};

__device__ __forceinline__ uint32_t cluster_rank(void) {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ uint32_t cluster_size(void) {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(r));
  return r;
}
/* Every thread of every CTA of the cluster; release/acquire orders the shared stores. Not
   .aligned: the producer warp arrives here diverged (one thread ran the copy loop). */
__device__ __forceinline__ void cluster_sync_all(void) {
  asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
/* The address of this CTA's shared address a in CTA rank's shared memory. */
__device__ __forceinline__ uint32_t dsmem_map(uint32_t a, uint32_t rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(a), "r"(rank));
  return r;
}
__device__ __forceinline__ float4 dsmem_ld4(uint32_t a) {
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(a)
               : "memory");
  return v;
}

/* Partial sums of this CTA's k range: the producer streams (W box, A box) stages, the
   consumers accumulate d (wgmma D: row = W row, column = m). */
template <int BW, int MN, int STAGES>
__device__ __forceinline__ void sk_mainloop(const CUtensorMap *tmA, const CUtensorMap *tmW,
                                            uint32_t base, int n0, int m0, int kt0, int kt1,
                                            float (&d)[MN / 2]) {
  using cfg = sk_cfg<BW, MN, STAGES>;
  uint32_t full = base + STAGES * cfg::STAGE_BYTES, empty = full + STAGES * 8;
  int wg = threadIdx.x / 128, stage = 0, phase = 0, prev = 0;
  if (wg == 0) {
    if (threadIdx.x != 0) return;
    /* W is read once: evict-first keeps it from pushing out what else L2 holds (in the
       harness, the flush's dirty lines, whose write-back cost 6-8 % at M = 16) */
    uint64_t pol = l2_evict_first();
    for (int kt = kt0; kt < kt1; kt++) {
      mbar_wait(empty + 8 * stage, phase ^ 1);
      uint32_t s = base + stage * cfg::STAGE_BYTES, bar = full + 8 * stage;
      mbar_expect_tx(bar, cfg::STAGE_BYTES);
      tma_load_2d_hint(s, tmW, kt * WG_BK, n0, bar, pol);
      tma_load_2d(s + cfg::W_BYTES, tmA, kt * WG_BK, m0, bar);
      if (++stage == STAGES) stage = 0, phase ^= 1;
    }
    return;
  }
  int c = wg - 1;
  for (int kt = kt0; kt < kt1; kt++) {
    mbar_wait(full + 8 * stage, phase);
    uint32_t s = base + stage * cfg::STAGE_BYTES;
    uint64_t dw = wg_desc(s + c * (64 * WG_BK * 2)), da = wg_desc(s + cfg::W_BYTES);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < WG_BK / 16; kk++)
      wgmma_tile<MN>(d, dw + 2 * kk, da + 2 * kk, (kt > kt0 || kk) ? 1 : 0);
    wgmma_commit();
    wgmma_wait<1>();
    if (kt > kt0 && threadIdx.x % 128 == 0) mbar_arrive(empty + 8 * prev);
    prev = stage;
    if (++stage == STAGES) stage = 0, phase ^= 1;
  }
  wgmma_wait<0>();
}

/* Sum the cluster's partials for W rows [r0, r1) of the tile, 4 at a time, add the epilogue
   and store C[m][n0 + r]. */
template <int BW, int MN>
__device__ __forceinline__ void sk_reduce(uint32_t part, int S, int r0, int r1, const bf16 *bias,
                                          bf16 *C, int M, int N, int m0, int n0, int epi) {
  constexpr int PS = BW + 4;
  int quads = (r1 - r0) / 4, rows = min(MN, M - m0);
  bool vec = (N & 3) == 0 && ((uintptr_t)C & 7) == 0;
  for (int i = threadIdx.x; i < quads * rows; i += blockDim.x) {
    int m = i / quads, r = r0 + 4 * (i % quads);
    uint32_t off = part + (uint32_t)(m * PS + r) * 4;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int q = 0; q < S; q++) {
      float4 v = dsmem_ld4(dsmem_map(off, (uint32_t)q));
      acc.x += v.x, acc.y += v.y, acc.z += v.z, acc.w += v.w;
    }
    float o[4] = {acc.x, acc.y, acc.z, acc.w};
    int n = n0 + r;
    bf16 *c = C + (size_t)(m0 + m) * N + n;
    if (vec && n + 3 < N) {
      __nv_bfloat162 lo =
          __floats2bfloat162_rn(epi_apply(o[0], bias, n, epi), epi_apply(o[1], bias, n + 1, epi));
      __nv_bfloat162 hi = __floats2bfloat162_rn(epi_apply(o[2], bias, n + 2, epi),
                                                epi_apply(o[3], bias, n + 3, epi));
      uint2 u;
      u.x = *reinterpret_cast<uint32_t *>(&lo), u.y = *reinterpret_cast<uint32_t *>(&hi);
      *reinterpret_cast<uint2 *>(c) = u;
    } else {
      for (int e = 0; e < 4; e++)
        if (n + e < N) c[e] = __float2bfloat16(epi_apply(o[e], bias, n + e, epi));
    }
  }
}

/* Grid (tiles_n · S, tiles_m), clusters of S along x: CTA rank s of tile blockIdx.x / S
   takes k-tiles [s·KT/S, (s+1)·KT/S). */
template <int BW, int MN, int STAGES>
__global__ void __launch_bounds__(sk_cfg<BW, MN, STAGES>::THREADS, 1)
    gemm_splitk(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmW,
                const bf16 *bias, bf16 *C, int M, int N, int K, int epi) {
  using cfg = sk_cfg<BW, MN, STAGES>;
  extern __shared__ uint8_t wsmem[];
  uint32_t base = (smem_u32(wsmem) + 1023) & ~1023u;
  uint32_t full = base + STAGES * cfg::STAGE_BYTES, empty = full + STAGES * 8;
  int S = (int)cluster_size(), s = (int)cluster_rank();
  int n0 = (blockIdx.x / S) * BW, m0 = blockIdx.y * MN, KT = (K + WG_BK - 1) / WG_BK;
  if (threadIdx.x == 0) {
    for (int i = 0; i < STAGES; i++) {
      mbar_init(full + 8 * i, 1);
      mbar_init(empty + 8 * i, cfg::NCONS);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  float d[MN / 2] = {};
  sk_mainloop<BW, MN, STAGES>(&tmA, &tmW, base, n0, m0, s * KT / S, (s + 1) * KT / S, d);
  __syncthreads(); /* every consumer's wgmma has read its stages: reuse them for the partial */
  int wg = threadIdx.x / 128;
  if (wg > 0) {
    int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
    float *p = reinterpret_cast<float *>(wsmem + (base - smem_u32(wsmem)));
#pragma unroll
    for (int i = 0; i < MN / 2; i++) {
      int r = (wg - 1) * 64 + warp * 16 + lane / 4 + 8 * ((i % 4) / 2);
      int m = 8 * (i / 4) + 2 * (lane % 4) + (i % 2);
      p[m * cfg::PSTRIDE + r] = d[i];
    }
  }
  cluster_sync_all(); /* all partials written */
  int per = BW / S;   /* S divides BW (both powers of two, S <= 8) */
  sk_reduce<BW, MN>(base, S, s * per, (s + 1) * per, bias, C, M, N, m0, n0, epi);
  cluster_sync_all(); /* no CTA leaves while another reads its shared memory */
}

/* ---- 4-6 wgmma: tensor maps and launch ------------------------------------------------ */

static PFN_cuTensorMapEncodeTiled_v12000 encode_tiled;
static pthread_once_t encode_once = PTHREAD_ONCE_INIT;
static void encode_resolve(void) {
  void *fn = NULL;
  cudaDriverEntryPointQueryResult q;
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                       &q) == cudaSuccess &&
      q == cudaDriverEntryPointSuccess)
    encode_tiled = (PFN_cuTensorMapEncodeTiled_v12000)fn;
  cudaGetLastError();
}

/* A small cache of tensor maps (encoding costs host microseconds, which a short kernel
   would otherwise wait for): keyed on pointer, shape and box. */
struct tmap_entry {
  const void *ptr;
  int rows, cols, box_rows;
  CUtensorMap map;
};
enum { TMAP_CACHE = 32 };
static struct tmap_entry tmap_cache[TMAP_CACHE];
static int tmap_next;
static pthread_mutex_t tmap_lock = PTHREAD_MUTEX_INITIALIZER;

/* rows x cols bf16, row-major (cols = K, contiguous); boxes of box_rows x 64 with the
   128-byte swizzle wgmma's descriptors expect; out-of-range elements read as zero. */
static int tmap_get(const void *ptr, int rows, int cols, int box_rows, CUtensorMap *out,
                    char *errbuf, size_t errlen) {
  pthread_once(&encode_once, encode_resolve);
  if (!encode_tiled)
    return KUNSUP(errbuf, errlen, "gemm: cuTensorMapEncodeTiled is not in this driver");
  pthread_mutex_lock(&tmap_lock);
  for (int i = 0; i < TMAP_CACHE; i++) {
    struct tmap_entry *e = &tmap_cache[i];
    if (e->ptr == ptr && e->rows == rows && e->cols == cols && e->box_rows == box_rows) {
      *out = e->map;
      pthread_mutex_unlock(&tmap_lock);
      return 0;
    }
  }
  cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows};
  cuuint64_t strides[1] = {(cuuint64_t)cols * 2};
  cuuint32_t box[2] = {WG_BK, (cuuint32_t)box_rows}, estr[2] = {1, 1};
  CUresult r =
      encode_tiled(out, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(ptr), dims, strides,
                   box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r == CUDA_SUCCESS) {
    struct tmap_entry *e = &tmap_cache[tmap_next];
    tmap_next = (tmap_next + 1) % TMAP_CACHE;
    e->ptr = ptr, e->rows = rows, e->cols = cols, e->box_rows = box_rows, e->map = *out;
  }
  pthread_mutex_unlock(&tmap_lock);
  if (r != CUDA_SUCCESS)
    return KBAD(errbuf, errlen, "gemm: cuTensorMapEncodeTiled failed (CUresult %d) for %dx%d",
                (int)r, rows, cols);
  return 0;
}

static int sm_count(void) {
  static int n;
  if (!n) {
    int dev = 0;
    cudaGetDevice(&dev);
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) n = 1;
  }
  return n;
}

/*
 * 10-streamk's workspace, one per (device, stream): launches on one stream run in order and
 * can share it, two streams must not. Grown on demand; the flags are zeroed when it is
 * allocated and every finisher resets the flags it consumed, so each launch (a graph
 * replay too) finds them at 0. Kept for the process's life, as cuBLASLt's workspace is.
 * NULL when all slots belong to other streams: the caller then runs without stream-K.
 */
struct sk_space {
  int dev;
  cudaStream_t st;
  uint8_t *p;
  size_t bytes;
};
enum { SK_SPACES = 8 };
static struct sk_space sk_spaces[SK_SPACES];
static pthread_mutex_t sk_lock = PTHREAD_MUTEX_INITIALIZER;

static uint8_t *sk_workspace(cudaStream_t st, size_t bytes, size_t flag_bytes) {
  int dev = 0;
  cudaGetDevice(&dev);
  /* cudaMalloc would invalidate a stream capture: while capturing, only a workspace that
     already exists is used */
  cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(st, &cap) != cudaSuccess) cudaGetLastError();
  bool capturing = cap != cudaStreamCaptureStatusNone;
  pthread_mutex_lock(&sk_lock);
  struct sk_space *e = NULL;
  for (int i = 0; i < SK_SPACES && !e; i++)
    if (sk_spaces[i].p && sk_spaces[i].dev == dev && sk_spaces[i].st == st) e = &sk_spaces[i];
  for (int i = 0; i < SK_SPACES && !e; i++)
    if (!sk_spaces[i].p) e = &sk_spaces[i];
  uint8_t *p = NULL;
  if (e && capturing && (!e->p || e->bytes < bytes + flag_bytes)) e = NULL;
  if (e && e->p && e->bytes < bytes + flag_bytes) {
    cudaFree(e->p); /* synchronizes: the old one is no longer in use */
    e->p = NULL;
  }
  if (e && !e->p && cudaMalloc(&e->p, bytes + flag_bytes) == cudaSuccess) {
    e->dev = dev, e->st = st, e->bytes = bytes + flag_bytes;
    cudaMemsetAsync(e->p, 0, e->bytes, st);
  } else if (e && !e->p) {
    cudaGetLastError(); /* out of memory: run without stream-K */
  }
  if (e) p = e->p;
  pthread_mutex_unlock(&sk_lock);
  return p;
}

/* The stream-K split for G CTAs (none when the tiles fill whole waves or no workspace). */
template <int BN, int NCONS>
static wg_sk sk_plan(int tiles, int ktiles, int G, cudaStream_t st) {
  wg_sk sk = {NULL, NULL, tiles, 0};
  if (tiles % G == 0) return sk;
  size_t ws = (size_t)G * NCONS * 64 * BN * sizeof(float), fl = (size_t)G * NCONS * sizeof(int);
  uint8_t *p = sk_workspace(st, ws, fl);
  if (!p) return sk;
  sk.ws = reinterpret_cast<float4 *>(p), sk.flags = reinterpret_cast<int *>(p + ws);
  sk.dp_tiles = tiles / G * G, sk.sk_iters = (long long)(tiles - sk.dp_tiles) * ktiles;
  return sk;
}

/* whint: stream W evict-first (the skinny tiles, which read each W tile once); streamk:
   10-streamk's split of the last partial wave. */
template <int BN, int NCONS, int STAGES, bool OVERLAP = true, bool TSTORE = false, bool PP = false>
static int wgmma_launch(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N,
                        int K, int epi, cudaStream_t st, char *errbuf, size_t errlen, int whint = 0,
                        bool streamk = false) {
  using cfg = wg_cfg<BN, NCONS, STAGES, TSTORE, PP>;
  CUtensorMap ta, tw, tc;
  int rc = tmap_get(A, M, K, cfg::BM, &ta, errbuf, errlen);
  if (!rc) rc = tmap_get(W, N, K, BN, &tw, errbuf, errlen);
  /* C's map: N columns (the TMA's inner dimension) in boxes of 64 x 64, swizzled like the
     buffer; only encoded when used (needs N % 8 == 0, checked by the caller) */
  if (!rc && TSTORE) rc = tmap_get(C, M, N, 64, &tc, errbuf, errlen);
  if (!TSTORE) tc = tw;
  if (rc) return rc;
  auto kern = gemm_wgmma<BN, NCONS, STAGES, OVERLAP, TSTORE, PP>;
  static bool attr_set; /* per instantiation */
  if (!attr_set) {
    cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, cfg::SMEM);
    attr_set = true;
  }
  int tiles = ((M + cfg::BM - 1) / cfg::BM) * ((N + BN - 1) / BN);
  int grid = tiles < sm_count() ? tiles : sm_count();
  wg_sk sk = {NULL, NULL, tiles, 0};
  if (streamk) {
    /* every CTA gets at least one k-tile; fewer tiles than SMs are split too */
    long long iters = (long long)tiles * ((K + WG_BK - 1) / WG_BK);
    grid = iters < sm_count() ? (int)iters : sm_count();
    sk = sk_plan<BN, NCONS>(tiles, (K + WG_BK - 1) / WG_BK, grid, st);
    if (!sk.ws) grid = tiles < sm_count() ? tiles : sm_count();
  }
  if (!sk.ws) {
    kern<<<grid, cfg::THREADS, cfg::SMEM, st>>>(ta, tw, tc, bias, C, M, N, K, epi, whint, sk);
    return klaunch_check("gemm (wgmma)", errbuf, errlen);
  }
  /* cooperative: the finishers spin on other CTAs' flags, so all must be resident */
  cudaLaunchAttribute coop[1];
  coop[0].id = cudaLaunchAttributeCooperative;
  coop[0].val.cooperative = 1;
  cudaLaunchConfig_t lc = {};
  lc.gridDim = dim3(grid), lc.blockDim = dim3(cfg::THREADS), lc.dynamicSmemBytes = cfg::SMEM;
  lc.stream = st, lc.attrs = coop, lc.numAttrs = 1;
  cudaLaunchKernelEx(&lc, kern, ta, tw, tc, bias, C, M, N, K, epi, whint, sk);
  return klaunch_check("gemm 10-streamk", errbuf, errlen);
}

/* Variant 7's split: the largest S (1..8, a power of two) whose clusters all fit on the GPU
   at once (cudaOccupancyMaxActiveClusters: a cluster must sit inside one GPC, so on the
   H200 fewer clusters of 4 than 132 / 4 fit at ~200 KB of shared memory a CTA) with
   >= 4 k-tiles a CTA. */
template <int BW, int MN, int STAGES>
static int splitk_split(long tiles, int kt) {
  using cfg = sk_cfg<BW, MN, STAGES>;
  auto kern = gemm_splitk<BW, MN, STAGES>;
  static int fits[4] = {-1, -1, -1, -1}; /* per instantiation: clusters of 1, 2, 4, 8 at once */
  int best = 1, smem = cfg::SMEM, threads = cfg::THREADS;
  for (int i = 1, S = 2; i < 4 && kt / S >= 4; i++, S *= 2) {
    if (fits[i] < 0) {
      cudaLaunchConfig_t lc = {};
      cudaLaunchAttribute at[1];
      at[0].id = cudaLaunchAttributeClusterDimension;
      at[0].val.clusterDim.x = (unsigned)S, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
      lc.gridDim = dim3((unsigned)(S * 64), 1, 1);
      lc.blockDim = dim3((unsigned)threads, 1, 1);
      lc.dynamicSmemBytes = (size_t)smem;
      lc.attrs = at;
      lc.numAttrs = 1;
      int n = 0;
      fits[i] = cudaOccupancyMaxActiveClusters(&n, kern, &lc) == cudaSuccess ? n : 0;
      cudaGetLastError();
    }
    if (tiles <= fits[i]) best = S;
  }
  return best;
}

/* Variant 7's launch: tiles of BW rows of W (x tiles of MN rows of A), clusters of S along
   the grid's x. */
template <int BW, int MN, int STAGES>
static int splitk_launch(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N,
                         int K, int epi, cudaStream_t st, char *errbuf, size_t errlen) {
  using cfg = sk_cfg<BW, MN, STAGES>;
  CUtensorMap ta, tw;
  int rc = tmap_get(A, M, K, MN, &ta, errbuf, errlen);
  if (!rc) rc = tmap_get(W, N, K, BW, &tw, errbuf, errlen);
  if (rc) return rc;
  auto kern = gemm_splitk<BW, MN, STAGES>;
  static bool attr_set; /* per instantiation */
  if (!attr_set) {
    cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, cfg::SMEM);
    cudaFuncSetAttribute(kern, cudaFuncAttributeNonPortableClusterSizeAllowed, 0);
    attr_set = true;
  }
  int tiles_n = (N + BW - 1) / BW, tiles_m = (M + MN - 1) / MN, kt = (K + WG_BK - 1) / WG_BK;
  int S = splitk_split<BW, MN, STAGES>((long)tiles_n * tiles_m, kt);
  cudaLaunchConfig_t lc = {};
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = (unsigned)S, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
  lc.gridDim = dim3((unsigned)(tiles_n * S), (unsigned)tiles_m, 1);
  lc.blockDim = dim3(cfg::THREADS, 1, 1);
  lc.dynamicSmemBytes = cfg::SMEM;
  lc.stream = st;
  lc.attrs = at;
  lc.numAttrs = 1;
  cudaError_t e = cudaLaunchKernelEx(&lc, kern, ta, tw, bias, C, M, N, K, epi);
  if (e != cudaSuccess)
    return kput(errbuf, errlen, "gemm 7-splitk: launch of %dx%d CTAs (clusters of %d): %s",
                tiles_n * S, tiles_m, S, cudaGetErrorString(e)),
           ERR_DRIVER;
  return klaunch_check("gemm (split-K)", errbuf, errlen);
}

/* A's rows padded to the smallest wgmma N that holds them (up to 128; larger M takes
   several tiles of 128); stages fill 160-200 KB. */
template <int BW>
static int splitk_rows(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N, int K,
                       int epi, cudaStream_t st, char *errbuf, size_t errlen) {
  constexpr bool wide = BW == 128;
  if (M <= 16)
    return splitk_launch < BW, 16,
           wide ? 10 : 16 > (A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
  if (M <= 32)
    return splitk_launch < BW, 32,
           wide ? 9 : 14 > (A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
  if (M <= 64)
    return splitk_launch < BW, 64,
           wide ? 8 : 12 > (A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
  return splitk_launch < BW, 128, wide ? 6 : 8 > (A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
}

/* Variant 7: tiles of 128 W rows when, split in two, they give every SM work; else 64 (N =
   4096: 64 tiles in clusters of 2 rather than 32 in clusters of 4). Variant 9 (bw = 64)
   always takes 64-row tiles, which at N = 8192 need no split at all. */
static int splitk_auto(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N, int K,
                       int epi, int bw, cudaStream_t st, char *errbuf, size_t errlen) {
  long tiles128 = (long)((N + 127) / 128) * ((M + 127) / 128);
  if (bw == 0) bw = 2 * tiles128 >= sm_count() * 9 / 10 ? 128 : 64;
  if (bw == 128) return splitk_rows<128>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
  return splitk_rows<64>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
}

/*
 * Variant 6's choice (measured on the H200, docs/kernels.md, 2026-12-03):
 * - at least one full wave of 128x256 tiles: variant 8 (5 where TMA cannot store C), from
 *   8 waves with 10's stream-K split of the last partial wave (measured 2026-12-04: 1.3 %
 *   faster at 8192³, 15.5 waves; 2-5 % slower at 1.9-3.9 waves, where the fix-ups cost
 *   more than the partial wave);
 * - M <= 32: 7-splitk (the swapped tile wastes no tensor-core rows);
 * - otherwise the widest tile that still gives ~90 % of the SMs work (64-row tiles for
 *   M <= 64), and where even 64-wide W tiles leave SMs idle at M <= 128, 7-splitk;
 * - M <= 128 means one tile row, so every W tile is read once: streamed evict-first.
 */
static int wgmma_auto(const bf16 *A, const bf16 *W, const bf16 *bias, bf16 *C, int M, int N, int K,
                      int epi, cudaStream_t st, char *errbuf, size_t errlen) {
  int sms = sm_count(), want = sms * 9 / 10, once = M <= 128;
  long t256 = (long)((M + 127) / 128) * ((N + 255) / 256);
  if (t256 >= sms) {
    if (N % 8 == 0 && (uintptr_t)C % 16 == 0)
      return wgmma_launch<256, 2, 4, true, true>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen, 0,
                                                 t256 >= 8L * sms);
    return wgmma_launch<256, 2, 4>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen);
  }
  if (M <= 32) return splitk_auto(A, W, bias, C, M, N, K, epi, 0, st, errbuf, errlen);
  long tm = M > 64 ? (M + 127) / 128 : 1, t128 = tm * ((N + 127) / 128), t64 = tm * ((N + 63) / 64);
  if (M > 64) {
    if (t128 >= want)
      return wgmma_launch<128, 2, 6>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen, once);
    if (t64 >= want || !once)
      return wgmma_launch<64, 2, 8>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen, once);
    return splitk_auto(A, W, bias, C, M, N, K, epi, 0, st, errbuf, errlen);
  }
  if (t128 >= want)
    return wgmma_launch<128, 1, 8>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen, 1);
  if (t64 >= want)
    return wgmma_launch<64, 1, 12>(A, W, bias, C, M, N, K, epi, st, errbuf, errlen, 1);
  return splitk_auto(A, W, bias, C, M, N, K, epi, 0, st, errbuf, errlen);
}

/* ---- cuBLASLt (the vendor row), dlopen'ed -------------------------------------------- */

struct lt_api {
  void *h;
  decltype(&cublasLtCreate) create;
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
  cublasLtHandle_t handle;
  void *ws; /* cuBLASLt workspace */
  char err[256];
};
static struct lt_api lt;
static pthread_once_t lt_once = PTHREAD_ONCE_INIT;
enum { LT_WS_BYTES = 32 << 20 };

static void lt_open(void) {
  const char *names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !lt.h; i++)
    lt.h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!lt.h) {
    snprintf(lt.err, sizeof lt.err, "cuBLASLt not found (libcublasLt.so.13): %s", dlerror());
    return;
  }
#define LT_SYM(field, name)                                     \
  if (!(*(void **)&lt.field = dlsym(lt.h, name))) {             \
    snprintf(lt.err, sizeof lt.err, "cuBLASLt lacks %s", name); \
    return;                                                     \
  }
  LT_SYM(create, "cublasLtCreate");
  LT_SYM(desc_create, "cublasLtMatmulDescCreate");
  LT_SYM(desc_set, "cublasLtMatmulDescSetAttribute");
  LT_SYM(desc_destroy, "cublasLtMatmulDescDestroy");
  LT_SYM(layout_create, "cublasLtMatrixLayoutCreate");
  LT_SYM(layout_destroy, "cublasLtMatrixLayoutDestroy");
  LT_SYM(pref_create, "cublasLtMatmulPreferenceCreate");
  LT_SYM(pref_set, "cublasLtMatmulPreferenceSetAttribute");
  LT_SYM(pref_destroy, "cublasLtMatmulPreferenceDestroy");
  LT_SYM(heuristic, "cublasLtMatmulAlgoGetHeuristic");
  LT_SYM(matmul, "cublasLtMatmul");
#undef LT_SYM
  if (lt.create(&lt.handle) != CUBLAS_STATUS_SUCCESS) {
    snprintf(lt.err, sizeof lt.err, "cublasLtCreate failed");
    lt.handle = NULL;
    return;
  }
  if (cudaMalloc(&lt.ws, LT_WS_BYTES) != cudaSuccess) {
    cudaGetLastError();
    snprintf(lt.err, sizeof lt.err, "cuBLASLt workspace: out of device memory");
    lt.handle = NULL;
  }
}

/* Row-major C[M,N] = A·Wᵀ is column-major Cᵀ[N,M] = op_T(W_cm[K,N]) · A_cm[K,M]: cuBLAS's
   m = N, n = M, with W transposed and A not; the bias runs along cuBLAS's m, i.e. N. */
static int lt_gemm(const void *a, const void *w, const void *bias, void *c, int M, int N, int K,
                   int epi, cudaStream_t st, char *errbuf, size_t errlen) {
  pthread_once(&lt_once, lt_open);
  if (!lt.handle) return kput(errbuf, errlen, "%s", lt.err), ERR_NOLIB;
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  cublasOperation_t tr = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  cublasLtEpilogue_t e = epi == CUDAPLUGIN_EPI_BIAS_GELU ? CUBLASLT_EPILOGUE_GELU_BIAS
                         : epi == CUDAPLUGIN_EPI_BIAS    ? CUBLASLT_EPILOGUE_BIAS
                                                         : CUBLASLT_EPILOGUE_DEFAULT;
  uint64_t wsb = LT_WS_BYTES;
  float alpha = 1.0f, beta = 0.0f;
  int rc = ERR_DRIVER, found = 0;
  cublasLtMatmulHeuristicResult_t heur;
  if (lt.desc_create(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F) ||
      lt.desc_set(op, CUBLASLT_MATMUL_DESC_TRANSA, &tr, sizeof tr) ||
      lt.desc_set(op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof nt) ||
      lt.desc_set(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e) ||
      (epi && lt.desc_set(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias)) ||
      lt.layout_create(&la, CUDA_R_16BF, K, N, K) || lt.layout_create(&lb, CUDA_R_16BF, K, M, K) ||
      lt.layout_create(&lc, CUDA_R_16BF, N, M, N) || lt.pref_create(&pref) ||
      lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb)) {
    kput(errbuf, errlen, "cuBLASLt: setting up the matmul %dx%dx%d failed", M, N, K);
    goto out;
  }
  if (lt.heuristic(lt.handle, op, la, lb, lc, lc, pref, 1, &heur, &found) || found < 1) {
    rc = KUNSUP(errbuf, errlen, "cuBLASLt has no algorithm for %dx%dx%d", M, N, K);
    goto out;
  }
  if (lt.matmul(lt.handle, op, &alpha, w, la, a, lb, &beta, c, lc, c, lc, &heur.algo, lt.ws,
                LT_WS_BYTES, st)) {
    kput(errbuf, errlen, "cublasLtMatmul failed for %dx%dx%d", M, N, K);
    goto out;
  }
  rc = klaunch_check("cuBLASLt matmul", errbuf, errlen);
out:
  if (pref) lt.pref_destroy(pref);
  if (lc) lt.layout_destroy(lc);
  if (lb) lt.layout_destroy(lb);
  if (la) lt.layout_destroy(la);
  if (op) lt.desc_destroy(op);
  return rc;
}

/* ---- entry points ------------------------------------------------------------------- */

static bool is_sm90(void) {
  static int cc = -1;
  if (cc < 0) {
    int dev = 0, major = 0, minor = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    cc = major * 10 + minor;
  }
  return cc == 90;
}

static int gemm_args(const void *a, const void *w, const void *bias, const void *c, int m, int n,
                     int k, int epi, char *errbuf, size_t errlen) {
  if (m < 1 || n < 1 || k < 1)
    return KBAD(errbuf, errlen, "gemm: shape %dx%dx%d must be positive", m, n, k);
  if (!a || !w || !c) return KBAD(errbuf, errlen, "gemm: NULL matrix");
  if (epi < CUDAPLUGIN_EPI_NONE || epi > CUDAPLUGIN_EPI_BIAS_GELU)
    return KBAD(errbuf, errlen, "gemm: unknown epilogue %d", epi);
  if (epi != CUDAPLUGIN_EPI_NONE && !bias)
    return KBAD(errbuf, errlen, "gemm: epilogue needs a bias");
  return 0;
}

extern "C" int kc_gemm_bf16(int variant, const void *a, const void *w, const void *bias, void *c,
                            int m, int n, int k, int epi, cudaplugin_stream s, char *errbuf,
                            size_t errlen) {
  int rc = gemm_args(a, w, bias, c, m, n, k, epi, errbuf, errlen);
  if (rc) return rc;
  const bf16 *A = (const bf16 *)a, *W = (const bf16 *)w, *B = (const bf16 *)bias;
  bf16 *C = (bf16 *)c;
  cudaStream_t st = kstream(s);
  bool aligned = ((uintptr_t)a % 16 == 0) && ((uintptr_t)w % 16 == 0) && k % 8 == 0;
  if (variant == CUDAPLUGIN_GEMM_BEST) variant = is_sm90() && aligned ? 6 : aligned ? 3 : 2;
  switch (variant) {
    case 0: {
      dim3 b(32, 8), g((n + 31) / 32, (m + 7) / 8);
      gemm_naive<<<g, b, 0, st>>>(A, W, B, C, m, n, k, epi);
      return klaunch_check("gemm 0-naive", errbuf, errlen);
    }
    case 1: {
      dim3 b(32, 32), g((n + 31) / 32, (m + 31) / 32);
      gemm_smem<<<g, b, 0, st>>>(A, W, B, C, m, n, k, epi);
      return klaunch_check("gemm 1-smem", errbuf, errlen);
    }
    case 2: { /* 16-row tiles when M fits one (see gemm_regs) */
      if (m <= 16) {
        gemm_regs<1><<<dim3((n + R_BN - 1) / R_BN, 1), 256, 0, st>>>(A, W, B, C, m, n, k, epi);
      } else {
        dim3 g((n + R_BN - 1) / R_BN, (m + R_BM - 1) / R_BM);
        gemm_regs<8><<<g, 256, 0, st>>>(A, W, B, C, m, n, k, epi);
      }
      return klaunch_check("gemm 2-regs", errbuf, errlen);
    }
    case 3: {
      if (!aligned) return KUNSUP(errbuf, errlen, "gemm 3-mma needs K %% 8 == 0 and 16-byte rows");
      static bool attr;
      int smem = M_STAGES * M_STAGE_BYTES;
      if (!attr) cudaFuncSetAttribute(gemm_mma, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      attr = true;
      dim3 g((n + M_BN - 1) / M_BN, (m + M_BM - 1) / M_BM);
      gemm_mma<<<g, 256, smem, st>>>(A, W, B, C, m, n, k, epi);
      return klaunch_check("gemm 3-mma", errbuf, errlen);
    }
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
    case 10:
    case 11:
      if (!is_sm90()) return KUNSUP(errbuf, errlen, "gemm %d needs an sm_90 GPU (Hopper)", variant);
      if (!aligned)
        return KUNSUP(errbuf, errlen, "gemm wgmma needs K %% 8 == 0 and 16-byte aligned rows");
      if (variant == 4)
        return wgmma_launch<256, 2, 4, false>(A, W, B, C, m, n, k, epi, st, errbuf, errlen);
      if (variant == 5)
        return wgmma_launch<256, 2, 4, true>(A, W, B, C, m, n, k, epi, st, errbuf, errlen);
      if (variant == 7 || variant == 9)
        return splitk_auto(A, W, B, C, m, n, k, epi, variant == 9 ? 64 : 0, st, errbuf, errlen);
      if (variant == 8) {
        if (n % 8 || (uintptr_t)c % 16)
          return KUNSUP(errbuf, errlen,
                        "gemm 8-tmastore needs N %% 8 == 0 and a 16-byte aligned C");
        return wgmma_launch<256, 2, 4, true, true>(A, W, B, C, m, n, k, epi, st, errbuf, errlen);
      }
      if (variant == 10) {
        if (n % 8 || (uintptr_t)c % 16)
          return KUNSUP(errbuf, errlen,
                        "gemm 10-streamk needs N %% 8 == 0 and a 16-byte aligned C");
        return wgmma_launch<256, 2, 4, true, true>(A, W, B, C, m, n, k, epi, st, errbuf, errlen, 0,
                                                   true);
      }
      if (variant == 11) {
        if (n % 8 || (uintptr_t)c % 16)
          return KUNSUP(errbuf, errlen,
                        "gemm 11-pingpong needs N %% 8 == 0 and a 16-byte aligned C");
        return wgmma_launch<256, 2, 4, true, true, true>(A, W, B, C, m, n, k, epi, st, errbuf,
                                                         errlen);
      }
      return wgmma_auto(A, W, B, C, m, n, k, epi, st, errbuf, errlen);
    default:
      return KBAD(errbuf, errlen, "gemm: unknown variant %d (0..11, or -1 for the best)", variant);
  }
}

extern "C" int kc_vendor_gemm_bf16(const void *a, const void *w, const void *bias, void *c, int m,
                                   int n, int k, int epi, cudaplugin_stream s, char *errbuf,
                                   size_t errlen) {
  int rc = gemm_args(a, w, bias, c, m, n, k, epi, errbuf, errlen);
  return rc ? rc : lt_gemm(a, w, bias, c, m, n, k, epi, kstream(s), errbuf, errlen);
}
