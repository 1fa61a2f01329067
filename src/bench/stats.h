/*
 * stats.h — statistics of timing samples and the rule that says when to stop
 * sampling (docs/kernels.md, "Harness", defines each figure).
 *
 * noise is the relative standard deviation of the samples: the sample
 * standard deviation (n - 1 in the denominator) divided by the mean, as a
 * fraction (0.005 = 0.5 %). It is 0 for a single sample.
 *
 * Sections: summary statistics; running accumulator; stop rule.
 */
#ifndef GPUOPS_BENCH_STATS_H
#define GPUOPS_BENCH_STATS_H

#include <stdbool.h>

/* ---- summary statistics ---------------------------------------------------- */

struct bench_stats {
  int n;                   /* samples */
  double min, median, p90; /* same unit as the samples (ms in the harness) */
  double mean, stddev;
  double noise; /* stddev / mean, a fraction */
};

/*
 * Summarize samples[0..n): median is the middle value (mean of the two middle
 * ones for even n), p90 the nearest-rank 90th percentile (the ceil(0.9 n)-th
 * smallest). Returns 0, ERR_INVALID for n < 1 or a sample that is not a
 * finite number >= 0, ERR_NOMEM. samples is not modified. Any thread.
 */
int bench_stats_compute(const double *samples, int n, struct bench_stats *out);

/* ---- running accumulator (Welford): mean and noise without a pass ------------ */

struct bench_acc {
  int n;
  double mean, m2;
};

void bench_acc_init(struct bench_acc *a);
void bench_acc_add(struct bench_acc *a, double x);
/* stddev / mean with the n - 1 denominator; 0 when n < 2 or the mean is 0. */
double bench_acc_noise(const struct bench_acc *a);

/* ---- stop rule ----------------------------------------------------------------- */

struct bench_stop {
  double max_noise;  /* stop once noise < this (fraction); --max-noise, default 0.005 */
  int min_samples;   /* never judge noise on fewer (default 10) */
  int max_samples;   /* hard cap (default 500) */
  double max_time_s; /* stop after this much wall time once 3 samples exist (default 1.0) */
};

enum bench_stop_reason {
  BENCH_STOP_MORE = 0, /* keep sampling */
  BENCH_STOP_NOISE,    /* noise under max_noise with at least min_samples */
  BENCH_STOP_SAMPLES,  /* max_samples reached */
  BENCH_STOP_TIME,     /* the time limit, with at least 3 samples */
};

void bench_stop_defaults(struct bench_stop *s);
/* What to do after n samples whose noise is `noise`, elapsed_s into the case. */
enum bench_stop_reason bench_stop_check(const struct bench_stop *s, int n, double noise,
                                        double elapsed_s);
/* "noise", "samples", "time", "more". */
const char *bench_stop_reason_name(enum bench_stop_reason r);

#endif
