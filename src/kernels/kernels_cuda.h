/*
 * kernels_cuda.h — inside the CUDA plugin only: the kernel entry points that
 * runtime.cu puts in the exported table (their contracts are the table's
 * members in cudaplugin.h). Each is defined in the .cu file of its kernel.
 */
#ifndef GPUOPS_KERNELS_KERNELS_CUDA_H
#define GPUOPS_KERNELS_KERNELS_CUDA_H

#include "kernels/cudaplugin.h"

#ifdef __cplusplus
extern "C" {
#endif

int kc_fill_uniform(void *dst, size_t n, int dtype, uint64_t seed, float lo, float hi,
                    cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_mem_set(void *dst, int byte, size_t bytes, cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_ceiling_copy(int variant, const void *src, void *dst, size_t bytes, cudaplugin_stream s,
                    char *errbuf, size_t errlen);
int kc_ceiling_read(int variant, const void *src, size_t bytes, float *sink, cudaplugin_stream s,
                    char *errbuf, size_t errlen);
int kc_reduce_workspace(int variant, size_t n, size_t *bytes, char *errbuf, size_t errlen);
int kc_reduce_sum_f32(int variant, const float *x, size_t n, float *out, void *ws, size_t ws_bytes,
                      cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_cub_reduce_sum_f32(const float *x, size_t n, float *out, void *ws, size_t ws_bytes,
                          cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_transpose_f32(int variant, const float *in, float *out, int rows, int cols,
                     cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_softmax_rows(int variant, int dtype, const void *in, void *out, int rows, int cols,
                    float *ws, cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_layernorm_bf16(int variant, const void *x, const void *w, const void *b, void *y, int rows,
                      int cols, float eps, cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_gemm_bf16(int variant, const void *a, const void *w, const void *bias, void *c, int m,
                 int n, int k, int epilogue, cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_vendor_gemm_bf16(const void *a, const void *w, const void *bias, void *c, int m, int n,
                        int k, int epilogue, cudaplugin_stream s, char *errbuf, size_t errlen);
int kc_rmsnorm_bf16(int variant, const void *x, const void *w, void *y, int rows, int cols,
                    float eps, cudaplugin_stream s, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
