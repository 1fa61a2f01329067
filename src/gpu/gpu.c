/*
 * gpu.c — backend selection and the calls through the vtable; metric table.
 *
 * Sections: metric names and validity bits; backend kinds; open/close with the
 * auto fallback; thin wrappers that check arguments before dispatch.
 */
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- metrics ---- */
static const char *const metric_keys[] = {
#define GPU_METRIC_KEY(e, key, unit) key,
    GPU_METRICS(GPU_METRIC_KEY)
#undef GPU_METRIC_KEY
};
static const char *const metric_units[] = {
#define GPU_METRIC_UNIT(e, key, unit) unit,
    GPU_METRICS(GPU_METRIC_UNIT)
#undef GPU_METRIC_UNIT
};

void gpu_values_clear(struct gpu_values *vals) { memset(vals, 0, sizeof *vals); }

void gpu_values_set(struct gpu_values *vals, enum gpu_metric m, double v) {
  if ((unsigned)m >= GPU_METRIC_COUNT) return;
  vals->v[m] = v;
  vals->valid |= 1ULL << m;
}

bool gpu_values_get(const struct gpu_values *vals, enum gpu_metric m, double *v) {
  if ((unsigned)m >= GPU_METRIC_COUNT || !(vals->valid & (1ULL << m))) return false;
  *v = vals->v[m];
  return true;
}

const char *gpu_metric_key(enum gpu_metric m) {
  return (unsigned)m < GPU_METRIC_COUNT ? metric_keys[m] : "unknown";
}

const char *gpu_metric_unit(enum gpu_metric m) {
  return (unsigned)m < GPU_METRIC_COUNT ? metric_units[m] : "";
}

const struct gpu_clock_reason gpu_clock_reasons[GPU_CLOCK_REASON_COUNT] = {
    {GPU_CLOCK_REASON_GPU_IDLE, "gpu_idle"},
    {GPU_CLOCK_REASON_APP_CLOCKS, "app_clocks"},
    {GPU_CLOCK_REASON_SW_POWER_CAP, "sw_power_cap"},
    {GPU_CLOCK_REASON_HW_SLOWDOWN, "hw_slowdown"},
    {GPU_CLOCK_REASON_SYNC_BOOST, "sync_boost"},
    {GPU_CLOCK_REASON_SW_THERMAL, "sw_thermal"},
    {GPU_CLOCK_REASON_HW_THERMAL, "hw_thermal"},
    {GPU_CLOCK_REASON_HW_POWER_BRAKE, "hw_power_brake"},
    {GPU_CLOCK_REASON_DISPLAY_CLOCK, "display_clock"},
};

const char *gpu_recovery_action_name(int action) {
  switch (action) {
  case GPU_RECOVERY_NONE: return "none";
  case GPU_RECOVERY_GPU_RESET: return "gpu_reset";
  case GPU_RECOVERY_NODE_REBOOT: return "node_reboot";
  case GPU_RECOVERY_DRAIN_P2P: return "drain_p2p";
  case GPU_RECOVERY_DRAIN_AND_RESET: return "drain_and_reset";
  }
  return "unknown";
}

/* ---- kinds ---- */
int gpu_backend_kind_parse(const char *s, enum gpu_backend_kind *out) {
  if (!s) return err_set(ERR_INVALID, "missing backend name (use auto, nvml or sim)");
  if (!strcmp(s, "auto")) *out = GPU_BACKEND_AUTO;
  else if (!strcmp(s, "nvml")) *out = GPU_BACKEND_NVML;
  else if (!strcmp(s, "sim")) *out = GPU_BACKEND_SIM;
  else return err_set(ERR_INVALID, "unknown backend '%s' (use auto, nvml or sim)", s);
  return 0;
}

/* ---- open/close ---- */
static int open_one(const struct gpu_backend_ops *ops, const struct gpu_options *o,
                    struct gpu_backend **out) {
  struct gpu_backend *b = calloc(1, sizeof *b);
  if (!b) return err_set(ERR_NOMEM, "out of memory opening the %s backend", ops->name);
  b->ops = ops;
  int rc = ops->open(b, o);
  if (rc < 0) {
    free(b);
    return rc;
  }
  *out = b;
  return 0;
}

