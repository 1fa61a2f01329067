/*
 * gpujson.c — GPU info and samples as JSON.
 * Sections: clock reasons; info; values; MIG; a whole device.
 */
#include "gpu/gpujson.h"

#include <stdio.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/timeutil.h"

json_t *gpujson_clock_reasons(uint64_t mask) {
  json_t *a = json_array();
  for (int i = 0; i < GPU_CLOCK_REASON_COUNT; i++)
    if (mask & gpu_clock_reasons[i].bit)
      json_array_append_new(a, json_string(gpu_clock_reasons[i].name));
  return a;
}

static json_t *str_or_null(const char *s) { return s && s[0] ? json_string(s) : json_null(); }

static json_t *mig_mode(int mode) { return json_string(mode ? "enabled" : "disabled"); }

json_t *gpujson_info(const struct gpu_info *in) {
  json_t *o = json_object();
  char hex[16];
  snprintf(hex, sizeof hex, "0x%08X", in->pci_device_id);
  json_object_set_new(o, "index", json_integer(in->index));
  json_object_set_new(o, "name", json_string(in->name));
  json_object_set_new(o, "uuid", json_string(in->uuid));
  json_object_set_new(o, "pci_bus_id", json_string(in->pci_bus_id));
  json_object_set_new(o, "pci_device_id",
                      in->valid & GPU_INFO_PCI_DEVICE_ID ? json_string(hex) : json_null());
  json_object_set_new(o, "serial", str_or_null(in->serial));
  json_object_set_new(o, "vbios_version", str_or_null(in->vbios_version));
  json_object_set_new(o, "driver_version", str_or_null(in->driver_version));
  json_object_set_new(
      o, "cuda_driver_version",
      in->valid & GPU_INFO_CUDA_VERSION
          ? json_sprintf("%d.%d", in->cuda_version / 1000, (in->cuda_version % 1000) / 10)
          : json_null());
  json_object_set_new(o, "memory_total_mib", json_integer((json_int_t)in->memory_total_mib));
  json_object_set_new(o, "sm_count", jsonio_number(in->valid & GPU_INFO_SM_COUNT, in->sm_count));
  json_object_set_new(
      o, "compute_capability",
      in->valid & GPU_INFO_CC ? json_sprintf("%d.%d", in->cc_major, in->cc_minor) : json_null());
  json_object_set_new(o, "max_sm_clock_mhz",
                      jsonio_number(in->valid & GPU_INFO_MAX_SM_CLOCK, in->max_sm_clock_mhz));
  json_object_set_new(o, "max_mem_clock_mhz",
                      jsonio_number(in->valid & GPU_INFO_MAX_MEM_CLOCK, in->max_mem_clock_mhz));
  json_object_set_new(o, "power_limit_w",
                      jsonio_number(in->valid & GPU_INFO_POWER_LIMIT, in->power_limit_mw / 1000.0));
  if (in->valid & GPU_INFO_MIG_MODE) {
    json_object_set_new(o, "mig_mode",
                        json_pack("{s:o,s:o}", "current", mig_mode(in->mig_current), "pending",
                                  mig_mode(in->mig_pending)));
  } else {
    json_object_set_new(o, "mig_mode", json_null());
  }
  json_object_set_new(o, "gpm_supported", json_boolean(in->gpm_supported));
  json_object_set_new(o, "catalog_model", in->model ? json_string(in->model->key) : json_null());
  json_object_set_new(o, "simulated", json_boolean(in->simulated));
  if (in->note[0]) json_object_set_new(o, "note", json_string(in->note));
  return o;
}

json_t *gpujson_values(const struct gpu_values *vals, bool gpm_only) {
  json_t *o = json_object();
  for (int m = gpm_only ? GPU_METRIC_FIRST_GPM : 0; m < GPU_METRIC_COUNT; m++) {
    double v = 0;
    bool ok = gpu_values_get(vals, (enum gpu_metric)m, &v);
    json_object_set_new(o, gpu_metric_key((enum gpu_metric)m), jsonio_number(ok, v));
  }
  double v;
  if (!gpm_only && gpu_values_get(vals, GPU_M_CLOCK_REASONS, &v))
    json_object_set_new(o, "clock_event_reason_names", gpujson_clock_reasons((uint64_t)v));
  if (!gpm_only && gpu_values_get(vals, GPU_M_RECOVERY_ACTION, &v))
    json_object_set_new(o, "recovery_action_name", json_string(gpu_recovery_action_name((int)v)));
  return o;
}

