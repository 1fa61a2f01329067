/*
 * gemm_ref.c — the GEMM's CPU reference (see gemm_ref.h): the obvious loops,
 * K innermost, in fp64. Also the CPU fallback `gpuops bench` times without a
 * GPU, so the row of A and of W are converted once per output row / column
 * block rather than once per product.
 */
#include "kernels/gemm_ref.h"

#include <math.h>
#include <stdlib.h>

#include "kernels/bf16.h"

double gemm_ref_gelu(double v) { return 0.5 * v * (1.0 + erf(v * M_SQRT1_2)); }

static double epilogue(double acc, const uint16_t *bias_n, int epi) {
  if (epi >= GEMM_REF_BIAS && bias_n) acc += bf16_to_f32(*bias_n);
  if (epi == GEMM_REF_BIAS_GELU) acc = gemm_ref_gelu(acc);
  return acc;
}

double gemm_ref_one(const uint16_t *a, const uint16_t *w, int k, const uint16_t *bias_n, int epi,
                    double *scale) {
  double acc = 0, sq = 0;
  for (int i = 0; i < k; i++) {
    double p = (double)bf16_to_f32(a[i]) * bf16_to_f32(w[i]);
    acc += p;
    sq += p * p;
  }
  if (scale) *scale = sqrt(sq);
  return epilogue(acc, bias_n, epi);
}

void gemm_ref_bf16(const uint16_t *a, const uint16_t *w, const uint16_t *bias, uint16_t *c, int m,
                   int n, int k, int epi) {
  double *arow = malloc((size_t)k * sizeof *arow);
  if (!arow) { /* no scratch: the slower path converts as it goes */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++)
        c[(size_t)i * n + j] = bf16_from_f32((float)gemm_ref_one(
            a + (size_t)i * k, w + (size_t)j * k, k, bias ? bias + j : NULL, epi, NULL));
    return;
  }
  for (int i = 0; i < m; i++) {
    for (int x = 0; x < k; x++) arow[x] = bf16_to_f32(a[(size_t)i * k + x]);
    for (int j = 0; j < n; j++) {
      const uint16_t *wr = w + (size_t)j * k;
      double acc = 0;
      for (int x = 0; x < k; x++) acc += arow[x] * bf16_to_f32(wr[x]);
      c[(size_t)i * n + j] = bf16_from_f32((float)epilogue(acc, bias ? bias + j : NULL, epi));
    }
  }
  free(arow);
}

double gemm_ref_err(double got, double ref, double scale) {
  if (!isfinite(got)) return INFINITY;
  return fabs(got - ref) / (fabs(ref) + scale);
}
