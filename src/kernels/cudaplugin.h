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
};

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
