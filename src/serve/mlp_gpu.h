/*
 * mlp_gpu.h — the GPU runtime of the MLP model family, through the CUDA
 * plugin's GEMM (kernels/gemm.cu: C = A·Wᵀ + bias, exact-erf GELU fused in
 * the epilogue). Same function as mlp_cpu.h: y = GELU(x·Wᵀ + b) for every
 * layer but the last, which has no activation.
 *
 * Weights live on the GPU in bf16 (converted once at init when the model is
 * fp32). A call converts x to bf16 into pinned host memory, copies it up,
 * runs one GEMM per layer on the runtime's own stream, copies the result back
 * and converts it to fp32. The first call at each batch size captures that
 * sequence as a CUDA graph; later calls at that size replay it (one launch
 * instead of 2 + layers), which is what keeps small batches cheap.
 *
 * Sections: the runtime (init, run, free).
 * Threads: one call at a time per runtime (its stream, graphs and staging
 * buffers); make one runtime per executor thread, each with its own stream.
 */
#ifndef GPUOPS_SERVE_MLP_GPU_H
#define GPUOPS_SERVE_MLP_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cudaplugin.h"
#include "serve/model.h"

struct mlp_gpu {
  struct cudaplugin plugin;
  const struct cudaplugin_api *api; /* plugin.api */
  cudaplugin_stream stream;
  int n_layers;
  int widths[MODEL_MAX_LAYERS]; /* widths[0] inputs ... widths[n_layers] outputs */
  void *w[MODEL_MAX_LAYERS];    /* device, bf16 [widths[i+1], widths[i]] */
  void *b[MODEL_MAX_LAYERS];    /* device, bf16 [widths[i+1]] */
  void *act[2];                 /* device, bf16 max_batch x widest, ping-pong */
  uint16_t *h_in, *h_out;       /* pinned bf16 staging: max_batch x in, max_batch x out */
  int max_batch;
  int variant;                  /* gemm variant (CUDAPLUGIN_GEMM_BEST) */
  bool use_graphs;
  cudaplugin_graph *graphs;     /* [max_batch + 1], captured on first use */
  char device_name[256];
};

/*
 * Load the plugin, pick GPU 0, upload m's weights (m may be freed afterwards).
 * Returns 0, ERR_NOLIB (no plugin), ERR_NODEVICE (no GPU), ERR_UNSUPPORTED
 * (a dtype other than BF16/F32), ERR_NOMEM, or the plugin's error; err_msg()
 * says which. On failure *r is empty. use_graphs: capture CUDA graphs.
 */
int mlp_gpu_init(struct mlp_gpu *r, const struct model *m, int max_batch, bool use_graphs);
/*
 * y[batch, out] = the MLP of x[batch, in] (fp32, row-major). 1 <= batch <=
 * max_batch, else ERR_RANGE. Returns when y is written (synchronous).
 */
int mlp_gpu_run(struct mlp_gpu *r, const float *x, int batch, float *y);
/* Free everything; safe on a zeroed struct. */
void mlp_gpu_free(struct mlp_gpu *r);

#endif
