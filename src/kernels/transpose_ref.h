/*
 * transpose_ref.h — CPU reference of the fp32 transpose (kernels/transpose.cu).
 */
#ifndef GPUOPS_KERNELS_TRANSPOSE_REF_H
#define GPUOPS_KERNELS_TRANSPOSE_REF_H

/* out[c][r] = in[r][c]; in is rows x cols row-major, out cols x rows. Blocked
   by 32 x 32 so both sides stay in cache. Buffers must not overlap. */
void transpose_ref_f32(const float *in, float *out, int rows, int cols);

#endif
