/* softmax_ref.c — fp64 row-wise softmax (see softmax_ref.h). */
#include "kernels/softmax_ref.h"

#include <math.h>
#include <stddef.h>

#include "kernels/bf16.h"

/* out holds the row as doubles on entry; normalized in place. */
static void normalize(double *out, int cols) {
  double m = -INFINITY, s = 0;
  for (int c = 0; c < cols; c++) m = out[c] > m ? out[c] : m;
  for (int c = 0; c < cols; c++) {
    out[c] = exp(out[c] - m);
    s += out[c];
  }
  for (int c = 0; c < cols; c++) out[c] /= s;
}

void softmax_ref_row_f32(const float *x, int cols, double *out) {
  for (int c = 0; c < cols; c++) out[c] = x[c];
  normalize(out, cols);
}

void softmax_ref_row_bf16(const uint16_t *x, int cols, double *out) {
  for (int c = 0; c < cols; c++) out[c] = bf16_to_f32(x[c]);
  normalize(out, cols);
}

void softmax_ref_f32(const float *in, float *out, int rows, int cols, double *scratch) {
  for (int r = 0; r < rows; r++) {
    softmax_ref_row_f32(in + (size_t)r * cols, cols, scratch);
    for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = (float)scratch[c];
  }
}

void softmax_ref_bf16(const uint16_t *in, uint16_t *out, int rows, int cols, double *scratch) {
  for (int r = 0; r < rows; r++) {
    softmax_ref_row_bf16(in + (size_t)r * cols, cols, scratch);
    for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = bf16_from_f32((float)scratch[c]);
  }
}
