/*
 * cudaplugin.h — the C ABI between gpuops and its CUDA plugin
 * (libgpuops_cuda.so), and the loader used by the main library.
 *
 * The gpuops binary has no CUDA link dependency: it dlopen()s the plugin at
 * run time and asks it for a table of functions. All plugin functions return
 * 0 or a negative gpuops error code (base/err.h) and write a message into the
 * caller's buffer on failure, so CUDA's error strings reach the user.
 *
 * Search order for the plugin: $GPUOPS_CUDA_PLUGIN; the folder of the running
 * gpuops executable; its ../lib; the build tree it was built in.
 */
#ifndef GPUOPS_KERNELS_CUDAPLUGIN_H
#define GPUOPS_KERNELS_CUDAPLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define CUDAPLUGIN_ABI_VERSION 1
#define CUDAPLUGIN_SYMBOL "gpuops_cuda_plugin_api"

typedef struct cudaplugin_stream_s *cudaplugin_stream; /* cudaStream_t behind it */
typedef struct cudaplugin_event_s *cudaplugin_event;   /* cudaEvent_t behind it */
typedef struct cudaplugin_graph_s *cudaplugin_graph;   /* cudaGraphExec_t behind it */

struct cudaplugin_device {
  int index;
  char name[256];
  int cc_major, cc_minor;
  int sm_count;
  uint64_t memory_bytes;
  int l2_bytes;
  int max_smem_per_block_optin; /* bytes */
  int clock_khz;                /* may be 0 where CUDA 13 no longer reports it */
  int mem_bus_width_bits;
};

/* The table the plugin exports under CUDAPLUGIN_SYMBOL. errbuf may be NULL. */
struct cudaplugin_api {
  int abi_version;          /* CUDAPLUGIN_ABI_VERSION */
  const char *build_info;   /* "nvcc 13.0, targets sm_90a + compute_80 PTX" */
  int (*runtime_version)(int *runtime, int *driver, char *errbuf, size_t errlen);
  int (*device_count)(int *n, char *errbuf, size_t errlen);
  int (*device_get)(int index, struct cudaplugin_device *out, char *errbuf, size_t errlen);
  int (*device_set)(int index, char *errbuf, size_t errlen);
  int (*stream_create)(cudaplugin_stream *out, char *errbuf, size_t errlen);
  int (*stream_destroy)(cudaplugin_stream s);
  int (*stream_sync)(cudaplugin_stream s, char *errbuf, size_t errlen);
  int (*event_create)(cudaplugin_event *out, char *errbuf, size_t errlen);
  int (*event_destroy)(cudaplugin_event e);
  int (*event_record)(cudaplugin_event e, cudaplugin_stream s, char *errbuf, size_t errlen);
  int (*event_elapsed_ms)(cudaplugin_event start, cudaplugin_event end, float *ms, char *errbuf, size_t errlen);
  int (*mem_alloc)(void **dptr, size_t bytes, char *errbuf, size_t errlen);
  int (*mem_free)(void *dptr);
  int (*memcpy_h2d)(void *dst, const void *src, size_t bytes, cudaplugin_stream s, char *errbuf, size_t errlen);
  int (*memcpy_d2h)(void *dst, const void *src, size_t bytes, cudaplugin_stream s, char *errbuf, size_t errlen);
  /* A tiny self-test kernel: y[i] = a*x[i] + y[i] on the device, checked by the caller. */
  int (*selftest_saxpy)(int n, float a, const float *x_host, float *y_host, char *errbuf, size_t errlen);

