/* test_bench_gate.c — bench/gate and the run's JSON: runs are built from an
 * injected sample source (never real timings); a planted 2x slowdown is
 * caught, a change at noise level is not, and a baseline from another GPU
 * model is refused. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/rng.h"
#include "bench/gate.h"
#include "bench/harness.h"
#include "testutil.h"

struct fake {
  struct rng r;
  double base_ms, sigma;
};

static int fake_sample(void *ctx, double *ms) {
  struct fake *f = ctx;
  *ms = f->base_ms * (1.0 + f->sigma * rng_normal(&f->r));
  return 0;
}

/* One result measured from the fake source: median ~ base_ms. */
static void add_result(struct bench_run *run, const char *kernel, const char *variant, int vno,
                       double base_ms, double sigma, uint64_t seed) {
  struct fake f = {.base_ms = base_ms, .sigma = sigma};
  rng_seed(&f.r, seed);
  struct bench_source src = {fake_sample, &f};
  struct bench_stop stop;
  bench_stop_defaults(&stop);
  stop.max_time_s = 1e9;
  struct bench_result r = {0};
  snprintf(r.kernel, sizeof r.kernel, "%s", kernel);
  snprintf(r.size, sizeof r.size, "1x1");
  snprintf(r.variant, sizeof r.variant, "%s", variant);
  snprintf(r.ceiling, sizeof r.ceiling, "copy");
  r.variant_no = vno;
  r.bytes = 1e9;
  cr_assert_eq(bench_measure(&src, &stop, &r.st, r.note, sizeof r.note), 0);
  cr_assert_eq(bench_run_add(run, &r), 0);
}

/* A run of three variants on "GPU X"; slow multiplies variant 2's time. */
static void make_run(struct bench_run *run, const char *gpu, double slow, double sigma,
                     uint64_t seed) {
  bench_run_init(run);
  snprintf(run->mode, sizeof run->mode, "gpu");
  snprintf(run->gpu_name, sizeof run->gpu_name, "%s", gpu);
  run->nceilings = 1;
  snprintf(run->ceilings[0].name, sizeof run->ceilings[0].name, "copy");
  run->ceilings[0].bytes = 2e9;
  run->ceilings[0].st.median = 0.5; /* 4000 GB/s */
  add_result(run, "softmax", "0-naive", 0, 10.0, sigma, seed);
  add_result(run, "softmax", "1-block", 1, 1.0, sigma, seed + 1);
  add_result(run, "softmax", "2-regs", 2, 0.5 * slow, sigma, seed + 2);
}

Test(bench_gate, planted_2x_slowdown_is_caught) {
  struct bench_run base, cur;
  make_run(&base, "GPU X", 1.0, 0.002, 10);
  make_run(&cur, "GPU X", 2.0, 0.002, 20);
  struct bench_gate g;
  char *text = NULL;
  size_t len = 0;
  FILE *rep = open_memstream(&text, &len);
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, rep, &g), 0);
  fclose(rep);
  cr_assert_eq(g.compared, 3);
  cr_assert_eq(g.regressions, 1);
  cr_assert_not_null(strstr(text, "REGRESSION softmax 1x1 2-regs"), "%s", text);
  free(text);
  bench_run_free(&base);
  bench_run_free(&cur);
}

Test(bench_gate, noise_level_change_passes) {
  struct bench_run base, cur;
  make_run(&base, "GPU X", 1.0, 0.002, 10);
  make_run(&cur, "GPU X", 1.004, 0.002, 30); /* 0.4 %: within noise, far under 5 % */
  struct bench_gate g;
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, NULL, &g), 0);
  cr_assert_eq(g.compared, 3);
  cr_assert_eq(g.regressions, 0);
  bench_run_free(&base);
  bench_run_free(&cur);
}

Test(bench_gate, allowance_is_the_largest_of_noise_and_threshold) {
  cr_assert_float_eq(bench_gate_allowance(0.01, 0.02, 0.05), 0.05, 0);
  cr_assert_float_eq(bench_gate_allowance(0.08, 0.02, 0.05), 0.08, 0);
  cr_assert_float_eq(bench_gate_allowance(0.01, 0.09, 0.05), 0.09, 0);
  /* A 7 % slowdown passes when a run was 10 % noisy, fails at 1 % noise. */
  struct bench_run base, cur;
  make_run(&base, "GPU X", 1.0, 0.002, 10);
  make_run(&cur, "GPU X", 1.07, 0.002, 40);
  struct bench_gate g;
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, NULL, &g), 0);
  cr_assert_eq(g.regressions, 1);
  for (int i = 0; i < cur.nresults; i++) cur.results[i].st.noise = 0.10;
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, NULL, &g), 0);
  cr_assert_eq(g.regressions, 0);
  bench_run_free(&base);
  bench_run_free(&cur);
}

