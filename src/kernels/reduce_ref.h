/*
 * reduce_ref.h — CPU reference of the fp32 sum (kernels/reduce.cu): the check
 * the GPU variants are held to, and the CPU fallback the harness times.
 */
#ifndef GPUOPS_KERNELS_REDUCE_REF_H
#define GPUOPS_KERNELS_REDUCE_REF_H

#include <stddef.h>

/*
 * Sum of x[0..n) accumulated in fp64 (four partial sums, so the loop
 * vectorizes); *abs_sum (may be NULL) gets sum |x|, the scale the GPU's error
 * is measured against. Pure; any thread.
 */
double reduce_ref_sum(const float *x, size_t n, double *abs_sum);

#endif
