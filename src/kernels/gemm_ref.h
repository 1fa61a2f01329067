/*
 * gemm_ref.h — CPU reference of the GEMM (kernels/gemm.cu):
 * C[M,N] = A[M,K] · W[N,K]ᵀ (+ bias[N]) (then exact-erf GELU), bf16 in,
 * fp64 math, bf16 (or fp64) out. The GPU accumulates in fp32; the check
 * allows for it and for the bf16 rounding of the output.
 */
#ifndef GPUOPS_KERNELS_GEMM_REF_H
#define GPUOPS_KERNELS_GEMM_REF_H

#include <stdint.h>

/* The epilogues (the same numbers as CUDAPLUGIN_EPI_*). */
enum { GEMM_REF_NONE = 0, GEMM_REF_BIAS = 1, GEMM_REF_BIAS_GELU = 2 };

/* 0.5·v·(1 + erf(v/√2)), the exact GELU. */
double gemm_ref_gelu(double v);

/*
 * One output: the epilogue of Σ_k a[k]·w[k] (+ bias) over K elements of a row
 * of A and a row of W, in fp64. *scale (may be NULL) gets √Σ(a[k]·w[k])², the
 * magnitude the products add up to, which the check measures errors against.
 */
double gemm_ref_one(const uint16_t *a, const uint16_t *w, int k, const uint16_t *bias_n, int epi,
                    double *scale);

/* The whole product, rounded to bf16. bias may be NULL when epi is GEMM_REF_NONE. */
void gemm_ref_bf16(const uint16_t *a, const uint16_t *w, const uint16_t *bias, uint16_t *c, int m,
                   int n, int k, int epi);

/* The check's error of one output: |got - ref| / (|ref| + scale); INFINITY when got is
   not finite. */
double gemm_ref_err(double got, double ref, double scale);

#endif
