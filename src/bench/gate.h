/*
 * gate.h — the regression gate: this run against a stored baseline of the
 * same GPU model (bench/h200.json). A result regresses when its median is
 * slower than the baseline's by more than max(noise of the baseline result,
 * noise of this result, threshold); results present in only one run are
 * listed but never fail the gate.
 */
#ifndef GPUOPS_BENCH_GATE_H
#define GPUOPS_BENCH_GATE_H

#include <stdio.h>

#include "bench/harness.h"

struct bench_gate {
  int compared;    /* results timed in both runs */
  int regressions; /* of those, slower beyond the allowance */
  int missing;     /* timed in the baseline, not timed now (FAILED, unsupported, absent) */
};

/*
 * Compare cur against base; threshold is a fraction (--threshold, default
 * 0.05). Writes one line per regression (and per missing result) to report
 * (may be NULL). Returns 0, or ERR_INVALID when base is from another GPU
 * model (or another mode: CPU against GPU), with both names in err_msg().
 */
int bench_gate_check(const struct bench_run *base, const struct bench_run *cur, double threshold,
                     FILE *report, struct bench_gate *out);

/* The allowance for one pair: max(noise_base, noise_cur, threshold), a fraction. */
double bench_gate_allowance(double noise_base, double noise_cur, double threshold);

#endif
