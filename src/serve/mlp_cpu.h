/*
 * mlp_cpu.h — the CPU runtime of the MLP model family.
 *
 * A batch of B rows goes through every layer: y = GELU(x · Wᵀ + b), with
 * W [N, K] as stored (PyTorch's Linear layout) and GELU the exact one,
 * 0.5·v·(1 + erf(v/√2)). The LAST layer has no activation (it returns the
 * raw x · Wᵀ + b, as a classifier head or regression output would).
 * Math is fp32; bf16 weights are converted to fp32 once, at init.
 *
 * Sections: the runtime (init, run, free); the naive reference for tests.
 */
#ifndef GPUOPS_SERVE_MLP_CPU_H
#define GPUOPS_SERVE_MLP_CPU_H

#include "serve/model.h"

struct mlp_cpu {
  int n_layers;
  int widths[MODEL_MAX_LAYERS]; /* widths[0] inputs ... widths[n_layers] outputs */
  float *w[MODEL_MAX_LAYERS];   /* layer i: [widths[i+1], widths[i]] fp32, owned */
  float *b[MODEL_MAX_LAYERS];   /* layer i: [widths[i+1]] fp32, owned */
  int max_batch;                /* rows per call */
  float *act[2];                /* scratch: max_batch x widest layer, ping-pong */
};

/*
 * Convert m's weights to fp32 (m may be freed afterwards). max_batch bounds
 * the rows of one mlp_cpu_run (the scratch is sized for it). Returns 0,
 * ERR_INVALID (max_batch < 1) or ERR_NOMEM.
 */
int mlp_cpu_init(struct mlp_cpu *r, const struct model *m, int max_batch);
/*
 * y[batch, out] = the MLP of x[batch, in] (row-major, in = widths[0],
 * out = widths[n_layers]). 1 <= batch <= max_batch, else ERR_RANGE.
 * Threads: uses r's scratch, so one call at a time per runtime; make one
 * runtime per executor thread.
 */
int mlp_cpu_run(struct mlp_cpu *r, const float *x, int batch, float *y);
/* Free the fp32 weights and scratch; safe on a zeroed struct. */
void mlp_cpu_free(struct mlp_cpu *r);

/*
 * The plain reference, for tests only: the same function computed the
 * obvious way (loop over k innermost, double accumulation, double erf), from
 * r's fp32 weights. Returns 0 or ERR_NOMEM / ERR_RANGE (batch < 1).
 */
int mlp_cpu_reference(const struct mlp_cpu *r, const float *x, int batch, float *y);

#endif
