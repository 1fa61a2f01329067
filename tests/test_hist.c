/*
 * test_hist.c — the latency histogram (base/hist.h): percentiles against the
 * exact nearest-rank percentiles of known data sets (uniform, log-normal,
 * bimodal, a single value, extremes) within 0.1% relative; merge equals one
 * histogram of everything; empty, reset and clamping.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "base/hist.h"
#include "base/rng.h"

static const double PCTS[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
enum { N_PCTS = sizeof PCTS / sizeof PCTS[0] };

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Exact value at percentile p: the sample of rank ceil(p/100 * n), at least 1. */
static int64_t exact(const int64_t *sorted, size_t n, double p) {
  double want = ceil(p / 100.0 * (double)n - 1e-9);
  size_t rank = want < 1 ? 1 : (size_t)want;
  return sorted[rank > n ? n - 1 : rank - 1];
}

/* Record data[] and compare every percentile with the exact one. */
static void check_accuracy(int64_t *data, size_t n, const char *what) {
  struct hist *h = hist_new();
  cr_assert_not_null(h);
  for (size_t i = 0; i < n; i++) hist_record(h, data[i]);
  qsort(data, n, sizeof *data, cmp64);
  cr_assert_eq(hist_count(h), n);
  cr_assert_eq(hist_min(h), data[0], "%s: min", what);
  cr_assert_eq(hist_max(h), data[n - 1], "%s: max", what);
  for (int i = 0; i < N_PCTS; i++) {
    int64_t want = exact(data, n, PCTS[i]), got = hist_percentile(h, PCTS[i]);
    double rel = fabs((double)(got - want)) / (double)(want ? want : 1);
    cr_assert(rel <= 0.001, "%s p%g: got %lld, exact %lld (%.4f%% off)", what, PCTS[i],
              (long long)got, (long long)want, rel * 100);
  }
  long double sum = 0;
  for (size_t i = 0; i < n; i++) sum += data[i];
  cr_assert(fabs(hist_mean(h) - (double)(sum / n)) <= 1e-6 * (double)(sum / n) + 1e-9, "%s: mean",
            what);
  hist_free(h);
}

enum { N = 200000 };

Test(hist, uniform) {
  int64_t *d = malloc(N * sizeof *d);
  struct rng r;
  rng_seed(&r, 1);
  for (int i = 0; i < N; i++) d[i] = 1 + (int64_t)rng_below(&r, 1000000000);
  check_accuracy(d, N, "uniform 1ns..1s");
  free(d);
}

Test(hist, lognormal) {
  int64_t *d = malloc(N * sizeof *d);
  struct rng r;
  rng_seed(&r, 2);
  for (int i = 0; i < N; i++) d[i] = (int64_t)exp(log(1e6) + 1.5 * rng_normal(&r)) + 1;
  check_accuracy(d, N, "log-normal around 1ms");
  free(d);
}

Test(hist, bimodal) {
  int64_t *d = malloc(N * sizeof *d);
  struct rng r;
  rng_seed(&r, 3);
  for (int i = 0; i < N; i++) {
    double v = i % 10 ? 100e3 + 5e3 * rng_normal(&r) : 50e6 + 2e6 * rng_normal(&r);
    d[i] = v < 1 ? 1 : (int64_t)v;
  }
  check_accuracy(d, N, "bimodal 100us/50ms");
  free(d);
}

Test(hist, small_values_are_exact) {
  int64_t d[2048];
  for (int i = 0; i < 2048; i++) d[i] = 2047 - i;
  check_accuracy(d, 2048, "0..2047");
  struct hist *h = hist_new();
  for (int i = 1; i <= 100; i++) hist_record(h, i);
  cr_assert_eq(hist_percentile(h, 50), 50);
  cr_assert_eq(hist_percentile(h, 99), 99);
  cr_assert_eq(hist_percentile(h, 99.5), 100);
  cr_assert_eq(hist_percentile(h, 0), 1);
  cr_assert_eq(hist_percentile(h, 100), 100);
  hist_free(h);
}

Test(hist, single_value) {
  struct hist *h = hist_new();
  hist_record(h, 123456789);
  for (int i = 0; i < N_PCTS; i++) cr_assert_eq(hist_percentile(h, PCTS[i]), 123456789);
  cr_assert_eq(hist_min(h), 123456789);
  cr_assert_eq(hist_mean(h), 123456789.0);
  hist_free(h);
}

Test(hist, extremes_and_clamping) {
  int64_t d[] = {1, 2, 1000, 3600LL * 1000000000, HIST_MAX_NS, 999999999999LL};
  check_accuracy(d, sizeof d / sizeof d[0], "extremes");
  struct hist *h = hist_new();
  hist_record(h, -5);
  hist_record(h, INT64_MAX);
  cr_assert_eq(hist_min(h), 0);
  cr_assert_eq(hist_max(h), HIST_MAX_NS);
  cr_assert_eq(hist_percentile(h, 100), HIST_MAX_NS);
  cr_assert_eq(hist_percentile(h, 50), 0);
  hist_free(h);
}

Test(hist, empty_and_reset) {
  struct hist *h = hist_new();
  cr_assert_eq(hist_count(h), 0);
  cr_assert_eq(hist_percentile(h, 99), 0);
  cr_assert_eq(hist_mean(h), 0);
  hist_record_n(h, 5000, 10);
  cr_assert_eq(hist_count(h), 10);
  cr_assert_eq(hist_percentile(h, 50), 5000);
  hist_reset(h);
  cr_assert_eq(hist_count(h), 0);
  cr_assert_eq(hist_max(h), 0);
  cr_assert_eq(hist_percentile(h, 50), 0);
  hist_free(h);
}

Test(hist, merge_equals_one_histogram) {
  struct hist *all = hist_new(), *part[4], *merged = hist_new();
  for (int k = 0; k < 4; k++) part[k] = hist_new();
  struct rng r;
  rng_seed(&r, 4);
  for (int i = 0; i < 100000; i++) {
    int64_t v = (int64_t)exp(log(2e5) + 2 * rng_normal(&r));
    hist_record(all, v);
    hist_record(part[i % 4], v);
  }
  hist_merge(merged, part[0]); /* into an empty one */
  for (int k = 1; k < 4; k++) hist_merge(merged, part[k]);
  cr_assert_eq(hist_count(merged), hist_count(all));
  cr_assert_eq(hist_min(merged), hist_min(all));
  cr_assert_eq(hist_max(merged), hist_max(all));
  cr_assert_float_eq(hist_mean(merged), hist_mean(all), 1e-6 * hist_mean(all));
  for (double p = 0.5; p <= 100; p += 0.5)
    cr_assert_eq(hist_percentile(merged, p), hist_percentile(all, p), "p%g", p);
  for (int k = 0; k < 4; k++) hist_free(part[k]);
  hist_free(all);
  hist_free(merged);
}
