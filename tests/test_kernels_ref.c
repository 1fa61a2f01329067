/* test_kernels_ref.c — the CPU references of src/kernels against values
 * worked out by hand, and bf16 rounding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>

#include "kernels/bf16.h"
#include "kernels/gemm_ref.h"
#include "kernels/norm_ref.h"
#include "kernels/reduce_ref.h"
#include "kernels/softmax_ref.h"
#include "kernels/transpose_ref.h"

Test(kernels_ref, bf16_rounds_to_nearest_even) {
  cr_assert_eq(bf16_from_f32(1.0f), 0x3f80);
  cr_assert_eq(bf16_from_f32(-2.0f), 0xc000);
  cr_assert_float_eq(bf16_to_f32(0x3f80), 1.0f, 0);
  /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even gives 1. */
  cr_assert_eq(bf16_from_f32(1.0f + 1.0f / 256), 0x3f80);
  /* 1 + 3 x 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even. */
  cr_assert_eq(bf16_from_f32(1.0f + 3.0f / 256), 0x3f82);
  cr_assert(isnan(bf16_to_f32(bf16_from_f32(NAN))));
  cr_assert(isinf(bf16_to_f32(bf16_from_f32(INFINITY))));
}

Test(kernels_ref, reduce_sum_and_abs_sum) {
  const float x[] = {1, -2, 3, -4, 5, 0.5f, -0.25f};
  double abs = 0;
  cr_assert_float_eq(reduce_ref_sum(x, 7, &abs), 3.25, 1e-12);
  cr_assert_float_eq(abs, 15.75, 1e-12);
  cr_assert_float_eq(reduce_ref_sum(x, 0, NULL), 0.0, 0);
  /* fp64 accumulation: 2^24 + 1 + 1 ... is exact where fp32 would lose the ones. */
  static float big[1 << 12];
  big[0] = 16777216.0f;
  for (int i = 1; i < 1 << 12; i++) big[i] = 1.0f;
  cr_assert_float_eq(reduce_ref_sum(big, 1 << 12, NULL), 16777216.0 + 4095, 0);
}

Test(kernels_ref, transpose_non_square) {
  float in[2 * 3] = {1, 2, 3, 4, 5, 6}, out[6] = {0};
  transpose_ref_f32(in, out, 2, 3);
  const float want[6] = {1, 4, 2, 5, 3, 6};
  for (int i = 0; i < 6; i++) cr_assert_float_eq(out[i], want[i], 0, "out[%d]", i);
  /* larger than one 32 x 32 block, odd sizes: round trip is the identity */
  static float a[37 * 70], b[37 * 70], c[37 * 70];
  for (int i = 0; i < 37 * 70; i++) a[i] = (float)i;
  transpose_ref_f32(a, b, 37, 70);
  transpose_ref_f32(b, c, 70, 37);
  for (int i = 0; i < 37 * 70; i++) cr_assert_float_eq(c[i], a[i], 0);
  cr_assert_float_eq(b[1 * 37 + 0], a[0 * 70 + 1], 0);
}

Test(kernels_ref, softmax_known_row) {
  const float x[3] = {0.0f, logf(2.0f), logf(5.0f)}; /* exp: 1, 2, 5 -> /8 */
  double out[3];
  softmax_ref_row_f32(x, 3, out);
  cr_assert_float_eq(out[0], 1.0 / 8, 1e-7);
  cr_assert_float_eq(out[1], 2.0 / 8, 1e-7);
  cr_assert_float_eq(out[2], 5.0 / 8, 1e-7);
  /* shift invariance and no overflow at large inputs */
  const float big[3] = {1000.0f, 1000.0f + logf(2.0f), 1000.0f + logf(5.0f)};
  softmax_ref_row_f32(big, 3, out);
  cr_assert_float_eq(out[2], 5.0 / 8, 1e-4);
  /* bf16 input: 1.0 and 1.0 -> one half each; a whole matrix rounds to bf16 0.5 */
  uint16_t xb[4] = {0x3f80, 0x3f80, 0x0000, 0x0000}, yb[4];
  double scratch[2];
  softmax_ref_bf16(xb, yb, 2, 2, scratch);
  for (int i = 0; i < 4; i++) cr_assert_eq(yb[i], bf16_from_f32(0.5f));
}

