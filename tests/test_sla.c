/*
 * test_sla.c — SLA strings, load ranges, judging a point, and the SLA search
 * (load/sla.h, load/range.h) over synthetic latency curves given as the
 * measure callback: a monotone queueing curve (the answer is known in closed
 * form), the same curve with seeded noise, a cliff, a range that meets
 * everywhere, a lowest load that misses, failed requests, unstable points and
 * a failing measurement. Deterministic: no server, no clock.
 *
 * End to end: the search through the load generator against `gpuops serve`
 * (a separate process on loopback) running the "sleep" test model with
 * max_batch_size 1 and one instance: one executor busy a fixed service time
 * S per request, an M/D/1 queue under Poisson arrivals, whose p90 latency is
 * known in closed form; the search must land within a stated band of the
 * analytic rate.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "load/range.h"
#include "load/payload.h"
#include "load/server.h"
#include "load/sla.h"
#include "load/sweep.h"
#include <stdlib.h>
#include <unistd.h>

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
  static const char *bad[] = {"p99",      "=50ms",    "p99=",     "p99=50",  "p99=50xs",
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
  static const char *bad[] = {"",        "a:b",   "10:1", "0:10", "1:10:0", "1:10:-1",
                              "1:2:3:4", "1.5:4", "1:",   ":5",   "1:1e9"};
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
  for (int i = 0; i < y->calls; i++)
    cr_assert_neq(y->seen[i], load, "load %g measured twice", load);
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

/* --- end to end: an M/D/1 server --- */

/*
 * P(W <= t) for the FIFO M/D/1 queue's waiting time (arrival rate lam,
 * service S; Erlang's formula): (1 - rho) sum_{k=0}^{floor(t/S)}
 * [lam (k S - t)]^k / k! e^{-lam (k S - t)}. Fine for t/S up to ~10.
 */
static double md1_wait_cdf(double t, double lam, double S) {
  double sum = 0;
  for (int k = 0; k <= (int)floor(t / S); k++) {
    double x = lam * (k * S - t), term = exp(-x);
    for (int j = 1; j <= k; j++) term *= x / j;
    sum += term;
  }
  return (1 - lam * S) * sum;
}

