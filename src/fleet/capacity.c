/*
 * capacity.c — the fewest nodes that meet a p99 queueing-delay target (see
 * capacity.h).
 *
 * Sections: the tasks the model may run; one probe; the bisection; JSON.
 */
#include "fleet/capacity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "fleet/sim.h"
#include "fleet/workload.h"

/* ---- the tasks the model may run ----------------------------------------- */

static bool allowed(const struct fleet_taskset *ts, const struct fleet_task *t, const char *model) {
  if (t->model_mask == 0 || t->num_gpu == 0) return true;
  for (int b = 0; b < ts->n_models; b++)
    if ((t->model_mask >> b & 1) && !strcmp(ts->models[b], model)) return true;
  return false;
}

static int runnable(const struct fleet_taskset *ts, const char *model, struct fleet_taskset *out,
                    int *dropped) {
  int rc = fleet_taskset_init(out);
  *dropped = 0;
  for (int i = 1; rc == 0 && i < ts->n_tenants; i++)
    rc = fleet_taskset_tenant(out, ts->tenants[i]) < 0;
  for (int i = 0; rc == 0 && i < ts->n_models; i++)
    rc = fleet_taskset_model(out, ts->models[i]) < 0;
  for (int i = 0; rc == 0 && i < ts->n; i++) {
    if (allowed(ts, &ts->tasks[i], model))
      rc = fleet_taskset_add(out, &ts->tasks[i]);
    else
      ++*dropped;
  }
  out->has_times = ts->has_times;
  return rc ? ERR_NOMEM : 0;
}

/* ---- one probe ----------------------------------------------------------- */

static int probe(const struct fleet_taskset *ts, const struct fleet_capacity_spec *sp, int nodes,
                 struct fleet_capacity_probe *p) {
  struct inventory inv;
  struct fleet_gen_fleet f = {
      nodes, sp->model, sp->gpus_per_node, sp->cpu_milli, sp->memory_mib, !sp->whole_gpus, false};
  struct fleet_sim s;
  struct fleet_sim_result r;
  int rc = fleet_gen_fleet(&inv, &f);
  if (rc) return rc;
  rc = fleet_sim_init(&s, &inv, ts, false);
  if (rc == 0) {
    struct fleet_sim_config cfg = {
        .mode = FLEET_MODE_REPLAY, .policy = sp->policy ? sp->policy : "fgd-cpu", .seed = sp->seed};
    rc = fleet_sim_run(&s, &cfg, &r);
    if (rc == 0) {
      *p = (struct fleet_capacity_probe){nodes,           r.queue_p50_s,      r.queue_p99_s,
                                         r.never_started, r.mean_alloc_ratio, false};
      p->ok = r.never_started == 0 && r.queue_p99_s <= sp->target_p99_s;
      fleet_sim_result_free(&r);
    }
    fleet_sim_free(&s);
  }
  inventory_free(&inv);
  return rc;
}

/* ---- the bisection ------------------------------------------------------- */

static int check_spec(const struct fleet_taskset *ts, const struct fleet_capacity_spec *sp) {
  if (!sp->model || !sp->model[0]) return err_set(ERR_INVALID, "give a GPU model for the nodes");
  if (!ts->has_times)
    return err_set(ERR_INVALID, "%s has no arrival times; capacity planning replays them",
                   ts->source);
  if (sp->target_p99_s < 0) return err_set(ERR_INVALID, "the p99 target must be >= 0 seconds");
  int g = sp->gpus_per_node ? sp->gpus_per_node : 8;
  for (int i = 0; i < ts->n; i++)
    if (ts->tasks[i].num_gpu > g)
      return err_set(ERR_INVALID, "task %s asks for %d GPUs; a node has %d", ts->tasks[i].name,
                     ts->tasks[i].num_gpu, g);
  return 0;
}

/* Enough nodes to run every task at once (GPUs, CPU and memory each). */
static int ceiling(const struct fleet_taskset *ts, const struct fleet_capacity_spec *sp) {
  double gpu = 0, cpu = 0, mem = 0;
  for (int i = 0; i < ts->n; i++) {
    const struct fleet_task *t = &ts->tasks[i];
    gpu += t->mig_profile >= 0 || t->gpu_milli >= FLEET_MILLI ? t->num_gpu : 1; /* shares: 1 each */
    cpu += t->cpu_milli;
    mem += t->memory_mib;
  }
  double n = gpu / (sp->gpus_per_node ? sp->gpus_per_node : 8);
  double nc = cpu / (sp->cpu_milli ? sp->cpu_milli : 96000);
  double nm = mem / (double)(sp->memory_mib ? sp->memory_mib : 393216);
  if (nc > n) n = nc;
  if (nm > n) n = nm;
  return (int)ceil(n) + 1;
}

int fleet_capacity_plan(const struct fleet_taskset *ts, const struct fleet_capacity_spec *sp,
                        struct fleet_capacity_result *out) {
  memset(out, 0, sizeof *out);
  out->target_p99_s = sp->target_p99_s;
  struct fleet_taskset run;
  int rc = check_spec(ts, sp);
  if (rc) return rc;
  if ((rc = runnable(ts, sp->model, &run, &out->dropped))) goto out;
  out->tasks = run.n;
  if (run.n == 0) {
    rc = err_set(ERR_INVALID, "no task of %s may run on %s", ts->source, sp->model);
    goto out;
  }
  int64_t t0 = time_mono_ns();
  int lo = 0, hi = sp->max_nodes > 0 ? sp->max_nodes : ceiling(&run, sp);
  struct fleet_capacity_probe p;
  if ((rc = probe(&run, sp, hi, &p))) goto out;
  out->probes[out->n_probes++] = p;
  if (p.ok) {
    while (hi - lo > 1 &&
           out->n_probes < FLEET_CAPACITY_PROBES) { /* lo fails (or is 0), hi passes */
      int mid = lo + (hi - lo) / 2;
      if ((rc = probe(&run, sp, mid, &p))) goto out;
      out->probes[out->n_probes++] = p;
      if (p.ok)
        hi = mid;
      else
        lo = mid;
    }
    out->found = true;
    out->nodes = hi;
    out->gpus = hi * (sp->gpus_per_node ? sp->gpus_per_node : 8);
  }
  out->wall_s = (double)(time_mono_ns() - t0) / 1e9;
out:
  fleet_taskset_free(&run);
  return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

json_t *fleet_capacity_json(const struct fleet_capacity_result *r,
                            const struct fleet_capacity_spec *sp) {
  json_t *probes = json_array();
  for (int i = 0; i < r->n_probes; i++) {
    const struct fleet_capacity_probe *p = &r->probes[i];
    json_array_append_new(
        probes,
        json_pack("{s:i,s:f,s:f,s:i,s:f,s:b}", "nodes", p->nodes, "queue_delay_p50_s", p->p50_s,
                  "queue_delay_p99_s", p->p99_s, "never_started", p->never_started,
                  "mean_allocation", p->mean_alloc, "meets_target", p->ok));
  }
  return json_pack("{s:s,s:i,s:f,s:b,s:o,s:o,s:i,s:i,s:f,s:o}", "model", sp->model, "gpus_per_node",
                   sp->gpus_per_node ? sp->gpus_per_node : 8, "target_p99_s", r->target_p99_s,
                   "found", r->found, "nodes", r->found ? json_integer(r->nodes) : json_null(),
                   "gpus", r->found ? json_integer(r->gpus) : json_null(), "tasks", r->tasks,
                   "tasks_left_out", r->dropped, "wall_s", r->wall_s, "probes", probes);
}
