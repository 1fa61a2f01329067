/*
 * sim.c — the simulator's world and the paper mode (see sim.h); the replay
 * mode is in replay.c.
 *
 * Sections:
 *   1. world: cluster, requests, request classes (open addressing over the
 *      request's shape), typical tasks;
 *   2. paper mode: resampling to the target, shuffle, place one by one, the
 *      allocation curve;
 *   3. results: JSON, quantiles, freeing.
 */
#include "fleet/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/rng.h"
#include "base/timeutil.h"
#include "fleet/policy.h"

/* ---- 1. world ------------------------------------------------------------ */

static uint64_t req_hash(const struct fleet_req *r) {
  uint64_t h = ((uint64_t)r->cpu_milli << 32) ^ r->memory_mib;
  h = rng_hash64(h ^ ((uint64_t)r->num_gpu << 48) ^ ((uint64_t)r->gpu_milli << 32) ^
                 ((uint64_t)(uint16_t)r->mig_profile << 16));
  return rng_hash64(h ^ r->model_mask);
}

static bool same_req(const struct fleet_req *a, const struct fleet_req *b) {
  return a->cpu_milli == b->cpu_milli && a->memory_mib == b->memory_mib &&
         a->num_gpu == b->num_gpu && a->gpu_milli == b->gpu_milli &&
         a->mig_profile == b->mig_profile && a->model_mask == b->model_mask;
}

/* Give each request a class: requests with the same shape share one. */
static int assign_classes(struct fleet_sim *s) {
  int n = s->ts->n;
  size_t cap = 64;
  while (cap < (size_t)n * 2 + 2) cap *= 2;
  int *slot = malloc(cap * sizeof *slot);
  if (!slot) return err_set(ERR_NOMEM, "out of memory (request classes)");
  memset(slot, 0xff, cap * sizeof *slot);
  s->n_cls = 0;
  for (int i = 0; i < n; i++) {
    size_t h = req_hash(&s->reqs[i]) & (cap - 1);
    while (slot[h] >= 0 && !same_req(&s->reqs[slot[h]], &s->reqs[i])) h = (h + 1) & (cap - 1);
    if (slot[h] < 0) {
      slot[h] = i;
      s->reqs[i].cls = s->n_cls++;
    } else {
      s->reqs[i].cls = s->reqs[slot[h]].cls;
    }
  }
  free(slot);
  return 0;
}

void fleet_sim_free(struct fleet_sim *s) {
  if (!s) return;
  fleet_cluster_free(&s->cluster);
  free(s->reqs);
  if (s->have_frag) fleet_frag_free(&s->frag);
  memset(s, 0, sizeof *s);
}

int fleet_sim_init(struct fleet_sim *s, const struct inventory *inv, const struct fleet_taskset *ts,
                   bool share_all) {
  memset(s, 0, sizeof *s);
  s->ts = ts;
  int rc = fleet_cluster_build(&s->cluster, inv, share_all);
  if (rc) return rc;
  if (ts->n == 0) {
    rc = err_set(ERR_INVALID, "the task list %s is empty", ts->source);
    goto out;
  }
  s->reqs = calloc((size_t)ts->n, sizeof *s->reqs);
  if (!s->reqs) {
    rc = err_set(ERR_NOMEM, "out of memory (%d requests)", ts->n);
    goto out;
  }
  for (int i = 0; i < ts->n; i++) fleet_req_from_task(&s->reqs[i], &ts->tasks[i], ts, &s->cluster);
  if ((rc = assign_classes(s))) goto out;
  rc = fleet_frag_build(&s->frag, s->reqs, ts->n, 0.95);
  s->have_frag = rc == 0;
  if (rc == ERR_INVALID) rc = 0; /* only MIG requests: no typical tasks, FGD unavailable */
out:
  if (rc) fleet_sim_free(s);
  return rc;
}

/* ---- 2. paper mode ------------------------------------------------------- */

