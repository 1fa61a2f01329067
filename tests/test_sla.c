/*
 * test_sla.c — SLA strings, load ranges, judging a point, and the SLA search
 * (load/sla.h, load/range.h) over synthetic latency curves given as the
 * measure callback: a monotone queueing curve (the answer is known in closed
 * form), the same curve with seeded noise, a cliff, a range that meets
 * everywhere, a lowest load that misses, failed requests, unstable points and
 * a failing measurement. Deterministic: no server, no clock.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "load/range.h"
#include "load/sla.h"

/* --- SLA strings --- */

Test(sla, parse_accepts_the_documented_forms) {
  struct sla s;
  cr_assert_eq(sla_parse("p99=50ms", &s), 0);
  cr_assert_eq(s.percentile, 99);
  cr_assert_eq(s.limit_ns, 50000000);
  cr_assert_eq(sla_parse("p99.9=1.5s", &s), 0);
  cr_assert_eq(s.percentile, 99.9);
  cr_assert_eq(s.limit_ns, 1500000000);
  cr_assert_eq(sla_parse("p50=800us", &s), 0);
  cr_assert_eq(s.percentile, 50);
  cr_assert_eq(s.limit_ns, 800000);
  char buf[32];
  sla_format(&s, buf, sizeof buf);
  cr_assert_str_eq(buf, "p50<=800us");
}

Test(sla, parse_rejects_bad_strings_with_a_message) {
  static const char *bad[] = {"p99",      "=50ms",    "p99=",    "p99=50",   "p99=50xs",
                              "p98=50ms", "q99=50ms", "p99=-1ms", "p99=0ms", "99=50ms",
                              "p99=2h",   "p99x=5ms", "p99=5ms!"};
  struct sla s;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cr_assert_eq(sla_parse(bad[i], &s), ERR_INVALID, "'%s' accepted", bad[i]);
    cr_assert_not_null(strstr(err_msg(), "--sla"), "message for '%s': %s", bad[i], err_msg());
  }
}

/* --- ranges --- */

Test(range, parse_and_grid) {
  struct load_range r;
  cr_assert_eq(load_range_parse("100:1000:100", false, 1e7, "--rate-range", &r), 0);
  cr_assert_eq(load_range_count(&r), 10);
  cr_assert_eq(load_range_at(&r, 9), 1000);
  cr_assert_eq(load_range_parse("1:8", true, 1e5, "--concurrency-range", &r), 0);
  cr_assert_eq(load_range_count(&r), 8);
  cr_assert_eq(load_range_parse("4", true, 1e5, "--concurrency-range", &r), 0);
  cr_assert_eq(load_range_count(&r), 1);
  cr_assert_eq(load_range_parse("1:10:4", true, 1e5, "--concurrency-range", &r), 0);
  cr_assert_eq(load_range_count(&r), 3, "1, 5, 9");
}

Test(range, parse_rejects_bad_ranges) {
  static const char *bad[] = {"",    "a:b", "10:1", "0:10", "1:10:0", "1:10:-1", "1:2:3:4",
                              "1.5:4", "1:", ":5", "1:1e9"};
  struct load_range r;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cr_assert_eq(load_range_parse(bad[i], true, 1e5, "--concurrency-range", &r), ERR_INVALID,
                 "'%s' accepted", bad[i]);
    cr_assert_not_null(strstr(err_msg(), "--concurrency-range"), "%s", err_msg());
  }
}

/* --- judging --- */

Test(sla, judge) {
  struct sla s = {99, 10000000};
  struct load_point p = {.ok = 100, .sla_ns = 9000000, .sla_worst_ns = 9500000, .stable = true};
  cr_assert(sla_judge(&s, &p));
  p.errors = 1;
  cr_assert_not(sla_judge(&s, &p), "a failed request misses the SLA");
  p.errors = 0, p.sla_ns = 10000001;
  cr_assert_not(sla_judge(&s, &p));
  p.sla_ns = 9000000, p.stable = false, p.sla_worst_ns = 12000000;
  cr_assert_not(sla_judge(&s, &p), "unstable, and one window over the limit");
  p.sla_worst_ns = 9900000;
  cr_assert(sla_judge(&s, &p), "unstable but every window within");
  p.ok = 0;
  cr_assert_not(sla_judge(&s, &p), "no answer at all");
}

/* --- synthetic curves --- */

enum curve { MONOTONE, NOISY, CLIFF, FAILS_AT };

struct synth {
  enum curve kind;
  double capacity;   /* MONOTONE/NOISY: the load where latency diverges */
  double service_ms; /* latency at zero load */
  double cliff;      /* CLIFF: loads above this take 1 s */
  double fail_at;    /* FAILS_AT: the callback fails at this load */
  struct rng rng;
  int calls;
  double seen[64];
};

/* p99 = S / (1 - load / capacity) (an M/M/1-like queue), in ns. */
static int64_t queue_ns(const struct synth *y, double load) {
  if (load >= y->capacity) return INT64_C(60) * 1000000000;
  return (int64_t)(y->service_ms * 1e6 / (1 - load / y->capacity));
}

