/*
 * transpose.cu — out[c][r] = in[r][c], fp32, in is rows x cols row-major.
 *
 * Bytes: 2 x rows x cols x 4 (read once, write once). 16384^2: 2147.5 MB,
 * ~503 us at the H200's ~4.27 TB/s copy roof. No arithmetic: memory-bound, and
 * the whole problem is making both the reads and the writes coalesced.
 *
 * Variants (kept; each says what changed and why):
 *   0 naive  One thread per element, blocks of 32 x 8: a warp reads 32
 *            consecutive floats of a row (coalesced, 128 B) and writes them 32
 *            rows apart (strided: 32 separate 32-byte sectors per warp store,
 *            so 8x the write traffic in sectors). Fixed by the issue.
 *   1 tile32 A 32 x 32 tile staged in shared memory (rows padded by one float so
 *            the column reads hit 32 different banks); blocks of 32 x 8, four
 *            elements per thread. Reads and writes both 128-byte coalesced.
 *   2 tile64v4  A 64 x 64 tile, 16-byte loads and stores (float4) on both sides,
 *            blocks of 16 x 16 threads, four float4 per thread each way: a quarter
 *            of the memory instructions of 1 and twice the bytes in flight per
 *            block. Shared rows padded to 65 floats: 2-way bank conflicts on the
 *            column reads, which shared memory absorbs. Needs rows and cols
 *            multiples of 64 (else ERR_UNSUPPORTED).
 *
 * Sections: kernels; entry point.
 */
#include "kernels/kcommon.cuh"
#include "kernels/kernels_cuda.h"

/* ---- kernels ------------------------------------------------------------ */

__global__ void transpose_naive(const float *__restrict__ in, float *__restrict__ out, int rows,
                                int cols) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  int r = blockIdx.y * blockDim.y + threadIdx.y;
  if (r < rows && c < cols) out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}

__global__ void __launch_bounds__(256)
    transpose_tile32(const float *__restrict__ in, float *__restrict__ out, int rows, int cols) {
  __shared__ float tile[32][33];
  int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
  int tx = threadIdx.x, ty = threadIdx.y;
#pragma unroll
  for (int k = 0; k < 32; k += 8) {
    int r = r0 + ty + k, c = c0 + tx;
    if (r < rows && c < cols) tile[ty + k][tx] = in[(size_t)r * cols + c];
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < 32; k += 8) {
    int orow = c0 + ty + k, ocol = r0 + tx; /* out is cols x rows */
    if (orow < cols && ocol < rows) out[(size_t)orow * rows + ocol] = tile[tx][ty + k];
  }
}

__global__ void __launch_bounds__(256)
    transpose_tile64v4(const float *__restrict__ in, float *__restrict__ out, int rows, int cols) {
  __shared__ float tile[64][65];
  int c0 = blockIdx.x * 64, r0 = blockIdx.y * 64;
  int tx = threadIdx.x, ty = threadIdx.y; /* 16 x 16 */
  float4 v[4];
#pragma unroll
  for (int k = 0; k < 4; k++)
    v[k] = *reinterpret_cast<const float4 *>(in + (size_t)(r0 + ty + 16 * k) * cols + c0 + 4 * tx);
#pragma unroll
  for (int k = 0; k < 4; k++) {
    float *t = &tile[ty + 16 * k][4 * tx];
    t[0] = v[k].x;
    t[1] = v[k].y;
    t[2] = v[k].z;
    t[3] = v[k].w;
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < 4; k++) {
    int j = ty + 16 * k; /* column of the tile = row of out */
    float4 o =
        make_float4(tile[4 * tx][j], tile[4 * tx + 1][j], tile[4 * tx + 2][j], tile[4 * tx + 3][j]);
    *reinterpret_cast<float4 *>(out + (size_t)(c0 + j) * rows + r0 + 4 * tx) = o;
  }
}

/* ---- entry point -------------------------------------------------------- */

extern "C" int kc_transpose_f32(int variant, const float *in, float *out, int rows, int cols,
                                cudaplugin_stream s, char *errbuf, size_t errlen) {
  if (!in || !out || rows <= 0 || cols <= 0)
    return KBAD(errbuf, errlen, "transpose: NULL pointer or empty shape");
  cudaStream_t st = kstream(s);
  switch (variant) {
    case 0: {
      dim3 b(32, 8), g((cols + 31) / 32, (rows + 7) / 8);
      if (g.y > 65535) return KUNSUP(errbuf, errlen, "transpose naive: rows > 524280");
      transpose_naive<<<g, b, 0, st>>>(in, out, rows, cols);
      break;
    }
    case 1: {
      dim3 b(32, 8), g((cols + 31) / 32, (rows + 31) / 32);
      if (g.y > 65535) return KUNSUP(errbuf, errlen, "transpose tile32: rows > 2097120");
      transpose_tile32<<<g, b, 0, st>>>(in, out, rows, cols);
      break;
    }
    case 2: {
      if (rows % 64 || cols % 64)
        return KUNSUP(errbuf, errlen,
                      "transpose tile64v4: rows and cols must be multiples of 64 (got %dx%d)", rows,
                      cols);
      dim3 b(16, 16), g(cols / 64, rows / 64);
      if (g.y > 65535) return KUNSUP(errbuf, errlen, "transpose tile64v4: rows > 4194240");
      transpose_tile64v4<<<g, b, 0, st>>>(in, out, rows, cols);
      break;
    }
    default:
      return KBAD(errbuf, errlen, "transpose: no variant %d (0 naive, 1 tile32, 2 tile64v4)",
                  variant);
  }
  return klaunch_check("transpose", errbuf, errlen);
}
