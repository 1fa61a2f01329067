/*
 * metrics.h — `gpuops profile --metrics N`: the top N kernels re-run under
 * Nsight Compute, one ncu run of the command per kernel (--kernel-name-base
 * mangled, the kernel's own name; its second launch when it has several,
 * so the first-launch costs stay out), with a fixed metric set, and placed
 * on a roofline against the device's ceilings.
 *
 * The metric set (ncu names): gpu__time_duration.sum; dram__bytes_read.sum,
 * dram__bytes_write.sum; dram__throughput.avg.pct_of_peak_sustained_elapsed;
 * sm__throughput.avg.pct_of_peak_sustained_elapsed;
 * sm__warps_active.avg.pct_of_peak_sustained_active (achieved occupancy);
 * launch__registers_per_thread; l1tex__t_bytes_pipe_lsu_mem_local_op_{ld,st}.sum
 * (local-memory traffic: register spills); and the FP32/FP16 instruction
 * counts smsp__sass_thread_inst_executed_op_{fadd,fmul,ffma,hadd,hmul,hfma}_pred_on.sum,
 * from which FLOPs = add + mul + 2 fma (tensor-core work is not counted, so
 * a GEMM on tensor cores sits low on the chart: read its SM throughput).
 * ncu runs with --clock-control none: the card's clocks are left alone.
 *
 * Ceilings: the memory roof is the "copy" ceiling of a bench JSON
 * (bench/h200.json: a device-to-device copy, GB/s counting read + write);
 * the compute roof its "sgemm"/"fp32" ceiling when it has one, else the
 * FP32 SGEMM rate measured on the H200 here (50.6 TFLOP/s, DESIGN.md).
 */
#ifndef GPUOPS_PROFILE_METRICS_H
#define GPUOPS_PROFILE_METRICS_H

#include <jansson.h>
#include <stdio.h>

#include "profile/profile.h"

#define METRICS_DEFAULT_FLOPS 50.6e12 /* FP32 SGEMM on the H200, 2026-11-29 (DESIGN.md) */

struct metrics_ceilings {
  double bytes_per_s;  /* memory roof */
  double flops_per_s;  /* compute roof */
  char source[512];    /* where they came from, for the chart and the JSON */
};

/* Read the ceilings from a bench JSON (NULL: defaults, bytes_per_s 0 = no memory roof). 0 or ERR_IO/ERR_PARSE. */
int metrics_ceilings_load(const char *path, struct metrics_ceilings *c);

/*
 * Parse ncu's raw CSV page (--csv --page raw --print-units base): a header
 * row, a units row, one row per profiled kernel. Appends one object per
 * kernel to out: {"kernel", "metrics": {name: number}}, the metric set's
 * columns only. 0, or ERR_PARSE with the line.
 */
int metrics_parse_csv(const char *buf, size_t len, json_t *out);

/* Derived values of one parsed kernel: adds "flops", "dram_bytes",
 * "intensity" (FLOP/byte), "flops_per_s", "dram_gbps" where computable. */
void metrics_derive(json_t *kernel);

/* The roofline chart of the kernels (metrics_derive'd) against c. 0 or ERR_IO. */
int metrics_roofline(FILE *out, const json_t *kernels, const struct metrics_ceilings *c);

/*
 * Run the top n kernels of p (sorted by total time) under ncu, re-running
 * argv each time, and write dir/metrics.json and dir/roofline.svg. Returns
 * the number of kernels measured; ERR_NOLIB when ncu is not on PATH.
 */
int metrics_run(const struct profile *p, char *const *argv, int n, const char *dir,
                const struct metrics_ceilings *c, FILE *text);

#endif