/* The highest rate whose sojourn time (wait + S) meets percentile q at limit L. */
static double md1_rate_for(double S, double L, double q) {
  double lo = 0, hi = 1 / S;
  for (int i = 0; i < 60; i++) {
    double mid = (lo + hi) / 2;
    if (md1_wait_cdf(L - S, mid, S) >= q)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

Test(sla_e2e, md1_cdf_matches_known_values) {
  /* rho = 0.5: P(W = 0) = 1 - rho; the mean wait rho S / (2 (1 - rho)) = S/2 */
  cr_assert_float_eq(md1_wait_cdf(0, 0.5, 1), 0.5, 1e-12);
  double mean = 0, dt = 0.001; /* E[W] = integral of 1 - F */
  for (double t = 0; t < 12; t += dt) mean += (1 - md1_wait_cdf(t + dt / 2, 0.5, 1)) * dt;
  cr_assert_float_eq(mean, 0.5, 2e-3, "mean wait %g", mean);
}

/* `gpuops model create --type sleep` into dir, then `gpuops serve dir` with batches of 1. */
static void start_sleep_server(struct load_server *srv, char *dir, char *log, int service_us) {
  const char *bin = getenv("GPUOPS_BIN");
  cr_assert_not_null(bin, "GPUOPS_BIN not set: run through ctest");
  cr_assert_not_null(mkdtemp(dir));
  char cmd[1024], model[512];
  snprintf(model, sizeof model, "%s/md1", dir);
  snprintf(cmd, sizeof cmd,
           "'%s' model create --type sleep --width 16 --service-us %d -o '%s' >/dev/null", bin,
           service_us, model);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  snprintf(log, 600, "%s/serve.log", dir);
  char *argv[] = {(char *)bin, "serve",       model, "--listen", "127.0.0.1:0", "--max-batch-size",
                  "1",         "--instances", "1",   "--device", "cpu",         NULL};
  cr_assert_eq(load_server_start(argv, NULL, log, 20, srv), 0, "%s", err_msg());
}

/* Random infer bodies for the model, from its metadata (as gpuops load --model makes them). */
static void bodies_for(const char *base, struct payload_set *ps) {
  json_t *meta;
  struct payload_model m;
  cr_assert_eq(payload_fetch(base, "md1", 5, &meta), 0, "%s", err_msg());
  cr_assert_eq(payload_model_parse(meta, 1, NULL, &m), 0, "%s", err_msg());
  json_decref(meta);
  cr_assert_eq(payload_generate(&m, 8, false, 1, ps), 0, "%s", err_msg());
}

/*
 * S = 4 ms configured; the executor's real occupancy per request (S plus the
 * server's work) is measured first with a closed loop of 4, which keeps the one
 * worker always busy, so throughput = 1 / S_eff. The search runs Poisson
 * arrivals over 10%..120% of 1/S_eff in steps of 2%, SLA p90 <= 5 S_eff. The
 * analytic M/D/1 answer for that SLA is about 0.77 / S_eff; the found rate must
 * be within -55%..+25% of it (the worker is not strictly FIFO and this machine
 * is shared), and never above capacity.
 */
Test(sla_e2e, search_finds_the_md1_rate, .timeout = 240) {
  struct load_server srv;
  char dir[] = "/tmp/gpuops-test-sla-XXXXXX", log[600];
  start_sleep_server(&srv, dir, log, 4000);
  char url[256];
  snprintf(url, sizeof url, "%s/v2/models/md1/infer", srv.url);
  struct payload_set ps;
  bodies_for(srv.url, &ps);
  static const char *hdr[] = {"Content-Type: application/json"};
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.method = "POST", c.bodies = ps.bodies, c.n_bodies = ps.n;
  c.headers = hdr, c.n_headers = 1;
  /* Real time on a shared machine (CI runs the ASan suite too): a slow moment can wreck one
     search, so a miss is measured again once; a search that ignored the SLA (at capacity or
     beyond) or gave up (at the lowest rate) misses both times. */
  double S = 0, mu = 0, want = 0, got = 0;
  int attempt;
  for (attempt = 1; attempt <= 2; attempt++) {
    c.mode = LOAD_CLOSED, c.concurrency = 4, c.duration_s = 1, c.poisson = false;
    struct load_point busy;
    struct load_sweep sw = {&c, 0, NULL};
    cr_assert_eq(load_sweep_measure(&sw, 4, &busy), 0, "%s", err_msg());
    S = 1 / busy.throughput, mu = busy.throughput;
    cr_assert(S > 0.004 && S < 0.008, "occupancy %g ms", S * 1e3);
    struct sla sla = {90, (int64_t)(5 * S * 1e9)};
    want = md1_rate_for(S, 5 * S, 0.90);
    c.mode = LOAD_OPEN, c.poisson = true, c.seed = 3, c.window_s = 1, c.duration_s = 5;
    c.percentile = 90;
    sw.sla_pct = 90;
    struct load_range r = {round(0.1 * mu), round(1.2 * mu), round(0.02 * mu)};
    struct sla_result res;
    cr_assert_eq(sla_search(&sla, &r, load_sweep_measure, &sw, &res), 0, "%s", err_msg());
    int best = res.best, n = res.n;
    got = best >= 0 ? res.points[best].load : 0;
    sla_result_free(&res);
    cr_assert_geq(best, 0, "the lowest rate should meet p90 <= %.1f ms", 5 * S * 1e3);
    cr_log_info("attempt %d: S_eff %.3f ms, analytic %.1f req/s, found %.1f req/s in %d points",
                attempt, S * 1e3, want, got, n);
    if (got >= 0.45 * want && got <= 1.25 * want) break;
  }
  cr_assert_eq(load_server_stop(&srv, 10), 0, "the server drains and exits 0 on SIGTERM");
  payload_set_free(&ps);
  snprintf(url, sizeof url, "rm -rf '%s'", dir);
  cr_assert_eq(system(url), 0);
  cr_assert(got >= 0.45 * want && got <= 1.25 * want, "found %.1f req/s, analytic %.1f (%d tries)",
            got, want, attempt > 2 ? 2 : attempt);
  cr_assert_leq(got, mu * 1.02, "above the server's capacity %.1f", mu);
}
