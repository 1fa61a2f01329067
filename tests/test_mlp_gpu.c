/* test_mlp_gpu.c — the GPU MLP runtime (serve/mlp_gpu.h) against the CPU
 * runtime. Without a GPU (CI) it checks that init fails cleanly with the
 * reason; on a GPU (scripts/gpu-run carries this test) it checks outputs at
 * several batch sizes, with and without CUDA graphs, and that a replayed
 * graph sees new inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/err.h"
#include "base/rng.h"
#include "serve/mlp_cpu.h"
#include "serve/mlp_gpu.h"
#include "serve/model.h"

static char dir[256];

static void make_model(struct model *m, const int *widths, int n) {
  struct model_config c;
  cr_assert_eq(model_config_mlp(&c, widths, n), 0);
  snprintf(dir, sizeof dir, "/tmp/gpuops-test-mlp-gpu-%d", (int)getpid());
  cr_assert_eq(model_create(dir, &c, 7), 0, "%s", err_msg());
  cr_assert_eq(model_load(m, dir), 0, "%s", err_msg());
}

/* Normwise relative error ||a - b|| / ||b||. */
static double rel_err(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(a[i])) return INFINITY;
    num += (double)(a[i] - b[i]) * (a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

Test(mlp_gpu, matches_the_cpu_runtime_or_fails_cleanly) {
  const int widths[] = {256, 512, 384, 128};
  struct model m;
  make_model(&m, widths, 4);
  struct mlp_gpu g;
  int rc = mlp_gpu_init(&g, &m, 64, true);
  if (rc) {
    /* No GPU here: the reason is said, nothing is left allocated. */
    cr_assert(rc == ERR_NOLIB || rc == ERR_NODEVICE || rc == ERR_DRIVER, "%s: %s", err_name(rc),
              err_msg());
    cr_assert(err_msg()[0] != 0);
    cr_assert_null(g.api);
    model_free(&m);
    return;
  }
  struct mlp_cpu c;
  cr_assert_eq(mlp_cpu_init(&c, &m, 64), 0);
  struct rng r;
  rng_seed(&r, 3);
  float *x = malloc(64 * 256 * sizeof *x), *yg = malloc(64 * 128 * sizeof *yg),
        *yc = malloc(64 * 128 * sizeof *yc);
  const int batches[] = {1, 7, 64, 7};
  for (int pass = 0; pass < 2; pass++) {
    g.use_graphs = pass == 0;
    for (int t = 0; t < 4; t++) {
      int b = batches[t];
      for (int i = 0; i < b * 256; i++) x[i] = (float)(2 * rng_uniform(&r) - 1);
      for (int i = 0; i < b * 128; i++) yg[i] = NAN;
      cr_assert_eq(mlp_gpu_run(&g, x, b, yg), 0, "%s", err_msg());
      cr_assert_eq(mlp_cpu_run(&c, x, b, yc), 0);
      double e = rel_err(yg, yc, (size_t)b * 128);
      /* bf16 weights and activations on the GPU, fp32 on the CPU: ~1e-2 normwise */
      cr_assert_lt(e, 3e-2, "batch %d graphs %d: relative error %g", b, g.use_graphs, e);
    }
  }
  cr_assert_eq(mlp_gpu_run(&g, x, 65, yg), ERR_RANGE);
  cr_assert_eq(mlp_gpu_run(&g, x, 0, yg), ERR_RANGE);
  free(x), free(yg), free(yc);
  mlp_gpu_free(&g);
  mlp_cpu_free(&c);
  model_free(&m);
}
