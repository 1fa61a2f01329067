/*
 * runtime.h — the model runtimes behind one small interface, so the server
 * and its executors treat every model the same: a table of functions (init
 * one instance, run a batch, free) and a choice of table by model type and
 * device.
 *
 * Runtimes: "mlp-cpu" (mlp_cpu.h), "mlp-gpu" (mlp_gpu.h, the CUDA plugin's
 * GEMM), and the test models "identity" (y = x) and "sleep" (y = x after
 * service_us + rows x per_row_us, a known latency curve).
 *
 * Sections: the interface; choosing a runtime.
 * Threads: each executor owns its instance (runtimes hold scratch buffers,
 * streams, graphs); one run at a time per instance. Tables are constant.
 */
#ifndef GPUOPS_SERVE_RUNTIME_H
#define GPUOPS_SERVE_RUNTIME_H

#include <stddef.h>

#include "serve/model.h"

/* ---- the interface ---- */

struct runtime_ops {
  const char *name;   /* "mlp-cpu", "mlp-gpu", "identity", "sleep" */
  const char *device; /* "cpu" or "gpu" */
  /* A new instance for m (which it may keep pointers into: keep m loaded), running at
   * most max_batch rows per call. 0 or a negative ERR_* with err_set. */
  int (*init)(void **inst, const struct model *m, int max_batch);
  /* y[rows, out] = the model of x[rows, in], row-major in the model's io dtype; x and y
   * are aligned to 16 bytes and do not overlap. 0 or a negative ERR_*. */
  int (*run)(void *inst, const void *x, int rows, void *y);
  void (*free)(void *inst); /* safe on NULL */
};

/* ---- choosing a runtime ---- */

enum runtime_device { RUNTIME_AUTO = 0, RUNTIME_CPU, RUNTIME_GPU };

/* "cpu" | "gpu" | "auto" -> device; ERR_INVALID (message names the word) otherwise. */
int runtime_device_parse(const char *s, enum runtime_device *out);

/*
 * The runtime for m on dev. AUTO takes the GPU when an MLP's GPU runtime can
 * start (it tries one instance), else the CPU, and writes why into note
 * (note[0] = '\0' when there is nothing to say). GPU on a machine without a
 * plugin or GPU: ERR_NOLIB / ERR_NODEVICE with the reason (exit 3). Test
 * models always run on the CPU (GPU: ERR_UNSUPPORTED). Returns 0 and *out.
 */
int runtime_select(const struct model *m, enum runtime_device dev, const struct runtime_ops **out,
                   char *note, size_t note_len);

#endif