Test(bench_gate, other_gpu_model_is_refused) {
  struct bench_run base, cur;
  make_run(&base, "NVIDIA H100 80GB HBM3", 1.0, 0.002, 10);
  make_run(&cur, "NVIDIA H200", 1.0, 0.002, 10);
  struct bench_gate g;
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, NULL, &g), ERR_INVALID);
  cr_assert_not_null(strstr(err_msg(), "NVIDIA H100 80GB HBM3"), "%s", err_msg());
  cr_assert_not_null(strstr(err_msg(), "same GPU model"), "%s", err_msg());
  snprintf(cur.gpu_name, sizeof cur.gpu_name, "NVIDIA H100 80GB HBM3");
  snprintf(cur.mode, sizeof cur.mode, "cpu");
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, NULL, &g), ERR_INVALID,
               "CPU run against a GPU baseline");
  bench_run_free(&base);
  bench_run_free(&cur);
}

Test(bench_gate, failed_variant_counts_as_missing) {
  struct bench_run base, cur;
  make_run(&base, "GPU X", 1.0, 0.002, 10);
  make_run(&cur, "GPU X", 1.0, 0.002, 10);
  cur.results[2].status = BENCH_FAILED;
  struct bench_gate g;
  cr_assert_eq(bench_gate_check(&base, &cur, 0.05, NULL, &g), 0);
  cr_assert_eq(g.missing, 1);
  cr_assert_eq(g.compared, 2);
  bench_run_free(&base);
  bench_run_free(&cur);
}

Test(bench_json, round_trip_and_derived_figures) {
  struct bench_run run, back;
  make_run(&run, "NVIDIA H200", 1.0, 0.002, 10);
  snprintf(run.command, sizeof run.command, "gpuops bench");
  snprintf(run.driver, sizeof run.driver, "580.159.04");
  run.sm_clock_before_mhz = 1980;
  run.sm_clock_after_mhz = 1755;
  run.throttled = true;
  run.results[1].status = BENCH_FAILED;
  snprintf(run.results[1].note, sizeof run.results[1].note, "error 1 over 1e-4");
  json_t *doc = bench_run_to_json(&run, NULL);
  cr_assert_not_null(doc);
  /* derived: variant 2 at ~0.5 ms moves 1e9 B: ~2000 GB/s, 50 % of the 4000 GB/s ceiling, 20x the
   * naive 10 ms */
  json_t *r2 = json_array_get(json_object_get(doc, "results"), 2);
  cr_assert_float_eq(json_real_value(json_object_get(r2, "gbps")), 2000, 20);
  cr_assert_float_eq(json_real_value(json_object_get(r2, "pct_ceiling")), 50, 0.5);
  cr_assert_float_eq(json_real_value(json_object_get(r2, "speedup_vs_baseline")), 20, 0.2);
  cr_assert(json_is_null(json_object_get(r2, "ratio_vs_torch")));
  char dir[64], path[128];
  testutil_tmpdir(dir, sizeof dir, "bench");
  snprintf(path, sizeof path, "%s/run.json", dir);
  cr_assert_eq(jsonio_write_file(path, doc), 0);
  json_decref(doc);
  cr_assert_eq(bench_run_load(path, &back), 0, "%s", err_msg());
  cr_assert_str_eq(back.gpu_name, "NVIDIA H200");
  cr_assert_str_eq(back.driver, "580.159.04");
  cr_assert_eq(back.throttled, true);
  cr_assert_float_eq(back.sm_clock_after_mhz, 1755, 0);
  cr_assert_eq(back.nresults, 3);
  cr_assert_eq(back.nceilings, 1);
  cr_assert_eq(back.results[1].status, BENCH_FAILED);
  cr_assert_str_eq(back.results[1].note, "error 1 over 1e-4");
  for (int i = 0; i < 3; i++) {
    cr_assert_str_eq(back.results[i].variant, run.results[i].variant);
    cr_assert_float_eq(back.results[i].st.median, run.results[i].st.median,
                       1e-8); /* 10 digits in JSON */
    cr_assert_float_eq(back.results[i].st.noise, run.results[i].st.noise, 1e-9);
    cr_assert_eq(back.results[i].st.n, run.results[i].st.n);
  }
  testutil_rmrf(dir);
  bench_run_free(&run);
  bench_run_free(&back);
}

Test(bench_json, bad_files_name_the_field) {
  char dir[64], path[128];
  testutil_tmpdir(dir, sizeof dir, "bench");
  snprintf(path, sizeof path, "%s/bad.json", dir);
  FILE *f = fopen(path, "w");
  fputs(
      "{\"schema\": \"gpuops-bench/1\", \"mode\": \"gpu\", \"gpu\": \"X\", \"results\": "
      "[{\"kernel\": \"k\", \"size\": \"s\", \"variant\": 3, \"status\": \"ok\", \"stats\": {}}]}",
      f);
  fclose(f);
  struct bench_run run;
  cr_assert_eq(bench_run_load(path, &run), ERR_PARSE);
  cr_assert_not_null(strstr(err_msg(), "results[0]"), "%s", err_msg());
  cr_assert_not_null(strstr(err_msg(), "\"variant\""), "%s", err_msg());
  f = fopen(path, "w");
  fputs("{\"schema\": \"something-else\"}", f);
  fclose(f);
  cr_assert_eq(bench_run_load(path, &run), ERR_PARSE);
  cr_assert_not_null(strstr(err_msg(), "not a gpuops bench file"), "%s", err_msg());
  testutil_rmrf(dir);
}
