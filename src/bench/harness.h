/*
 * harness.h — the benchmark harness: one run's results (struct bench_run),
 * the sampling loop over an injectable sample source, the derived figures
 * (GB/s, % of ceiling, speedups), the PyTorch figures file, and the run as
 * JSON (the baseline format of bench/h200.json).
 *
 * The kernels themselves and how a sample is taken on the GPU or the CPU are
 * in suite.h; this file knows nothing of CUDA, so statistics, JSON and the
 * gate are tested with a synthetic sample source.
 *
 * Sections: results; sampling; derived figures; torch figures; JSON.
 */
#ifndef GPUOPS_BENCH_HARNESS_H
#define GPUOPS_BENCH_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "bench/stats.h"

/* ---- results --------------------------------------------------------------------- */

enum bench_status {
  BENCH_OK = 0,      /* checked and timed */
  BENCH_FAILED,      /* the correctness check failed: not timed */
  BENCH_UNSUPPORTED, /* this variant does not handle this shape: not timed */
  BENCH_ERROR,       /* a launch or driver error: not timed */
};
const char *bench_status_name(enum bench_status s); /* "ok", "FAILED", "unsupported", "error" */

/* The vendor library's row has variant_no -1; its name is the kernel descriptor's
   ("cub" for reduce, "cublaslt" for gemm). The baseline is always variant 0. */

struct bench_result {
  char kernel[32];  /* "softmax" */
  char size[48];    /* "bf16-4096x50304" */
  char variant[32]; /* "2-regs", "0-naive", "cub", "cpu-ref" */
  int variant_no;   /* 0 = the naive baseline; -1 vendor; -2 CPU reference */
  enum bench_status status;
  char note[256];        /* why FAILED/unsupported/error, else the stop reason */
  struct bench_stats st; /* milliseconds */
  double bytes;          /* per call, the fewest bytes it must move */
  double flops;          /* per call */
  char ceiling[16];      /* "copy", "read" or "matrix": which ceiling it is held to */
  double max_err;        /* the check's largest error (its meaning per kernel: docs/kernels.md) */
  double tol;            /* the threshold it was held to */
};

struct bench_ceiling {
  char name[24]; /* "copy", "read" (the fastest flavour of each), "copy/2-memcpy", ... */
  double bytes;  /* per call, bytes counted (copy: read + write) */
  double flops;  /* per call, FLOPs counted: > 0 for the matrix-rate ceiling, which kernels
                    are held to by TFLOP/s instead of GB/s */
  struct bench_stats st;
};

#define BENCH_MAX_CEILINGS 12

struct bench_run {
  char mode[8];      /* "gpu" or "cpu" */
  char gpu_name[96]; /* "NVIDIA H200"; "CPU" in CPU mode: the gate matches on this */
  char driver[32];   /* "580.159.04", "" if unknown */
  char cuda[32];     /* "runtime 13.0, driver 13.0" */
  double sm_clock_before_mhz, sm_clock_after_mhz; /* 0 when unknown */
  bool throttled;    /* the SM clock dropped by more than 3 % during the run */
  char command[512]; /* the command line that made it */
  char commit[48];   /* gpuops commit */
  char date[32];     /* ISO 8601 UTC */
  char host[64];
  double max_noise; /* --max-noise used */
  bool hot;         /* --hot: no L2 flush between samples */
  char flush[8];    /* "write" (memset, the default), "read" (--flush read), "none" (--hot) */
  int nceilings;
  struct bench_ceiling ceilings[BENCH_MAX_CEILINGS];
  int nresults, cap;
  struct bench_result *results; /* owned */
};

void bench_run_init(struct bench_run *r);
void bench_run_free(struct bench_run *r);
/* Append a copy of res. 0 or ERR_NOMEM. */
int bench_run_add(struct bench_run *r, const struct bench_result *res);
/* The result for (kernel, size, variant), or NULL. */
const struct bench_result *bench_run_find(const struct bench_run *r, const char *kernel,
                                          const char *size, const char *variant);
/* The ceiling named name, or NULL. */
const struct bench_ceiling *bench_run_ceiling(const struct bench_run *r, const char *name);

/* ---- sampling ---------------------------------------------------------------------- */

/*
 * Where samples come from: sample() runs the case once and writes its time in
 * ms (the GPU source times with CUDA events around the launch, the CPU source
 * with the monotonic clock; tests plant synthetic times). 0 or a negative code.
 */
struct bench_source {
  int (*sample)(void *ctx, double *ms);
  void *ctx;
};

/*
 * Sample until the stop rule says so; summarize into *out and name the stop
 * reason in reason (may be NULL). Wall time for the time limit is read with
 * the monotonic clock. Returns 0 or the source's error.
 */
int bench_measure(const struct bench_source *src, const struct bench_stop *stop,
                  struct bench_stats *out, char *reason, size_t reason_len);

/* ---- derived figures ------------------------------------------------------------- */

struct bench_derived {
  double gbps;        /* bytes / median; 0 when not timed */
  double tflops;      /* flops / median */
  double pct_ceiling; /* gbps (tflops for the matrix ceiling) over the ceiling's, in %; 0 when unknown */
  double speedup;     /* baseline (variant 0) median / this median; 0 when unknown */
  double vs_vendor;   /* vendor median / this median (> 1: faster than the vendor) */
  double vs_torch;    /* torch median / this median (> 1: faster than PyTorch) */
};

struct bench_torch; /* PyTorch figures, below */

/* Figures of res within run; torch may be NULL. */
void bench_derive(const struct bench_run *run, const struct bench_result *res,
                  const struct bench_torch *torch, struct bench_derived *out);

/* ---- torch figures ------------------------------------------------------------------ */

/*
 * PyTorch's medians on the same shapes, as scripts/gpu-bench writes them:
 * {"torch": "2.11.0+cu130", "device": "NVIDIA H200",
 *  "entries": [{"kernel": "softmax", "size": "bf16-4096x50304", "median_ms": 0.36}, ...]}
 */
struct bench_torch {
  char version[64], device[96];
  int n;
  struct {
    char kernel[32], size[48];
    double median_ms;
  } * e; /* owned */
};

/* Load path; ERR_IO/ERR_PARSE/ERR_INVALID with the file and the field in err_msg(). */
int bench_torch_load(const char *path, struct bench_torch *out);
void bench_torch_free(struct bench_torch *t);
/* PyTorch's median for (kernel, size) in ms, or 0 when absent. */
double bench_torch_median(const struct bench_torch *t, const char *kernel, const char *size);

/* ---- JSON --------------------------------------------------------------------------- */

/* The run as JSON (schema "gpuops-bench/1"); torch may be NULL. New reference, NULL on OOM. */
json_t *bench_run_to_json(const struct bench_run *r, const struct bench_torch *torch);
/* Parse what bench_run_to_json wrote; `what` names the source in messages. 0, ERR_PARSE, ERR_NOMEM.
 */
int bench_run_from_json(const json_t *doc, const char *what, struct bench_run *out);
/* Load a baseline file. 0, ERR_IO, ERR_PARSE (file and field in err_msg()). */
int bench_run_load(const char *path, struct bench_run *out);

#endif
