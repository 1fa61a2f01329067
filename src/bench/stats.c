/*
 * stats.c — summary statistics, the Welford accumulator and the stop rule
 * (see stats.h).
 */
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- summary statistics ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int bench_stats_compute(const double *samples, int n, struct bench_stats *out) {
  if (!samples || !out || n < 1) return err_set(ERR_INVALID, "bench stats: no samples");
  for (int i = 0; i < n; i++)
    if (!isfinite(samples[i]) || samples[i] < 0)
      return err_set(ERR_INVALID, "bench stats: sample %d is %g, not a finite time >= 0", i,
                     samples[i]);
  double *s = malloc((size_t)n * sizeof *s);
  if (!s) return err_set(ERR_NOMEM, "bench stats: %d samples", n);
  memcpy(s, samples, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  struct bench_acc a;
  bench_acc_init(&a);
  for (int i = 0; i < n; i++) bench_acc_add(&a, samples[i]);
  memset(out, 0, sizeof *out);
  out->n = n;
  out->min = s[0];
  out->median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  int rank = (int)ceil(0.9 * n); /* nearest rank, 1-based */
  out->p90 = s[(rank < 1 ? 1 : rank) - 1];
  out->mean = a.mean;
  out->stddev = n > 1 ? sqrt(a.m2 / (n - 1)) : 0.0;
  out->noise = bench_acc_noise(&a);
  free(s);
  return 0;
}

/* ---- running accumulator ------------------------------------------------------ */

void bench_acc_init(struct bench_acc *a) { memset(a, 0, sizeof *a); }

void bench_acc_add(struct bench_acc *a, double x) {
  a->n++;
  double d = x - a->mean;
  a->mean += d / a->n;
  a->m2 += d * (x - a->mean);
}

double bench_acc_noise(const struct bench_acc *a) {
  if (a->n < 2 || a->mean == 0.0) return 0.0;
  return sqrt(a->m2 / (a->n - 1)) / fabs(a->mean);
}

/* ---- stop rule ----------------------------------------------------------------- */

void bench_stop_defaults(struct bench_stop *s) {
  s->max_noise = 0.005;
  s->min_samples = 10;
  s->max_samples = 500;
  s->max_time_s = 1.0;
}

enum bench_stop_reason bench_stop_check(const struct bench_stop *s, int n, double noise,
                                        double elapsed_s) {
  if (n >= s->max_samples) return BENCH_STOP_SAMPLES;
  if (n >= s->min_samples && n >= 2 && noise < s->max_noise) return BENCH_STOP_NOISE;
  if (n >= 3 && elapsed_s >= s->max_time_s) return BENCH_STOP_TIME;
  return BENCH_STOP_MORE;
}

const char *bench_stop_reason_name(enum bench_stop_reason r) {
  switch (r) {
    case BENCH_STOP_NOISE: return "noise";
    case BENCH_STOP_SAMPLES: return "samples";
    case BENCH_STOP_TIME: return "time";
    default: return "more";
  }
}