Test(kernels_ref, layernorm_and_rmsnorm_known_row) {
  /* x = 1, 2, 3, 4: mean 2.5, biased var 1.25 */
  uint16_t x[4], w[4], b[4];
  const float xv[4] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++) {
    x[i] = bf16_from_f32(xv[i]);
    w[i] = bf16_from_f32(2.0f);
    b[i] = bf16_from_f32(0.5f);
  }
  double out[4];
  norm_ref_layernorm_row(x, w, b, 4, 0.0, out);
  for (int i = 0; i < 4; i++)
    cr_assert_float_eq(out[i], (xv[i] - 2.5) / sqrt(1.25) * 2 + 0.5, 1e-9);
  /* rms = sqrt((1 + 4 + 9 + 16) / 4) = sqrt(7.5) */
  norm_ref_rmsnorm_row(x, w, 4, 0.0, out);
  for (int i = 0; i < 4; i++) cr_assert_float_eq(out[i], xv[i] / sqrt(7.5) * 2, 1e-9);
  /* eps enters under the root: a constant row normalizes to the bias alone */
  uint16_t c[4] = {0x3f80, 0x3f80, 0x3f80, 0x3f80}, y[4];
  double scratch[4];
  norm_ref_layernorm(c, w, b, y, 1, 4, 1e-5, scratch);
  for (int i = 0; i < 4; i++) cr_assert_eq(y[i], bf16_from_f32(0.5f));
  norm_ref_rmsnorm(c, w, y, 1, 4, 0.0, scratch);
  for (int i = 0; i < 4; i++) cr_assert_eq(y[i], bf16_from_f32(2.0f));
}

/* C = A.W^T with W in the Linear layout [N, K]: worked by hand. A = [[1, 2], [3, -1]],
   W = [[1, 0], [0.5, 2], [-1, 1]] (N = 3, K = 2), bias = [0.5, -1, 0]. */
Test(kernels_ref, gemm_known_product_bias_and_gelu) {
  const float af[] = {1, 2, 3, -1}, wf[] = {1, 0, 0.5f, 2, -1, 1}, bf[] = {0.5f, -1, 0};
  uint16_t a[4], w[6], b[3], c[6];
  for (int i = 0; i < 4; i++) a[i] = bf16_from_f32(af[i]);
  for (int i = 0; i < 6; i++) w[i] = bf16_from_f32(wf[i]);
  for (int i = 0; i < 3; i++) b[i] = bf16_from_f32(bf[i]);
  /* no epilogue: row 0 = [1, 4.5, 1], row 1 = [3, -0.5, -4] */
  const float plain[] = {1, 4.5f, 1, 3, -0.5f, -4};
  gemm_ref_bf16(a, w, NULL, c, 2, 3, 2, GEMM_REF_NONE);
  for (int i = 0; i < 6; i++) cr_assert_float_eq(bf16_to_f32(c[i]), plain[i], 0, "c[%d]", i);
  /* bias: [1.5, 3.5, 1, 3.5, -1.5, -4] */
  const float biased[] = {1.5f, 3.5f, 1, 3.5f, -1.5f, -4};
  gemm_ref_bf16(a, w, b, c, 2, 3, 2, GEMM_REF_BIAS);
  for (int i = 0; i < 6; i++) cr_assert_float_eq(bf16_to_f32(c[i]), biased[i], 0, "c[%d]", i);
  /* GELU(1.5) = 0.5 * 1.5 * (1 + erf(1.5 / sqrt 2)) = 1.39963..., GELU(-4) = -1.2668e-4 */
  gemm_ref_bf16(a, w, b, c, 2, 3, 2, GEMM_REF_BIAS_GELU);
  cr_assert_float_eq(bf16_to_f32(c[0]), 1.399634, 0.01);
  cr_assert_float_eq(bf16_to_f32(c[5]), -1.2668e-4, 2e-6);
  cr_assert_float_eq(gemm_ref_gelu(0.0), 0.0, 0);
  cr_assert_float_eq(gemm_ref_gelu(1.0), 0.8413447460685429, 1e-12);
  double scale = 0;
  /* row 0 of A with row 1 of W: products 0.5 and 4 -> 4.5, scale sqrt(0.25 + 16) */
  cr_assert_float_eq(gemm_ref_one(a, w + 2, 2, NULL, GEMM_REF_NONE, &scale), 4.5, 1e-12);
  cr_assert_float_eq(scale, sqrt(16.25), 1e-12);
}

/* The check's error: relative to |ref| + scale, infinite for NaN, so a dropped K block
   (here: one product of four missing) is far over the 1e-2 threshold. */
Test(kernels_ref, gemm_check_error_catches_a_missing_term) {
  cr_assert(isinf(gemm_ref_err(NAN, 1.0, 1.0)));
  cr_assert_float_eq(gemm_ref_err(2.0, 2.0, 1.0), 0.0, 0);
  cr_assert_float_eq(gemm_ref_err(3.0, 2.0, 2.0), 0.25, 1e-12);
  const float af[] = {0.9f, -0.7f, 0.3f, 0.8f}, wf[] = {0.6f, 0.5f, -0.9f, 0.4f};
  uint16_t a[4], w[4];
  for (int i = 0; i < 4; i++) a[i] = bf16_from_f32(af[i]), w[i] = bf16_from_f32(wf[i]);
  double scale, full = gemm_ref_one(a, w, 4, NULL, GEMM_REF_NONE, &scale);
  double partial = gemm_ref_one(a, w, 3, NULL, GEMM_REF_NONE, NULL);
  cr_assert_gt(gemm_ref_err(partial, full, scale), 1e-2);
  /* bf16 rounding of the output stays under it */
  cr_assert_lt(gemm_ref_err(bf16_to_f32(bf16_from_f32((float)full)), full, scale), 1e-2);
}
