/*
 * test_model.c — model directories (serve/model.h) and the CPU runtime
 * (serve/mlp_cpu.h).
 *
 * Sections: create → load round trip (same seed, same bytes); configs and
 * tensors that disagree are rejected with the file and tensor named; the
 * fast CPU MLP against the naive double-precision reference at several
 * batch sizes (1, odd, a multiple of the row group) and awkward widths;
 * the command line (`gpuops model create|info|run`).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/err.h"
#include "base/rng.h"
#include "serve/mlp_cpu.h"
#include "serve/model.h"
#include "testutil.h"

static char dir[256];

static void setup(void) { testutil_tmpdir(dir, sizeof dir, "model"); }
static void teardown(void) { testutil_rmrf(dir); }

TestSuite(model, .init = setup, .fini = teardown);

/* Create an MLP at dir/name with widths w[0..n); returns the path (static). */
static const char *create(const char *name, const int *w, int n, enum st_dtype dt, uint64_t seed) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct model_config c;
  cr_assert_eq(model_config_mlp(&c, w, n), 0, "%s", err_msg());
  c.dtype = dt;
  cr_assert_eq(model_create(path, &c, seed), 0, "%s", err_msg());
  return path;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*len + 1);
  cr_assert_eq(fread(b, 1, *len, f), *len);
  b[*len] = 0;
  fclose(f);
  return b;
}

