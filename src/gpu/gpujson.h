/*
 * gpujson.h — one JSON shape for a GPU's static info, sample, MIG profiles
 * and instances, used by `gpuops devices`, the dossier and later the exporter
 * tests. Invalid values are JSON null; simulated devices say so.
 * Every function returns a new reference (NULL on OOM).
 */
#ifndef GPUOPS_GPU_GPUJSON_H
#define GPUOPS_GPU_GPUJSON_H

#include <jansson.h>

#include "gpu/gpu.h"

json_t *gpujson_info(const struct gpu_info *info);
json_t *gpujson_values(const struct gpu_values *vals, bool gpm_only);
json_t *gpujson_sample(const struct gpu_sample *s);
json_t *gpujson_mig_profile(const struct gpu_mig_profile *p);
json_t *gpujson_mig_instance(const struct gpu_mig_instance *m);
/* Names of the set clock-event reason bits, e.g. ["gpu_idle", "hw_thermal"]. */
json_t *gpujson_clock_reasons(uint64_t mask);

enum gpujson_flags {
  GPUJSON_SAMPLE = 1 << 0, /* include one sample ("sample") */
  GPUJSON_MIG = 1 << 1,    /* include "mig_profiles" and "mig_instances" */
};
/*
 * Everything about device `index` of b. A failing part is recorded in the
 * object as "<part>_error": "message" (a lost GPU still lists its info).
 */
json_t *gpujson_device(struct gpu_backend *b, int index, unsigned flags);

/*
 * Every device of b, as an array of gpujson_device() objects. With
 * GPUJSON_SAMPLE and prime_ms > 0, each device is sampled once first and the
 * reported sample is taken prime_ms later, so the two-sample GPM metrics
 * cover that interval instead of being invalid. Negative error when the
 * device count cannot be read (err_msg() says why).
 */
int gpujson_devices(struct gpu_backend *b, unsigned flags, int prime_ms, json_t **out);

#endif
