/*
 * suite.h — the kernels `gpuops bench` knows (descriptors: variants, sizes,
 * bytes and FLOPs each call must move and do, the ceiling each is held to) and
 * the two ways of running them: on the GPU through the CUDA plugin
 * (correctness first, then timing with events, L2 flushed between samples,
 * ceilings measured interleaved), or, without a GPU, the CPU references timed
 * with the same statistics (labelled CPU).
 *
 * Sections: descriptors; selection; running.
 */
#ifndef GPUOPS_BENCH_SUITE_H
#define GPUOPS_BENCH_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench/harness.h"
#include "bench/stats.h"
#include "kernels/cudaplugin.h"

/* ---- descriptors ------------------------------------------------------------------- */

enum bench_kernel_id { BK_REDUCE = 0, BK_TRANSPOSE, BK_SOFTMAX, BK_LAYERNORM, BK_RMSNORM, BK_GEMM };

enum bench_size_flags {
  BENCH_SIZE_GPU = 1,   /* benchmarked by default on the GPU */
  BENCH_SIZE_CPU = 2,   /* benchmarked by default in CPU mode */
  BENCH_SIZE_CHECK = 4, /* the small shape of the full correctness check */
};

struct bench_size {
  const char *name; /* "bf16-4096x50304", "2^28" */
  size_t n;         /* elements (reduce) */
  int rows, cols;   /* matrices; gemm: M and N */
  int dtype;        /* CUDAPLUGIN_F32 / CUDAPLUGIN_BF16 */
  unsigned flags;   /* bench_size_flags */
  int k;            /* gemm: K */
  int epi;          /* gemm: CUDAPLUGIN_EPI_* */
  const char *ceiling; /* NULL: the kernel's; else this size's ("read" for skinny GEMMs,
                          which are bound by reading W) */
};

#define BENCH_MAX_VARIANTS 40

struct bench_kernel {
  enum bench_kernel_id id;
  const char *name;    /* "softmax" */
  const char *summary; /* one line for --list */
  const char *ceiling; /* "read", "copy" or "matrix" */
  int nvariants;
  const char *variants[BENCH_MAX_VARIANTS]; /* index = variant number; [0] the naive baseline */
  const char *vendor; /* the vendor-library row's variant name ("cub", "cublaslt"), or NULL */
  int nsizes;
  const struct bench_size *sizes;
};

/* Every kernel; *n gets their number. Static storage. */
const struct bench_kernel *bench_suite_kernels(int *n);
/* By name, or NULL. */
const struct bench_kernel *bench_suite_find(const char *name);
/* Bytes each call must move at least (inputs once, outputs once) and FLOPs it does. */
double bench_suite_bytes(const struct bench_kernel *k, const struct bench_size *s);
double bench_suite_flops(const struct bench_kernel *k, const struct bench_size *s);

/* ---- selection ------------------------------------------------------------------ */

struct bench_options {
  const char *kernel;  /* NULL: all */
  const char *variant; /* NULL: all; "2", "regs", "2-regs" or the vendor row ("cub") */
  const char *size;    /* NULL: the mode's default sizes */
  bool hot;            /* no L2 flush between samples */
  bool flush_read;     /* flush L2 by reading 2 x L2 (clean lines) instead of writing it */
  struct bench_stop stop;
  FILE *log; /* progress lines (stderr), may be NULL */
};

/*
 * Check the selection against the descriptors: ERR_INVALID (exit 2) for an
 * unknown kernel, variant or size, with the valid ones listed in err_msg().
 */
int bench_suite_validate(const struct bench_options *o);

/* ---- running -------------------------------------------------------------------- */

/*
 * Run the selection on GPU 0 through the plugin: fill run's GPU fields and
 * append one result per (kernel, size, variant); the ceilings "copy" and
 * "read" are measured interleaved. A variant whose check fails is FAILED and
 * not timed. Returns 0 (failures are in the results), or a negative code when
 * the GPU itself failed (err_msg() says what).
 */
int bench_suite_run_gpu(const struct cudaplugin_api *api, const struct bench_options *o,
                        struct bench_run *run);

/* Without a GPU: time the CPU references (variant "cpu-ref") with the same stop rule. */
int bench_suite_run_cpu(const struct bench_options *o, struct bench_run *run);

#endif
