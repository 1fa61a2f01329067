/*
 * sampler.h — what the telemetry capability knows about each GPU of one
 * backend: static info, MIG instances, and the two latest samples (GPM and
 * rates need two). The exporter's sampler thread and `gpuops health` both
 * read the GPUs through it.
 *
 * A sample that fails keeps the last good one (cur stays, marked stale by
 * sample_rc); a GPU that has fallen off the bus (ERR_GPU_LOST) has no current
 * sample at all.
 *
 * Threads: a sampler uses its backend; one thread at a time (gpu.h).
 */
#ifndef GPUOPS_TELEMETRY_SAMPLER_H
#define GPUOPS_TELEMETRY_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "telemetry/health.h"

struct sampler_gpu {
  int index;
  struct gpu_info info;
  int info_rc; /* 0, or why the info could not be read */
  struct gpu_sample prev, cur;
  bool have_prev, have_cur; /* cur: the latest good sample; prev: the one before it */
  int sample_rc; /* the latest attempt: 0, ERR_GPU_LOST, or another error (cur is stale) */
  char sample_msg[256];
  int n_inst; /* MIG GPU instances (names for GPU_I_PROFILE) */
  struct gpu_mig_instance inst[GPU_MIG_MAX];
};

struct sampler {
  struct gpu_backend *b; /* borrowed */
  int n;
  struct sampler_gpu *gpus;
  uint64_t passes;    /* sampler_pass() calls */
  uint64_t errors;    /* failed device samples (not counting lost GPUs), all passes */
  int64_t last_ok_ns; /* CLOCK_REALTIME of the last pass with at least one good sample */
};

/*
 * List the GPUs of b and read their static info and MIG instances (a GPU
 * whose info fails is kept, with info_rc set). Returns 0, or the error of
 * counting the devices (ERR_NODEVICE when there are none). Free with
 * sampler_free() either way.
 */
int sampler_init(struct sampler *s, struct gpu_backend *b);
void sampler_free(struct sampler *s);

/*
 * Sample every GPU once. Returns the number of GPUs whose sample failed with
 * an error other than ERR_GPU_LOST in this pass (0..n).
 */
int sampler_pass(struct sampler *s);

/* The GPU's inputs for health_evaluate_gpu(); xids may be NULL. */
void sampler_health_input(const struct sampler_gpu *g, const struct xid_history *xids,
                          struct health_input *in);

/* The MIG instance with GPU instance id gi_id, or NULL. */
const struct gpu_mig_instance *sampler_instance(const struct sampler_gpu *g, int gi_id);

#endif
