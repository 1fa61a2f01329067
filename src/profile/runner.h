/*
 * runner.h — run a command under the injection library and sample NVML
 * alongside: the "record" half of `gpuops profile` (outputs.h writes).
 *
 * The command runs as a child (fork + execvp) with, added to its
 * environment: CUDA_INJECTION64_PATH (libgpuops_inject.so), GPUOPS_PROFILE_OUT
 * (DIR/records/rec; each process writes rec.<pid>.jsonl), GPUOPS_PROFILE_FLAGS,
 * GPUOPS_PROFILE_CUPTI (libcupti found here) and, with --nvtx,
 * NVTX_INJECTION64_PATH (the same libcupti, as CUPTI documents for NVTX
 * activity). While it runs, gpuops ignores SIGINT/SIGQUIT (they reach the
 * child, as under `time`), passes SIGTERM/SIGHUP on to it, samples every GPU every sample_ms, and reaps
 * it; then it reads the record files and saves the samples beside them
 * (records/nvml-samples.json, record.h). A program that crashes still leaves
 * what its process flushed (inject.c).
 *
 * Where the libraries are looked for:
 *   libgpuops_inject.so  $GPUOPS_INJECT_LIBRARY, beside the gpuops binary,
 *                        its ../lib, the build tree
 *   libcupti.so          $GPUOPS_CUPTI_LIBRARY, beside the injection library,
 *                        $CUDA_HOME and /usr/local/cuda (lib64,
 *                        extras/CUPTI/lib64, targets/x86_64-linux/lib),
 *                        /usr/lib/x86_64-linux-gnu
 */
#ifndef GPUOPS_PROFILE_RUNNER_H
#define GPUOPS_PROFILE_RUNNER_H

#include <stdbool.h>

#include "gpu/gpu.h"
#include "profile/profile.h"

struct runner_options {
  char *const *argv;          /* the command, NULL-terminated */
  const char *dir;            /* output folder (records/ goes in it) */
  bool nvtx;                  /* NVTX ranges (and runtime API records, to place kernels in them) */
  bool api;                   /* runtime and driver API records */
  int sample_ms;              /* NVML sampling period; 0: no sampling */
  struct gpu_options gpu;     /* the backend to sample through (AUTO: NVML, no simulated fallback) */
};

/* Path of libgpuops_inject.so into buf; 0, or ERR_NOLIB naming every place tried. */
int runner_find_inject(char *buf, size_t len);
/* Path of libcupti into buf; 0, or ERR_NOLIB naming every place tried. */
int runner_find_cupti(const char *inject_path, char *buf, size_t len);

/*
 * Run o->argv and fill p (profile_init'ed by the caller): records, samples,
 * command, exit code, notes. Returns 0 when the command ran (whatever its
 * exit status); ERR_NOTFOUND when it could not be started (message names the
 * command and errno); ERR_NOLIB when libgpuops_inject.so is missing; ERR_IO
 * when DIR cannot be written; ERR_PARSE when a record file is corrupt.
 */
int runner_run(const struct runner_options *o, struct profile *p);

/* mkdir -p. 0 or ERR_IO. */
int runner_mkdir(const char *dir);

#endif