/* The run's task order: the list resampled to the target request, shuffled. */
static int paper_order(const struct fleet_sim *s, double arrival, struct rng *rng, int **out,
                       int *n_out) {
  int n = s->ts->n, cap = n * 2 + 16, len = n;
  int *order = malloc((size_t)cap * sizeof *order);
  if (!order) return err_set(ERR_NOMEM, "out of memory (task order)");
  uint64_t total = 0, target = (uint64_t)llround(arrival * (double)s->cluster.gpu_capacity_milli);
  for (int i = 0; i < n; i++) {
    order[i] = i;
    total += fleet_req_gpu_milli(&s->reqs[i]);
  }
  while (total > target && len > 0) { /* too much: drop random tasks */
    int k = (int)rng_below(rng, (uint64_t)len);
    total -= fleet_req_gpu_milli(&s->reqs[order[k]]);
    order[k] = order[--len];
  }
  while (total < target) { /* too little: add random copies while the next one fits */
    int pick = (int)rng_below(rng, (uint64_t)n);
    uint32_t g = fleet_req_gpu_milli(&s->reqs[pick]);
    if (total + g > target) break;
    if (len == cap) {
      cap *= 2;
      int *grown = realloc(order, (size_t)cap * sizeof *grown);
      if (!grown) {
        free(order);
        return err_set(ERR_NOMEM, "out of memory (task order)");
      }
      order = grown;
    }
    order[len++] = pick;
    total += g;
  }
  for (int i = len - 1; i > 0; i--) { /* Fisher-Yates */
    int j = (int)rng_below(rng, (uint64_t)i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  *out = order;
  *n_out = len;
  return 0;
}

static int add_point(struct fleet_sim_result *r, int *cap, double arrived, double allocated) {
  if (r->n_curve == *cap) {
    int ncap = *cap ? *cap * 2 : 256;
    struct fleet_curve_point *grown = realloc(r->curve, (size_t)ncap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory (curve)");
    r->curve = grown;
    *cap = ncap;
  }
  r->curve[r->n_curve++] = (struct fleet_curve_point){arrived, allocated};
  return 0;
}

static void latency_stats(struct fleet_sim_result *out, double *lat, int n) {
  out->decision_p50_us = fleet_quantile(lat, n, 0.50);
  out->decision_p99_us = fleet_quantile(lat, n, 0.99);
}

static int paper_place(struct fleet_sim *s, struct fleet_policy *p, const int *order, int n,
                       const struct fleet_sim_config *cfg, double *lat,
                       struct fleet_sim_result *out) {
  struct fleet_cluster *c = &s->cluster;
  double cap = (double)c->gpu_capacity_milli, step = cfg->curve_step > 0 ? cfg->curve_step : 0.01;
  double next_mark = 0, arrived = 0;
  int curve_cap = 0, rc = 0;
  bool at100 = false;
  for (int i = 0; i < n && rc == 0; i++) {
    const struct fleet_req *r = &s->reqs[order[i]];
    struct fleet_place pl;
    int64_t t0 = lat ? time_mono_ns() : 0;
    int ok = fleet_policy_choose(p, c, r, &pl);
    if (ok) fleet_cluster_apply(c, r, &pl);
    if (lat) lat[i] = (double)(time_mono_ns() - t0) / 1e3;
    out->placed += ok;
    out->unplaced += !ok;
    arrived += fleet_req_gpu_milli(r);
    double a = arrived / cap;
    if (!at100 && a >= 1.0) {
      out->unalloc_at_100 = fleet_cluster_gpus(c) - fleet_cluster_alloc_gpus(c);
      at100 = true;
    }
    if (a >= next_mark || i == n - 1) {
      rc = add_point(out, &curve_cap, a, fleet_cluster_alloc_gpus(c) * FLEET_MILLI / cap);
      while (next_mark <= a) next_mark += step;
    }
  }
  out->arrived = n;
  out->arrived_gpus = arrived / FLEET_MILLI;
  if (!at100) out->unalloc_at_100 = NAN;
  return rc;
}

static int paper_run(struct fleet_sim *s, const struct fleet_sim_config *cfg,
                     struct fleet_sim_result *out) {
  struct rng rng;
  struct fleet_policy p;
  int *order = NULL, n = 0, rc;
  double *lat = NULL;
  rng_seed(&rng, cfg->seed);
  rc = fleet_policy_init(&p, cfg->policy, &s->cluster, s->have_frag ? &s->frag : NULL,
                         rng_u64(&rng), cfg->ties);
  if (rc) return rc;
  if ((rc = paper_order(s, cfg->arrival > 0 ? cfg->arrival : 1.3, &rng, &order, &n))) goto out;
  if (cfg->record_latency && !(lat = malloc((size_t)(n ? n : 1) * sizeof *lat))) {
    rc = err_set(ERR_NOMEM, "out of memory (latencies)");
    goto out;
  }
  rc = paper_place(s, &p, order, n, cfg, lat, out);
  out->decisions = n;
  if (lat) latency_stats(out, lat, n);
  out->scored = p.scored;
  out->cached = p.cached;
out:
  fleet_policy_free(&p);
  free(order);
  free(lat);
  return rc;
}

int fleet_sim_run(struct fleet_sim *s, const struct fleet_sim_config *cfg,
                  struct fleet_sim_result *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->policy, sizeof out->policy, "%s", cfg->policy ? cfg->policy : "");
  out->seed = cfg->seed;
  out->mode = cfg->mode;
  out->decision_p50_us = out->decision_p99_us = NAN;
  out->max_victim_priority = -1000;
  out->min_preemptor_priority = 1000;
  if (!cfg->policy || !fleet_policy_find(cfg->policy)) {
    struct fleet_policy probe;
    return fleet_policy_init(&probe, cfg->policy ? cfg->policy : "", &s->cluster, NULL, 0,
                             FLEET_TIES_ORDER);
  }
  fleet_cluster_reset(&s->cluster);
  out->capacity_gpus = fleet_cluster_gpus(&s->cluster);
  int64_t t0 = time_mono_ns();
  int rc = cfg->mode == FLEET_MODE_REPLAY ? fleet_replay_run(s, cfg, out) : paper_run(s, cfg, out);
  out->wall_s = (double)(time_mono_ns() - t0) / 1e9;
  if (rc) {
    fleet_sim_result_free(out);
    return rc;
  }
  out->alloc_gpus = fleet_cluster_alloc_gpus(&s->cluster);
  if (cfg->mode == FLEET_MODE_PAPER) {
    out->unalloc_at_end = out->capacity_gpus - out->alloc_gpus;
    out->alloc_ratio = out->capacity_gpus > 0 ? out->alloc_gpus / out->capacity_gpus : 0;
  }
  if (s->have_frag) {
    double frag, free;
    fleet_frag_cluster(&s->frag, &s->cluster, &frag, &free);
    out->frag_gpus = frag / FLEET_MILLI;
    out->frag_ratio = free > 0 ? frag / free : 0;
  } else {
    out->frag_gpus = out->frag_ratio = NAN;
  }
  return 0;
}

/* ---- 3. results ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double fleet_quantile(double *v, int n, double q) {
  if (n <= 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double pos = q * (n - 1);
  int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

void fleet_sim_result_free(struct fleet_sim_result *r) {
  if (!r) return;
  free(r->curve);
  free(r->tenants);
  free(r->tasks);
  r->curve = NULL;
  r->tenants = NULL;
  r->tasks = NULL;
  r->n_curve = r->n_tenants = 0;
}

static json_t *num(double v) { return jsonio_number(isfinite(v), v); }

static void replay_json(json_t *o, const struct fleet_sim_result *r) {
  json_object_set_new(o, "started", json_integer(r->started));
  json_object_set_new(o, "finished", json_integer(r->finished));
  json_object_set_new(o, "never_started", json_integer(r->never_started));
  json_object_set_new(o, "preemptions", json_integer(r->preemptions));
  json_object_set_new(o, "requeued_by_failure", json_integer(r->requeued_by_failure));
  json_object_set_new(o, "queue_delay_p50_s", num(r->queue_p50_s));
  json_object_set_new(o, "queue_delay_p99_s", num(r->queue_p99_s));
  json_object_set_new(o, "queue_delay_max_s", num(r->queue_max_s));
  json_object_set_new(o, "mean_allocation", num(r->mean_alloc_ratio));
  json_object_set_new(o, "makespan_s", num(r->makespan_s));
  json_object_set_new(o, "gang_violations", json_integer(r->gang_violations));
  if (r->preemptions) {
    json_object_set_new(o, "max_victim_priority", json_integer(r->max_victim_priority));
    json_object_set_new(o, "min_preemptor_priority", json_integer(r->min_preemptor_priority));
  }
  json_t *ten = json_array();
  for (int i = 0; i < r->n_tenants; i++)
    json_array_append_new(
        ten, json_pack("{s:s,s:o,s:o,s:o,s:i}", "tenant", r->tenants[i].name, "gpu_seconds",
                       num(r->tenants[i].gpu_seconds), "share", num(r->tenants[i].share),
                       "peak_gpus", num(r->tenants[i].peak_gpus), "queued", r->tenants[i].queued));
  json_object_set_new(o, "tenants", ten);
}

json_t *fleet_sim_result_json(const struct fleet_sim_result *r, bool with_curve) {
  json_t *o = json_object();
  json_object_set_new(o, "policy", json_string(r->policy));
  json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
  json_object_set_new(o, "mode", json_string(r->mode == FLEET_MODE_REPLAY ? "replay" : "paper"));
  json_object_set_new(o, "capacity_gpus", num(r->capacity_gpus));
  json_object_set_new(o, "tasks_arrived", json_integer(r->arrived));
  json_object_set_new(o, "tasks_placed", json_integer(r->placed));
  json_object_set_new(o, "tasks_unplaced", json_integer(r->unplaced));
  json_object_set_new(o, "arrived_gpus", num(r->arrived_gpus));
  json_object_set_new(o, "allocated_gpus", num(r->alloc_gpus));
  if (r->mode == FLEET_MODE_PAPER) {
    json_object_set_new(o, "unallocated_gpus_at_100", num(r->unalloc_at_100));
    json_object_set_new(o, "unallocated_gpus_at_end", num(r->unalloc_at_end));
    json_object_set_new(o, "allocation_ratio", num(r->alloc_ratio));
  } else {
    replay_json(o, r);
  }
  json_object_set_new(o, "fragmented_gpus", num(r->frag_gpus));
  json_object_set_new(o, "fragmentation_ratio", num(r->frag_ratio));
  json_object_set_new(o, "wall_s", num(r->wall_s));
  json_object_set_new(o, "decisions", json_integer(r->decisions));
  json_object_set_new(o, "decision_p50_us", num(r->decision_p50_us));
  json_object_set_new(o, "decision_p99_us", num(r->decision_p99_us));
  if (with_curve && r->n_curve) {
    json_t *curve = json_array();
    for (int i = 0; i < r->n_curve; i++)
      json_array_append_new(
          curve, json_pack("[o,o]", num(r->curve[i].arrived), num(r->curve[i].allocated)));
    json_object_set_new(o, "curve", curve);
  }
  return o;
}