static int measure(void *ctx, double load, struct load_point *p) {
  struct synth *y = ctx;
  for (int i = 0; i < y->calls; i++) cr_assert_neq(y->seen[i], load, "load %g measured twice", load);
  cr_assert_lt(y->calls, 64);
  y->seen[y->calls++] = load;
  if (y->kind == FAILS_AT && load >= y->fail_at) return err_set(ERR_IO, "server went away");
  int64_t v = queue_ns(y, load);
  if (y->kind == NOISY) v = (int64_t)(v * (1 + 0.1 * (rng_uniform(&y->rng) - 0.5)));
  if (y->kind == CLIFF) v = load > y->cliff ? 1000000000 : 2000000;
  p->ok = 1000, p->throughput = load, p->stable = true;
  p->sla_ns = p->sla_worst_ns = v;
  return 0;
}

static double best_load(const struct sla_result *r) {
  return r->best < 0 ? -1 : r->points[r->best].load;
}

Test(sla_search, monotone_curve_finds_the_analytic_answer) {
  /* S = 2 ms, capacity 1000/s, SLA p99 <= 20 ms: 2 / (1 - x/1000) = 20 at x = 900 */
  struct synth y = {.kind = MONOTONE, .capacity = 1000, .service_ms = 2};
  struct sla s = {99, 20000000};
  struct load_range r = {10, 2000, 10};
  struct sla_result res;
  cr_assert_eq(sla_search(&s, &r, measure, &y, &res), 0);
  cr_assert_eq(best_load(&res), 900, "found %g", best_load(&res));
  cr_assert(res.points[res.best].meets);
  cr_assert_lt(res.n, 20, "bracketing + bisection on 200 points took %d measurements", res.n);
  for (int i = 0; i < res.n; i++)
    cr_assert_eq(res.points[i].meets, res.points[i].load <= 900, "load %g judged %d",
                 res.points[i].load, res.points[i].meets);
  sla_result_free(&res);
}

Test(sla_search, noisy_curve_lands_near_the_answer) {
  struct sla s = {99, 20000000};
  struct load_range r = {10, 2000, 10};
  for (uint64_t seed = 1; seed <= 20; seed++) {
    struct synth y = {.kind = NOISY, .capacity = 1000, .service_ms = 2};
    rng_seed(&y.rng, seed);
    struct sla_result res;
    cr_assert_eq(sla_search(&s, &r, measure, &y, &res), 0);
    /* +-5% noise on a curve of slope ~ 10%/10 req/s near 900: within 20 req/s of 900 */
    cr_assert(fabs(best_load(&res) - 900) <= 20, "seed %llu: found %g", (unsigned long long)seed,
              best_load(&res));
    cr_assert(res.points[res.best].meets);
    sla_result_free(&res);
  }
}

Test(sla_search, cliff_is_found_exactly) {
  struct synth y = {.kind = CLIFF, .cliff = 737};
  struct sla s = {99, 50000000};
  struct load_range r = {1, 1000, 1};
  struct sla_result res;
  cr_assert_eq(sla_search(&s, &r, measure, &y, &res), 0);
  cr_assert_eq(best_load(&res), 737);
  cr_assert_lt(res.n, 25);
  sla_result_free(&res);
}

Test(sla_search, whole_range_meets_gives_the_top) {
  struct synth y = {.kind = MONOTONE, .capacity = 1e6, .service_ms = 1};
  struct sla s = {99, 50000000};
  struct load_range r = {1, 64, 1};
  struct sla_result res;
  cr_assert_eq(sla_search(&s, &r, measure, &y, &res), 0);
  cr_assert_eq(best_load(&res), 64);
  cr_assert_eq(res.n, 7, "1 2 4 8 16 32 64: %d", res.n);
  sla_result_free(&res);
}

Test(sla_search, lowest_load_missing_gives_none) {
  struct synth y = {.kind = MONOTONE, .capacity = 1000, .service_ms = 30};
  struct sla s = {99, 20000000};
  struct load_range r = {10, 1000, 10};
  struct sla_result res;
  cr_assert_eq(sla_search(&s, &r, measure, &y, &res), 0);
  cr_assert_eq(res.best, -1);
  cr_assert_eq(res.n, 1, "stops after the lowest load");
  cr_assert_not(res.points[0].meets);
  sla_result_free(&res);
}

Test(sla_search, measurement_error_is_returned_with_the_points_so_far) {
  struct synth y = {.kind = FAILS_AT, .capacity = 1000, .service_ms = 2, .fail_at = 300};
  struct sla s = {99, 20000000};
  struct load_range r = {10, 2000, 10};
  struct sla_result res;
  cr_assert_eq(sla_search(&s, &r, measure, &y, &res), ERR_IO);
  cr_assert_eq(res.n, 5, "10 20 40 80 160 measured, 320 failed: %d", res.n);
  cr_assert_eq(best_load(&res), 160);
  sla_result_free(&res);
}
