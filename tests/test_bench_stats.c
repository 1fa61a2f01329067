/* test_bench_stats.c — bench/stats: summary statistics, noise, the stop rule,
 * and the sampling loop over an injected sample source. */
#include <criterion/criterion.h>
#include <math.h>

#include "base/err.h"
#include "base/rng.h"
#include "bench/harness.h"
#include "bench/stats.h"

Test(bench_stats, known_values) {
  const double s[] = {5, 1, 4, 2, 3, 10, 6, 8, 7, 9};
  struct bench_stats st;
  cr_assert_eq(bench_stats_compute(s, 10, &st), 0);
  cr_assert_eq(st.n, 10);
  cr_assert_float_eq(st.min, 1.0, 1e-12);
  cr_assert_float_eq(st.median, 5.5, 1e-12); /* mean of the two middle values */
  cr_assert_float_eq(st.p90, 9.0, 1e-12);    /* nearest rank: the 9th smallest */
  cr_assert_float_eq(st.mean, 5.5, 1e-12);
  cr_assert_float_eq(st.stddev, sqrt(110.0 / 12.0), 1e-12); /* n - 1 denominator: var = 9.1667 */
  cr_assert_float_eq(st.noise, sqrt(110.0 / 12.0) / 5.5, 1e-12);
  cr_assert_float_eq(s[0], 5.0, 0, "input untouched");
}

Test(bench_stats, odd_count_and_single_sample) {
  const double s[] = {3, 1, 2};
  struct bench_stats st;
  cr_assert_eq(bench_stats_compute(s, 3, &st), 0);
  cr_assert_float_eq(st.median, 2.0, 1e-12);
  cr_assert_float_eq(st.p90, 3.0, 1e-12);
  cr_assert_eq(bench_stats_compute(s, 1, &st), 0);
  cr_assert_float_eq(st.noise, 0.0, 0);
  cr_assert_float_eq(st.median, 3.0, 0);
}

Test(bench_stats, rejects_empty_and_bad_samples) {
  struct bench_stats st;
  const double bad[] = {1.0, NAN};
  const double neg[] = {1.0, -2.0};
  cr_assert_eq(bench_stats_compute(bad, 0, &st), ERR_INVALID);
  cr_assert_eq(bench_stats_compute(bad, 2, &st), ERR_INVALID);
  cr_assert_eq(bench_stats_compute(neg, 2, &st), ERR_INVALID);
}

Test(bench_stats, welford_matches_two_pass) {
  struct rng r;
  rng_seed(&r, 3);
  double s[1000];
  struct bench_acc a;
  bench_acc_init(&a);
  for (int i = 0; i < 1000; i++) {
    s[i] = 1e3 + rng_normal(&r); /* a large mean: two-pass and Welford must agree anyway */
    bench_acc_add(&a, s[i]);
  }
  struct bench_stats st;
  cr_assert_eq(bench_stats_compute(s, 1000, &st), 0);
  cr_assert_float_eq(bench_acc_noise(&a), st.noise, 1e-12);
  cr_assert(st.noise > 0.0008 && st.noise < 0.0012, "noise %g of N(1000, 1)", st.noise);
}

Test(bench_stats, stop_rule) {
  struct bench_stop s;
  bench_stop_defaults(&s);
  cr_assert_float_eq(s.max_noise, 0.005, 0);
  cr_assert_eq(bench_stop_check(&s, 5, 0.0001, 0.0), BENCH_STOP_MORE, "fewer than min_samples");
  cr_assert_eq(bench_stop_check(&s, 10, 0.0049, 0.0), BENCH_STOP_NOISE);
  cr_assert_eq(bench_stop_check(&s, 10, 0.0051, 0.0), BENCH_STOP_MORE, "noise not under the limit");
  cr_assert_eq(bench_stop_check(&s, 2, 0.5, 5.0), BENCH_STOP_MORE,
               "the time limit needs 3 samples");
  cr_assert_eq(bench_stop_check(&s, 3, 0.5, 1.0), BENCH_STOP_TIME);
  cr_assert_eq(bench_stop_check(&s, 500, 0.5, 0.0), BENCH_STOP_SAMPLES);
  cr_assert_str_eq(bench_stop_reason_name(BENCH_STOP_NOISE), "noise");
}

/* A synthetic source: base_ms x (1 + sigma x N(0,1)), deterministic by seed. */
struct fake {
  struct rng r;
  double base_ms, sigma;
  int calls;
};

static int fake_sample(void *ctx, double *ms) {
  struct fake *f = ctx;
  f->calls++;
  *ms = f->base_ms * (1.0 + f->sigma * rng_normal(&f->r));
  return 0;
}

Test(bench_measure, quiet_source_stops_on_noise_at_min_samples) {
  struct fake f = {.base_ms = 2.0, .sigma = 0.001};
  rng_seed(&f.r, 1);
  struct bench_source src = {fake_sample, &f};
  struct bench_stop stop;
  bench_stop_defaults(&stop);
  struct bench_stats st;
  char why[64];
  cr_assert_eq(bench_measure(&src, &stop, &st, why, sizeof why), 0);
  cr_assert_eq(st.n, 10);
  cr_assert_eq(f.calls, 10);
  cr_assert_str_eq(why, "stopped on noise");
  cr_assert_float_eq(st.median, 2.0, 0.01);
}

Test(bench_measure, noisy_source_runs_to_the_sample_cap) {
  struct fake f = {.base_ms = 2.0, .sigma = 0.05}; /* 5 % noise never gets under 0.5 % */
  rng_seed(&f.r, 2);
  struct bench_source src = {fake_sample, &f};
  struct bench_stop stop;
  bench_stop_defaults(&stop);
  stop.max_samples = 200;
  stop.max_time_s = 1e9; /* the synthetic source takes no time anyway */
  struct bench_stats st;
  char why[64];
  cr_assert_eq(bench_measure(&src, &stop, &st, why, sizeof why), 0);
  cr_assert_eq(st.n, 200);
  cr_assert_str_eq(why, "stopped on samples");
  cr_assert(st.noise > 0.04 && st.noise < 0.06, "noise %g", st.noise);
}

static int failing_sample(void *ctx, double *ms) {
  (void)ctx;
  *ms = 0;
  return err_set(ERR_DRIVER, "launch failed");
}

Test(bench_measure, source_error_is_returned) {
  struct bench_source src = {failing_sample, NULL};
  struct bench_stop stop;
  bench_stop_defaults(&stop);
  struct bench_stats st;
  cr_assert_eq(bench_measure(&src, &stop, &st, NULL, 0), ERR_DRIVER);
}