static void spit(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* ---- round trip ---- */

Test(model, create_load_round_trip) {
  const int w[] = {8, 16, 4};
  const char *p = create("m", w, 3, ST_BF16, 7);
  struct model m;
  cr_assert_eq(model_load(&m, p), 0, "%s", err_msg());
  cr_assert_eq(m.n_layers, 2);
  cr_assert_eq(m.config.dtype, ST_BF16);
  cr_assert_eq(m.config.max_batch_size, 64);
  cr_assert_eq(m.layers[0].k, 8);
  cr_assert_eq(m.layers[0].n, 16);
  cr_assert_eq(m.layers[1].weight->shape[0], 4);
  cr_assert_eq(m.layers[1].weight->shape[1], 16);
  cr_assert_eq(model_params(&m), 8 * 16 + 16 + 16 * 4 + 4);
  /* weights within U(-1/sqrt(K), 1/sqrt(K)) (bf16 rounding adds < 1%) and not all equal */
  struct mlp_cpu r;
  cr_assert_eq(mlp_cpu_init(&r, &m, 4), 0);
  float lo = 1, hi = -1;
  for (int i = 0; i < 16 * 8; i++) {
    cr_assert_leq(fabsf(r.w[0][i]), 1.01f / sqrtf(8.0f));
    lo = fminf(lo, r.w[0][i]), hi = fmaxf(hi, r.w[0][i]);
  }
  cr_assert_gt(hi - lo, 0.3f);
  mlp_cpu_free(&r);
  model_free(&m);

  /* same seed, same bytes; another seed, other bytes */
  const char *p2 = create("m2", w, 3, ST_BF16, 7);
  char a[600], b[600];
  snprintf(a, sizeof a, "%s/m/model.safetensors", dir);
  snprintf(b, sizeof b, "%s/model.safetensors", p2);
  size_t la, lb;
  char *da = slurp(a, &la), *db = slurp(b, &lb);
  cr_assert_eq(la, lb);
  cr_assert_eq(memcmp(da, db, la), 0);
  free(db);
  create("m3", w, 3, ST_BF16, 8);
  snprintf(b, sizeof b, "%s/m3/model.safetensors", dir);
  db = slurp(b, &lb);
  cr_assert_neq(memcmp(da, db, la), 0);
  free(da);
  free(db);
}

Test(model, f32_model_loads) {
  const int w[] = {5, 3};
  struct model m;
  cr_assert_eq(model_load(&m, create("f", w, 2, ST_F32, 1)), 0, "%s", err_msg());
  cr_assert_eq(m.layers[0].weight->dtype, ST_F32);
  model_free(&m);
}

/* ---- mismatches ---- */

Test(model, config_tensor_mismatch_rejected) {
  const int w[] = {8, 16, 4};
  const char *p = create("m", w, 3, ST_BF16, 1);
  char cfg[600];
  snprintf(cfg, sizeof cfg, "%s/config.json", p);
  struct model m;

  spit(cfg, "{\"type\":\"mlp\",\"layers\":[8,16,5],\"activation\":\"gelu\",\"dtype\":\"bf16\"}");
  cr_assert_eq(model_load(&m, p), ERR_INVALID);
  cr_assert_not_null(strstr(err_msg(), "layers.1.weight"), "%s", err_msg());
  cr_assert_not_null(strstr(err_msg(), "model.safetensors"), "%s", err_msg());

  spit(cfg, "{\"type\":\"mlp\",\"layers\":[8,16,4],\"activation\":\"gelu\",\"dtype\":\"f32\"}");
  cr_assert_eq(model_load(&m, p), ERR_INVALID);
  cr_assert_not_null(strstr(err_msg(), "BF16"), "%s", err_msg());

  spit(cfg, "{\"type\":\"mlp\",\"layers\":[8,16],\"activation\":\"gelu\",\"dtype\":\"bf16\"}");
  cr_assert_eq(model_load(&m, p), ERR_INVALID); /* extra tensors */
  cr_assert_not_null(strstr(err_msg(), "need exactly 2"), "%s", err_msg());

  spit(cfg, "{\"type\":\"mlp\",\"layers\":[8,16,4,2],\"activation\":\"gelu\",\"dtype\":\"bf16\"}");
  cr_assert_eq(model_load(&m, p), ERR_INVALID);
  cr_assert_not_null(strstr(err_msg(), "layers.2.weight' is missing"), "%s", err_msg());
}

Test(model, bad_configs_rejected) {
  const int w[] = {4, 4};
  const char *p = create("m", w, 2, ST_BF16, 1);
  char cfg[600];
  snprintf(cfg, sizeof cfg, "%s/config.json", p);
  struct model m;
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"{\"type\":\"cnn\",\"layers\":[4,4],\"dtype\":\"bf16\"}", "\"type\""},
      {"{\"type\":\"mlp\",\"layers\":[4],\"dtype\":\"bf16\"}", "\"layers\""},
      {"{\"type\":\"mlp\",\"layers\":[4,0],\"dtype\":\"bf16\"}", "\"layers\"[1]"},
      {"{\"type\":\"mlp\",\"layers\":[4,4],\"dtype\":\"fp8\"}", "\"dtype\""},
      {"{\"type\":\"mlp\",\"layers\":[4,4],\"dtype\":\"bf16\",\"activation\":\"relu\"}",
       "\"activation\""},
      {"{\"type\":\"mlp\",\"layers\":[4,4],\"dtype\":\"bf16\",\"max_batch_size\":0}",
       "max_batch_size"},
      {"{\"type\":\"mlp\",", "config.json"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    spit(cfg, cases[i].text);
    int rc = model_load(&m, p);
    cr_assert_eq(rc, ERR_PARSE, "case %zu: rc %d %s", i, rc, err_msg());
    cr_assert_not_null(strstr(err_msg(), cases[i].want), "case %zu: %s", i, err_msg());
    cr_assert_not_null(strstr(err_msg(), "config.json"), "case %zu: %s", i, err_msg());
  }
  cr_assert_eq(model_load(&m, "/nonexistent-model"), ERR_IO);
}

/* ---- the CPU runtime against the reference ---- */

/* max |fast - ref| / max |ref| over every output: the normwise relative error. */
static double compare(const int *w, int n, int batch, enum st_dtype dt) {
  char name[64];
  snprintf(name, sizeof name, "cmp-%d-%d", batch, n);
  struct model m;
  cr_assert_eq(model_load(&m, create(name, w, n, dt, (uint64_t)batch)), 0, "%s", err_msg());
  struct mlp_cpu r;
  cr_assert_eq(mlp_cpu_init(&r, &m, batch), 0, "%s", err_msg());
  model_free(&m); /* the runtime keeps its own fp32 copy */
  size_t nin = (size_t)batch * (size_t)w[0], nout = (size_t)batch * (size_t)w[n - 1];
  float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y),
        *ref = malloc(nout * sizeof *ref);
  struct rng g;
  rng_seed(&g, 99);
  for (size_t i = 0; i < nin; i++) x[i] = (float)(4.0 * rng_uniform(&g) - 2.0);
  cr_assert_eq(mlp_cpu_run(&r, x, batch, y), 0, "%s", err_msg());
  cr_assert_eq(mlp_cpu_reference(&r, x, batch, ref), 0);
  double maxerr = 0, maxref = 0;
  for (size_t i = 0; i < nout; i++) {
    cr_assert(isfinite(y[i]));
    maxerr = fmax(maxerr, fabs((double)y[i] - ref[i]));
    maxref = fmax(maxref, fabs(ref[i]));
  }
  cr_assert_gt(maxref, 0);
  free(x), free(y), free(ref);
  mlp_cpu_free(&r);
  cr_log_info("widths[0] %d, %d layers, batch %d: max rel err %.3g", w[0], n - 1, batch,
              maxerr / maxref);
  return maxerr / maxref;
}