  /* ---- kernels (issue 3; appended: the members above are unchanged) ---------
   * Every entry point enqueues on stream s and returns without waiting; 0, or
   * ERR_INVALID (bad shape/variant), ERR_UNSUPPORTED (this variant does not
   * handle this shape), ERR_DRIVER (launch failed), with errbuf filled.
   * Pointers are device pointers; dtype is a CUDAPLUGIN_F32/BF16 value;
   * bf16 data is passed as raw 16-bit words. variant numbers are the ones in
   * each .cu file's header (0 = the naive baseline). */
  /* dst[0..n) = lo + (hi-lo)*u, u uniform in [0,1) from a counter hash of (seed, i). */
  int (*fill_uniform)(void *dst, size_t n, int dtype, uint64_t seed, float lo, float hi,
                      cudaplugin_stream s, char *errbuf, size_t errlen);
  /* cudaMemsetAsync: poisons outputs (0xff: NaN in fp32 and bf16) and flushes L2. */
  int (*mem_set)(void *dst, int byte, size_t bytes, cudaplugin_stream s, char *errbuf, size_t errlen);
  /* Ceilings: copy (bytes read + bytes written; variant 0 grid-stride kernel,
     1 one-pass kernel, 2 cudaMemcpyAsync) and read-only (variant 0 grid-stride,
     writing one float per block to sink, which must hold 4096 floats; 1 one-pass). */
  int (*ceiling_copy)(int variant, const void *src, void *dst, size_t bytes, cudaplugin_stream s,
                      char *errbuf, size_t errlen);
  int (*ceiling_read)(int variant, const void *src, size_t bytes, float *sink, cudaplugin_stream s,
                      char *errbuf, size_t errlen);
  /* Scratch bytes reduce_sum_f32 needs for n elements with this variant. */
  int (*reduce_workspace)(int variant, size_t n, size_t *bytes, char *errbuf, size_t errlen);
  /* *out = sum of x[0..n) (fp32); ws: reduce_workspace bytes, zeroed once before the first call. */
  int (*reduce_sum_f32)(int variant, const float *x, size_t n, float *out, void *ws, size_t ws_bytes,
                        cudaplugin_stream s, char *errbuf, size_t errlen);
  /* out[c][r] = in[r][c]; in is rows x cols, row-major. */
  int (*transpose_f32)(int variant, const float *in, float *out, int rows, int cols,
                       cudaplugin_stream s, char *errbuf, size_t errlen);
  /* Row-wise softmax of a rows x cols matrix; ws: 2*rows floats (the naive variant's max and sum). */
  int (*softmax_rows)(int variant, int dtype, const void *in, void *out, int rows, int cols, float *ws,
                      cudaplugin_stream s, char *errbuf, size_t errlen);
  /* y = (x - mean)/sqrt(var + eps) * w + b per row; bf16 in/out, fp32 math. */
  int (*layernorm_bf16)(int variant, const void *x, const void *w, const void *b, void *y, int rows,
                        int cols, float eps, cudaplugin_stream s, char *errbuf, size_t errlen);
  /* y = x / sqrt(mean(x^2) + eps) * w per row; bf16 in/out, fp32 math. */
  int (*rmsnorm_bf16)(int variant, const void *x, const void *w, void *y, int rows, int cols, float eps,
                      cudaplugin_stream s, char *errbuf, size_t errlen);
  /* The vendor library's reduction (CUB DeviceReduce::Sum); ws from reduce_workspace(-1, ...). */
  int (*cub_reduce_sum_f32)(const float *x, size_t n, float *out, void *ws, size_t ws_bytes,
                            cudaplugin_stream s, char *errbuf, size_t errlen);

  /* ---- GEMM and what a model runtime needs (appended) -----------------------
   * c[m,n] = a[m,k] . w[n,k]^T (+ bias[n]) (then exact-erf GELU), bf16 in,
   * fp32 accumulate, bf16 out; row-major a, w (PyTorch's Linear layout), c.
   * epilogue: a CUDAPLUGIN_EPI_* value; bias may be NULL with EPI_NONE.
   * variant: gemm.cu's numbers, or CUDAPLUGIN_GEMM_BEST (-1) for the fastest
   * of ours that handles the shape on this device. */
  int (*gemm_bf16)(int variant, const void *a, const void *w, const void *bias, void *c, int m,
                   int n, int k, int epilogue, cudaplugin_stream s, char *errbuf, size_t errlen);
  /* The same through cuBLASLt (CUBLASLT_EPILOGUE_BIAS / GELU_BIAS; its GELU is
     the tanh approximation), dlopen'ed: ERR_NOLIB when libcublasLt is absent. */
  int (*vendor_gemm_bf16)(const void *a, const void *w, const void *bias, void *c, int m, int n,
                          int k, int epilogue, cudaplugin_stream s, char *errbuf, size_t errlen);
  /* CUDA graphs: capture what is enqueued on s between begin and end, replay it. */
  int (*graph_begin)(cudaplugin_stream s, char *errbuf, size_t errlen);
  int (*graph_end)(cudaplugin_stream s, cudaplugin_graph *out, char *errbuf, size_t errlen);
  int (*graph_launch)(cudaplugin_graph g, cudaplugin_stream s, char *errbuf, size_t errlen);
  int (*graph_destroy)(cudaplugin_graph g);
  /* Page-locked host memory (fast, asynchronous copies). */
  int (*host_alloc)(void **p, size_t bytes, char *errbuf, size_t errlen);
  int (*host_free)(void *p);
};

enum cudaplugin_epilogue { CUDAPLUGIN_EPI_NONE = 0, CUDAPLUGIN_EPI_BIAS = 1, CUDAPLUGIN_EPI_BIAS_GELU = 2 };
#define CUDAPLUGIN_GEMM_BEST (-1)

enum cudaplugin_dtype { CUDAPLUGIN_F32 = 0, CUDAPLUGIN_BF16 = 1 };

/* Result of looking for the plugin. */
struct cudaplugin {
  void *handle;                    /* dlopen handle, NULL when not loaded */
  const struct cudaplugin_api *api; /* NULL when not loaded */
  char path[1024];                 /* path that loaded, or the last one tried */
};

/*
 * Find and load the plugin. Returns 0, or ERR_NOLIB with err_msg() saying
 * every path tried and why each failed (dlerror text, ABI mismatch).
 */
int cudaplugin_load(struct cudaplugin *p);
void cudaplugin_unload(struct cudaplugin *p);

#endif
