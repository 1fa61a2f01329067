/*
 * softmax_ref.h — CPU reference of the row-wise softmax (kernels/softmax.cu):
 * fp64 math, for checking one row at a time and for the CPU fallback.
 */
#ifndef GPUOPS_KERNELS_SOFTMAX_REF_H
#define GPUOPS_KERNELS_SOFTMAX_REF_H

#include <stdint.h>

/* out[c] = exp(x[c] - max) / sum exp(x - max) over one row, in fp64. */
void softmax_ref_row_f32(const float *x, int cols, double *out);
void softmax_ref_row_bf16(const uint16_t *x, int cols, double *out);

/* Whole matrices, rows x cols row-major; the result rounded to the element
   type. scratch: cols doubles owned by the caller. */
void softmax_ref_f32(const float *in, float *out, int rows, int cols, double *scratch);
void softmax_ref_bf16(const uint16_t *in, uint16_t *out, int rows, int cols, double *scratch);

#endif
