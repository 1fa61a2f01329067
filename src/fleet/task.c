/*
 * task.c — tasks and task sets (see task.h).
 *
 * Sections: task; task set; QoS.
 */
#include "fleet/task.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "catalog/catalog.h"

/* ---- 1. task ------------------------------------------------------------- */

uint32_t fleet_task_gpu_milli_total(const struct fleet_task *t) {
  if (t->mig_profile >= 0) {
    /* Compute slices of the profile id (the same on every MIG model): 19/20/15 -> 1, 14 -> 2,
     * 9 -> 3, 5 -> 4, 0 -> 7. */
    int slices = t->mig_profile == 14  ? 2
                 : t->mig_profile == 9 ? 3
                 : t->mig_profile == 5 ? 4
                 : t->mig_profile == 0 ? 7
                                       : 1;
    return (uint32_t)(slices * FLEET_MILLI / 7);
  }
  return (uint32_t)t->num_gpu * t->gpu_milli;
}

/* ---- 2. task set --------------------------------------------------------- */

int fleet_taskset_init(struct fleet_taskset *ts) {
  memset(ts, 0, sizeof *ts);
  return fleet_taskset_tenant(ts, "default") < 0 ? ERR_NOMEM : 0;
}

void fleet_taskset_free(struct fleet_taskset *ts) {
  if (!ts) return;
  free(ts->tasks);
  free(ts->tenants);
  memset(ts, 0, sizeof *ts);
}

int fleet_taskset_add(struct fleet_taskset *ts, const struct fleet_task *t) {
  if (ts->n == ts->cap) {
    int cap = ts->cap ? ts->cap * 2 : 1024;
    struct fleet_task *grown = realloc(ts->tasks, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory adding task %d", ts->n);
    ts->tasks = grown;
    ts->cap = cap;
  }
  ts->tasks[ts->n++] = *t;
  return 0;
}

int fleet_taskset_model(struct fleet_taskset *ts, const char *name) {
  for (int i = 0; i < ts->n_models; i++)
    if (!strcmp(ts->models[i], name)) return i;
  if (ts->n_models >= FLEET_MAX_MODELS)
    return err_set(ERR_RANGE, "more than %d GPU model names in one task set", FLEET_MAX_MODELS);
  snprintf(ts->models[ts->n_models], FLEET_MODEL_LEN, "%s", name);
  return ts->n_models++;
}

int fleet_taskset_tenant(struct fleet_taskset *ts, const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len >= FLEET_TENANT_LEN)
    return err_set(ERR_INVALID, "tenant names are 1..%d characters", FLEET_TENANT_LEN - 1);
  for (int i = 0; i < ts->n_tenants; i++)
    if (!strcmp(ts->tenants[i], name)) return i;
  if (ts->n_tenants == ts->cap_tenants) {
    int cap = ts->cap_tenants ? ts->cap_tenants * 2 : 8;
    char(*grown)[FLEET_TENANT_LEN] = realloc(ts->tenants, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory adding tenant '%s'", name);
    ts->tenants = grown;
    ts->cap_tenants = cap;
  }
  snprintf(ts->tenants[ts->n_tenants], FLEET_TENANT_LEN, "%s", name);
  return ts->n_tenants++;
}

uint64_t fleet_taskset_gpu_milli(const struct fleet_taskset *ts) {
  uint64_t total = 0;
  for (int i = 0; i < ts->n; i++) total += fleet_task_gpu_milli_total(&ts->tasks[i]);
  return total;
}

void fleet_taskset_compress(struct fleet_taskset *ts, double factor) {
  if (factor <= 0 || factor == 1) return;
  int64_t t0 = INT64_MAX;
  for (int i = 0; i < ts->n; i++)
    if (ts->tasks[i].create_s >= 0 && ts->tasks[i].create_s < t0) t0 = ts->tasks[i].create_s;
  for (int i = 0; i < ts->n; i++)
    if (ts->tasks[i].create_s >= 0)
      ts->tasks[i].create_s = t0 + (int64_t)((double)(ts->tasks[i].create_s - t0) / factor);
}

/* ---- 3. QoS -------------------------------------------------------------- */

static const char *const qos_names[] = {"BE", "Burstable", "LS", "Guaranteed"};

int fleet_qos_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (!strcasecmp(s, qos_names[i])) return i;
  return -1;
}

const char *fleet_qos_name(int qos) { return qos >= 0 && qos < 4 ? qos_names[qos] : "?"; }