json_t *gpujson_sample(const struct gpu_sample *s) {
  json_t *o = gpujson_values(&s->dev, false);
  json_object_set_new(o, "lost", json_boolean(s->lost));
  if (s->n_mig > 0) {
    json_t *a = json_array();
    for (int i = 0; i < s->n_mig; i++) {
      json_t *mi = gpujson_values(&s->mig[i].val, true);
      json_object_set_new(mi, "gpu_instance_id", json_integer(s->mig[i].gi_id));
      json_object_set_new(mi, "profile_id", json_integer(s->mig[i].profile_id));
      json_array_append_new(a, mi);
    }
    json_object_set_new(o, "mig", a);
  }
  return o;
}

json_t *gpujson_mig_profile(const struct gpu_mig_profile *p) {
  json_t *pl = json_array();
  for (int i = 0; i < p->n_placements; i++)
    json_array_append_new(
        pl, json_pack("{s:i,s:i}", "start", p->placements[i].start, "size", p->placement_size));
  return json_pack("{s:i,s:s,s:i,s:i,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:o}", "id", p->id, "name",
                   p->name, "compute_slices", p->compute_slices, "max_instances", p->max_instances,
                   "sm_count", p->sm_count, "memory_mib", (json_int_t)p->memory_mib, "copy_engines",
                   p->copy_engines, "decoders", p->decoders, "encoders", p->encoders, "jpegs",
                   p->jpegs, "ofas", p->ofas, "placements", pl);
}

json_t *gpujson_mig_instance(const struct gpu_mig_instance *m) {
  return json_pack("{s:i,s:i,s:s,s:i,s:i,s:I,s:i}", "gpu_instance_id", m->gi_id, "profile_id",
                   m->profile_id, "profile", m->profile_name, "start", m->start, "size", m->size,
                   "memory_mib", (json_int_t)m->memory_mib, "sm_count", m->sm_count);
}

static void add_mig(json_t *o, struct gpu_backend *b, int index) {
  struct gpu_mig_profile prof[16];
  int n = gpu_mig_profiles(b, index, prof, 16);
  if (n < 0) {
    json_object_set_new(o, "mig_profiles_error", json_string(err_msg()));
  } else {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, gpujson_mig_profile(&prof[i]));
    json_object_set_new(o, "mig_profiles", a);
  }
  struct gpu_mig_instance inst[GPU_MIG_MAX];
  n = gpu_mig_instances(b, index, inst, GPU_MIG_MAX);
  if (n < 0) {
    json_object_set_new(o, "mig_instances_error", json_string(err_msg()));
  } else {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, gpujson_mig_instance(&inst[i]));
    json_object_set_new(o, "mig_instances", a);
  }
}

json_t *gpujson_device(struct gpu_backend *b, int index, unsigned flags) {
  struct gpu_info info;
  int rc = gpu_get_info(b, index, &info);
  json_t *o;
  if (rc < 0) {
    o = json_object();
    json_object_set_new(o, "index", json_integer(index));
    json_object_set_new(o, "info_error", json_string(err_msg()));
  } else {
    o = gpujson_info(&info);
  }
  if (flags & GPUJSON_SAMPLE) {
    struct gpu_sample s;
    rc = gpu_sample(b, index, &s);
    if (rc < 0) json_object_set_new(o, "sample_error", json_string(err_msg()));
    if (rc >= 0 || s.lost) json_object_set_new(o, "sample", gpujson_sample(&s));
  }
  if (flags & GPUJSON_MIG) add_mig(o, b, index);
  return o;
}

int gpujson_devices(struct gpu_backend *b, unsigned flags, int prime_ms, json_t **out) {
  *out = NULL;
  int n = gpu_count(b);
  if (n < 0) return n;
  if ((flags & GPUJSON_SAMPLE) && prime_ms > 0) {
    struct gpu_sample s;
    for (int i = 0; i < n; i++) gpu_sample(b, i, &s); /* errors show in the real sample below */
    time_sleep_ns((int64_t)prime_ms * 1000000LL);
  }
  json_t *arr = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(arr, gpujson_device(b, i, flags));
  *out = arr;
  return 0;
}
