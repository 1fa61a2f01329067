/*
 * norm_ref.h — CPU references of layernorm and rmsnorm (kernels/norm.cu):
 * bf16 in and out, fp64 math (the GPU uses fp32; the check allows for it).
 */
#ifndef GPUOPS_KERNELS_NORM_REF_H
#define GPUOPS_KERNELS_NORM_REF_H

#include <stdint.h>

/* One row in fp64: layernorm (biased variance over cols) and rmsnorm. b may
   not be NULL for layernorm. */
void norm_ref_layernorm_row(const uint16_t *x, const uint16_t *w, const uint16_t *b, int cols,
                            double eps, double *out);
void norm_ref_rmsnorm_row(const uint16_t *x, const uint16_t *w, int cols, double eps, double *out);

/* Whole matrices, rows x cols; results rounded to bf16. scratch: cols doubles. */
void norm_ref_layernorm(const uint16_t *x, const uint16_t *w, const uint16_t *b, uint16_t *y,
                        int rows, int cols, double eps, double *scratch);
void norm_ref_rmsnorm(const uint16_t *x, const uint16_t *w, uint16_t *y, int rows, int cols,
                      double eps, double *scratch);

#endif
