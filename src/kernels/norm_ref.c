/* norm_ref.c — fp64 layernorm and rmsnorm over bf16 rows (see norm_ref.h). */
#include "kernels/norm_ref.h"

#include <math.h>
#include <stddef.h>

#include "kernels/bf16.h"

void norm_ref_layernorm_row(const uint16_t *x, const uint16_t *w, const uint16_t *b, int cols,
                            double eps, double *out) {
  double mean = 0, var = 0;
  for (int c = 0; c < cols; c++) mean += bf16_to_f32(x[c]);
  mean /= cols;
  for (int c = 0; c < cols; c++) {
    double d = bf16_to_f32(x[c]) - mean;
    var += d * d;
  }
  double rstd = 1.0 / sqrt(var / cols + eps);
  for (int c = 0; c < cols; c++)
    out[c] = (bf16_to_f32(x[c]) - mean) * rstd * bf16_to_f32(w[c]) + bf16_to_f32(b[c]);
}

void norm_ref_rmsnorm_row(const uint16_t *x, const uint16_t *w, int cols, double eps, double *out) {
  double ss = 0;
  for (int c = 0; c < cols; c++) {
    double v = bf16_to_f32(x[c]);
    ss += v * v;
  }
  double rstd = 1.0 / sqrt(ss / cols + eps);
  for (int c = 0; c < cols; c++) out[c] = bf16_to_f32(x[c]) * rstd * bf16_to_f32(w[c]);
}

void norm_ref_layernorm(const uint16_t *x, const uint16_t *w, const uint16_t *b, uint16_t *y,
                        int rows, int cols, double eps, double *scratch) {
  for (int r = 0; r < rows; r++) {
    norm_ref_layernorm_row(x + (size_t)r * cols, w, b, cols, eps, scratch);
    for (int c = 0; c < cols; c++) y[(size_t)r * cols + c] = bf16_from_f32((float)scratch[c]);
  }
}

void norm_ref_rmsnorm(const uint16_t *x, const uint16_t *w, uint16_t *y, int rows, int cols,
                      double eps, double *scratch) {
  for (int r = 0; r < rows; r++) {
    norm_ref_rmsnorm_row(x + (size_t)r * cols, w, cols, eps, scratch);
    for (int c = 0; c < cols; c++) y[(size_t)r * cols + c] = bf16_from_f32((float)scratch[c]);
  }
}