Test(model, cpu_matches_reference, .timeout = 110) {
  const int w1[] = {64, 256, 96, 32};   /* multiples of the 16-lane chunk */
  const int w2[] = {37, 129, 3, 17, 5}; /* tails everywhere */
  const int w3[] = {1, 1};
  const int batches[] = {1, 2, 3, 4, 5, 7, 8, 13, 64};
  for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
    double e1 = compare(w1, 4, batches[i], ST_BF16), e2 = compare(w2, 5, batches[i], ST_F32);
    double e3 = compare(w3, 2, batches[i], ST_F32);
    cr_assert_lt(e1, 1e-5, "batch %d: rel err %g", batches[i], e1);
    cr_assert_lt(e2, 1e-5, "batch %d: rel err %g", batches[i], e2);
    cr_assert_lt(e3, 1e-5, "batch %d: rel err %g", batches[i], e3);
  }
  const int wide[] = {1024, 512, 64};
  double e = compare(wide, 3, 9, ST_BF16);
  cr_assert_lt(e, 1e-5, "wide: rel err %g", e);
}

Test(model, gelu_and_last_layer_linear) {
  /* one layer, K = 1: y = w*x + b with no activation; two layers: GELU in between */
  const int w[] = {1, 1, 1};
  struct model m;
  cr_assert_eq(model_load(&m, create("g", w, 3, ST_F32, 3)), 0);
  struct mlp_cpu r;
  cr_assert_eq(mlp_cpu_init(&r, &m, 1), 0);
  model_free(&m);
  r.w[0][0] = 1, r.b[0][0] = 0, r.w[1][0] = 1, r.b[1][0] = 0;
  float x = -1.0f, y;
  cr_assert_eq(mlp_cpu_run(&r, &x, 1, &y), 0);
  /* GELU(-1) = -0.5 * (1 - erf(1/sqrt 2)) = -0.15865525 */
  cr_assert_float_eq(y, -0.15865525f, 1e-6);
  r.w[1][0] = -2, r.b[1][0] = 1; /* last layer: linear, may go negative past GELU's minimum */
  x = 3.0f;
  cr_assert_eq(mlp_cpu_run(&r, &x, 1, &y), 0);
  cr_assert_float_eq(y, 1.0f - 2.0f * 2.99595031f, 1e-5);
  cr_assert_eq(mlp_cpu_run(&r, &x, 2, &y), ERR_RANGE);
  cr_assert_eq(mlp_cpu_run(&r, &x, 0, &y), ERR_RANGE);
  mlp_cpu_free(&r);
}

/* ---- the command line ---- */

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, fmt, getenv("GPUOPS_BIN"), a, b);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(model, command_line) {
  char p[512], out[600];
  snprintf(p, sizeof p, "%s/cli", dir);
  snprintf(out, sizeof out, "%s/out.txt", dir);
  cr_assert_eq(sh("%s model create --layers 16,32,8 --seed 3 -o %s > %s", p, out), 0);
  cr_assert_eq(sh("%s model info %s > %s", p, out), 0);
  size_t n;
  char *t = slurp(out, &n);
  cr_assert_not_null(strstr(t, "layers.0.weight"), "%s", t);
  cr_assert_not_null(strstr(t, "[32, 16]"), "%s", t);
  free(t);
  cr_assert_eq(sh("%s model run %s --batch 3 --seed 5 > %s", p, out), 0);
  t = slurp(out, &n);
  cr_assert_not_null(strstr(t, "checksum: sum"), "%s", t);
  cr_assert_not_null(strstr(t, "time per batch"), "%s", t);
  free(t);
  cr_assert_eq(sh("%s model create --layers 16 -o %s 2> %s", p, out), 2);
  cr_assert_eq(sh("%s model info %s/nothing-here 2> %s", dir, out), 2);
  cr_assert_eq(sh("%s model bogus %s 2> %s", p, out), 2);
}