/* nvml that loads but sees no GPU is not usable for auto. */
static int open_nvml_with_gpu(const struct gpu_options *o, struct gpu_backend **out) {
  int rc = open_one(&gpu_nvml_ops, o, out);
  if (rc < 0) return rc;
  int n = gpu_count(*out);
  if (n > 0) return 0;
  gpu_close(*out);
  *out = NULL;
  return n < 0 ? n : err_set(ERR_NODEVICE, "NVML loaded but reports no GPU");
}

int gpu_open(const struct gpu_options *o, struct gpu_backend **out) {
  *out = NULL;
  switch (o->kind) {
  case GPU_BACKEND_NVML: return open_one(&gpu_nvml_ops, o, out);
  case GPU_BACKEND_SIM: return open_one(&gpu_sim_ops, o, out);
  case GPU_BACKEND_AUTO: break;
  }
  int rc = open_nvml_with_gpu(o, out);
  if (rc == 0) return 0;
  if (!o->allow_sim_fallback)
    return err_wrap(rc, "no usable GPU through NVML (pass --backend sim to use simulated GPUs)");
  char why[400];
  snprintf(why, sizeof why, "%s", err_msg());
  rc = open_one(&gpu_sim_ops, o, out);
  if (rc < 0) return rc;
  snprintf((*out)->note, sizeof (*out)->note, "no usable GPU through NVML (%s): using simulated GPUs", why);
  return 0;
}

void gpu_close(struct gpu_backend *b) {
  if (!b) return;
  if (b->ops && b->ops->close) b->ops->close(b);
  free(b);
}

const char *gpu_backend_name(const struct gpu_backend *b) { return b && b->ops ? b->ops->name : "none"; }

/* ---- calls ---- */
static int check_index(struct gpu_backend *b, int index) {
  int n = b->ops->count(b);
  if (n < 0) return n;
  if (index < 0 || index >= n)
    return err_set(ERR_RANGE, "GPU index %d out of range (this backend has %d GPU%s)", index, n,
                   n == 1 ? "" : "s");
  return 0;
}

int gpu_count(struct gpu_backend *b) { return b->ops->count(b); }

int gpu_get_info(struct gpu_backend *b, int index, struct gpu_info *out) {
  int rc = check_index(b, index);
  if (rc < 0) return rc;
  memset(out, 0, sizeof *out);
  out->index = index;
  out->simulated = b->simulated;
  return b->ops->info(b, index, out);
}

int gpu_sample(struct gpu_backend *b, int index, struct gpu_sample *out) {
  int rc = check_index(b, index);
  if (rc < 0) return rc;
  memset(out, 0, sizeof *out);
  return b->ops->sample(b, index, out);
}

int gpu_mig_profiles(struct gpu_backend *b, int index, struct gpu_mig_profile *out, int cap) {
  int rc = check_index(b, index);
  if (rc < 0) return rc;
  if (!b->ops->mig_profiles) return err_set(ERR_UNSUPPORTED, "%s backend lists no MIG profiles", b->ops->name);
  return b->ops->mig_profiles(b, index, out, cap);
}

int gpu_mig_instances(struct gpu_backend *b, int index, struct gpu_mig_instance *out, int cap) {
  int rc = check_index(b, index);
  if (rc < 0) return rc;
  if (!b->ops->mig_instances) return err_set(ERR_UNSUPPORTED, "%s backend lists no MIG instances", b->ops->name);
  return b->ops->mig_instances(b, index, out, cap);
}

int gpu_wait_events(struct gpu_backend *b, int timeout_ms, struct gpu_event *out, int cap) {
  if (!b->ops->wait_events) return err_set(ERR_UNSUPPORTED, "%s backend has no events", b->ops->name);
  return b->ops->wait_events(b, timeout_ms, out, cap);
}
