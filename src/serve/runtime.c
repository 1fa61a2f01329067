/*
 * runtime.c — the runtime tables (runtime.h) and the choice between them.
 *
 * Sections: the MLP on the CPU; the MLP on the GPU; the test models; choosing.
 */
#include "serve/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "serve/mlp_cpu.h"
#include "serve/mlp_gpu.h"

/* ---- the MLP on the CPU ---- */

static int cpu_init(void **inst, const struct model *m, int max_batch) {
  struct mlp_cpu *r = calloc(1, sizeof *r);
  if (!r) return err_set(ERR_NOMEM, "out of memory for a CPU runtime");
  int rc = mlp_cpu_init(r, m, max_batch);
  if (rc) {
    free(r);
    return rc;
  }
  *inst = r;
  return 0;
}

static int cpu_run(void *inst, const void *x, int rows, void *y) {
  return mlp_cpu_run(inst, x, rows, y);
}

static void cpu_free(void *inst) {
  if (!inst) return;
  mlp_cpu_free(inst);
  free(inst);
}

static const struct runtime_ops mlp_cpu_ops = {
    .name = "mlp-cpu", .device = "cpu", .init = cpu_init, .run = cpu_run, .free = cpu_free};

/* ---- the MLP on the GPU ---- */

static int gpu_init(void **inst, const struct model *m, int max_batch) {
  struct mlp_gpu *r = calloc(1, sizeof *r);
  if (!r) return err_set(ERR_NOMEM, "out of memory for a GPU runtime");
  int rc = mlp_gpu_init(r, m, max_batch, true);
  if (rc) {
    free(r);
    return rc;
  }
  *inst = r;
  return 0;
}

static int gpu_run(void *inst, const void *x, int rows, void *y) {
  return mlp_gpu_run(inst, x, rows, y);
}

static void gpu_free(void *inst) {
  if (!inst) return;
  mlp_gpu_free(inst);
  free(inst);
}

static const struct runtime_ops mlp_gpu_ops = {
    .name = "mlp-gpu", .device = "gpu", .init = gpu_init, .run = gpu_run, .free = gpu_free};

/* ---- the test models ---- */

struct test_model {
  size_t row_bytes;
  int64_t service_ns, per_row_ns; /* 0 for identity */
};

static int test_init(void **inst, const struct model *m, int max_batch) {
  (void)max_batch;
  struct test_model *t = calloc(1, sizeof *t);
  if (!t) return err_set(ERR_NOMEM, "out of memory for a test runtime");
  t->row_bytes = (size_t)m->config.widths[0] * safetensors_dtype_size(m->config.io_dtype);
  t->service_ns = m->config.service_us * 1000;
  t->per_row_ns = m->config.per_row_us * 1000;
  *inst = t;
  return 0;
}

static int test_run(void *inst, const void *x, int rows, void *y) {
  const struct test_model *t = inst;
  int64_t ns = t->service_ns + rows * t->per_row_ns;
  if (ns > 0) time_sleep_ns(ns);
  memcpy(y, x, (size_t)rows * t->row_bytes);
  return 0;
}

static void test_free(void *inst) { free(inst); }

static const struct runtime_ops identity_ops = {
    .name = "identity", .device = "cpu", .init = test_init, .run = test_run, .free = test_free};
static const struct runtime_ops sleep_ops = {
    .name = "sleep", .device = "cpu", .init = test_init, .run = test_run, .free = test_free};

/* ---- choosing ---- */

int runtime_device_parse(const char *s, enum runtime_device *out) {
  static const char *const names[] = {"auto", "cpu", "gpu"};
  for (int i = 0; i < 3; i++)
    if (s && !strcmp(s, names[i])) {
      *out = (enum runtime_device)i;
      return 0;
    }
  return err_set(ERR_INVALID, "--device '%s': use cpu, gpu or auto", s ? s : "");
}

/* Start and free one GPU instance: does this machine run the GPU runtime? */
static int gpu_probe(const struct model *m) {
  void *inst = NULL;
  int rc = gpu_init(&inst, m, 1);
  gpu_free(inst);
  return rc;
}

int runtime_select(const struct model *m, enum runtime_device dev, const struct runtime_ops **out,
                   char *note, size_t note_len) {
  note[0] = '\0';
  if (!model_config_is_mlp(&m->config)) {
    if (dev == RUNTIME_GPU)
      return err_set(ERR_UNSUPPORTED, "model type '%s' runs on the CPU only (use --device cpu)",
                     m->config.type);
    *out = strcmp(m->config.type, "sleep") ? &identity_ops : &sleep_ops;
    return 0;
  }
  if (dev == RUNTIME_CPU) {
    *out = &mlp_cpu_ops;
    return 0;
  }
  int rc = gpu_probe(m);
  if (rc == 0) {
    *out = &mlp_gpu_ops;
    return 0;
  }
  if (dev == RUNTIME_GPU)
    return err_wrap(rc, "--device gpu: the GPU runtime cannot start (use --device cpu or auto)");
  snprintf(note, note_len, "no GPU runtime (%s): using the CPU", err_msg());
  *out = &mlp_cpu_ops;
  return 0;
}
