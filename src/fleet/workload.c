/*
 * workload.c — synthetic fleets and workloads (see workload.h).
 *
 * Sections:
 *   1. the Alibaba-like node mix and fleets;
 *   2. request shapes (weights modelled on the 2023 trace's default list);
 *   3. arrivals, run times, tenants, priorities.
 */
#include "fleet/workload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "catalog/catalog.h"

/* ---- 1. fleets ----------------------------------------------------------- */

struct shape {
  double weight;
  const char *model;
  int gpus;
  uint32_t cpu_milli;
  uint64_t mem_mib;
};

/* The Alibaba 2023 GPU nodes by shape (1,213 nodes; weights are node counts). */
static const struct shape alibaba_mix[] = {
    {549, "G2", 8, 96000, 393216},     {387, "T4", 2, 104000, 524288},
    {107, "P100", 2, 16000, 122880},   {39, "G3", 8, 128000, 786432},
    {28, "V100M16", 4, 32000, 131072}, {22, "P100", 2, 64000, 262144},
    {21, "V100M32", 8, 96000, 786432}, {19, "V100M16", 1, 8000, 32768},
    {17, "T4", 4, 96000, 393216},      {9, "V100M32", 4, 48000, 376832},
    {8, "V100M16", 8, 64000, 262144},  {5, "P100", 1, 8000, 61440},
    {2, "A10", 1, 128000, 1048576},
};

static const struct shape *pick_mix(struct rng *r) {
  double total = 0;
  for (size_t i = 0; i < sizeof alibaba_mix / sizeof *alibaba_mix; i++)
    total += alibaba_mix[i].weight;
  double u = rng_uniform(r) * total;
  for (size_t i = 0; i < sizeof alibaba_mix / sizeof *alibaba_mix; i++) {
    if (u < alibaba_mix[i].weight) return &alibaba_mix[i];
    u -= alibaba_mix[i].weight;
  }
  return &alibaba_mix[0];
}

static int fill_node(struct inv_node *n, int i, const struct shape *sh, bool shared, bool mig) {
  snprintf(n->name, sizeof n->name, "gen-node-%05d", i + 1);
  n->cpu_milli = sh->cpu_milli;
  n->memory_mib = sh->mem_mib;
  snprintf(n->state, sizeof n->state, "up");
  n->gpus = calloc((size_t)sh->gpus, sizeof *n->gpus);
  if (sh->gpus && !n->gpus) return err_set(ERR_NOMEM, "out of memory (synthetic fleet)");
  const struct catalog_model *m = catalog_find(sh->model);
  for (int g = 0; g < sh->gpus; g++) {
    n->gpus[g].index = g;
    n->gpus[g].model = m;
    snprintf(n->gpus[g].model_name, sizeof n->gpus[g].model_name, "%s", m ? m->key : sh->model);
    n->gpus[g].shared = shared;
    n->gpus[g].mig_enabled = mig;
  }
  n->n_gpus = sh->gpus;
  return 0;
}

static int check_fleet(const struct fleet_gen_fleet *f, const struct shape *one) {
  if (f->n_nodes <= 0 || f->n_nodes > 1000000)
    return err_set(ERR_INVALID, "a synthetic fleet has 1..1000000 nodes, not %d", f->n_nodes);
  if (!one) return 0;
  if (one->gpus < 0 || one->gpus > 64)
    return err_set(ERR_INVALID, "GPUs per node must be 0..64, not %d", one->gpus);
  if (f->mig) {
    const struct catalog_model *m = catalog_find(one->model);
    if (!m || m->n_mig_profiles == 0)
      return err_set(ERR_INVALID,
                     "MIG needs a model with MIG profiles (H200, H100-80GB, "
                     "A100-80GB, A100-40GB), not '%s'",
                     one->model);
  }
  return 0;
}

int fleet_gen_fleet(struct inventory *inv, const struct fleet_gen_fleet *f) {
  inventory_init(inv);
  bool mix = !f->model || !strcmp(f->model, "mix");
  struct shape one = {1, f->model, f->gpus_per_node ? f->gpus_per_node : 8,
                      f->cpu_milli ? f->cpu_milli : 96000, f->memory_mib ? f->memory_mib : 393216};
  int rc = check_fleet(f, mix ? NULL : &one);
  if (rc) return rc;
  inv->nodes = calloc((size_t)f->n_nodes, sizeof *inv->nodes);
  if (!inv->nodes) return err_set(ERR_NOMEM, "out of memory (synthetic fleet)");
  struct rng r;
  rng_seed(&r, 0x5eed0f1ee7ULL + (uint64_t)f->n_nodes);
  for (int i = 0; i < f->n_nodes && rc == 0; i++) {
    rc = fill_node(&inv->nodes[i], i, mix ? pick_mix(&r) : &one, mix || f->shared, !mix && f->mig);
    inv->n_nodes = i + 1;
  }
  snprintf(inv->name, sizeof inv->name, "synthetic-%d", f->n_nodes);
  snprintf(inv->source, sizeof inv->source, "generated (%d nodes, %s)", f->n_nodes,
           mix ? "Alibaba node mix" : one.model);
  inv->seed = 1;
  if (rc) inventory_free(inv);
  return rc;
}

/* ---- 2. request shapes --------------------------------------------------- */

struct weighted {
  double w;
  uint32_t a, b; /* shape-specific: (cpu, milli) or (cpu, gpus) */
};

/* Fractions of a GPU with their CPU, as the trace's most common share tasks. */
static const struct weighted share_shapes[] = {
    {1047, 3152, 810}, {388, 11908, 470}, {360, 8000, 470}, {237, 11908, 650},
    {232, 4000, 320},  {122, 4000, 230},  {120, 6000, 460}, {75, 3152, 590},
    {72, 8000, 320},   {72, 4152, 550},   {54, 4000, 160},  {45, 4152, 370},
    {43, 4000, 220},   {31, 4152, 810},   {18, 4000, 110},  {18, 4000, 480},
};
/* Whole single GPUs with their CPU. */
static const struct weighted whole_shapes[] = {
    {874, 11300, 1}, {599, 11400, 1}, {470, 3152, 1}, {326, 12000, 1}, {255, 18708, 1},
    {195, 9810, 1},  {164, 8000, 1},  {159, 4000, 1}, {158, 15700, 1}, {153, 11908, 1},
    {150, 16000, 1}, {93, 14200, 1},  {84, 24200, 1},
};
/* Several GPUs (CPU per task). */
static const struct weighted multi_shapes[] = {
    {16, 16200, 2},
    {15, 32200, 4},
    {22, 64200, 8},
    {22, 88000, 8},
};
/* CPU-only tasks. */
static const struct weighted cpu_shapes[] = {
    {366, 12500, 0}, {290, 32000, 0}, {185, 8000, 0}, {120, 15400, 0}, {95, 16500, 0},
};

static const struct weighted *draw(struct rng *r, const struct weighted *w, size_t n) {
  double total = 0;
  for (size_t i = 0; i < n; i++) total += w[i].w;
  double u = rng_uniform(r) * total;
  for (size_t i = 0; i < n; i++) {
    if (u < w[i].w) return &w[i];
    u -= w[i].w;
  }
  return &w[n - 1];
}

#define DRAW(r, table) draw(r, table, sizeof table / sizeof *table)

/* The MIG profile id closest to a fraction of a GPU: 1g, 2g, 3g or 4g. */
static int mig_for(uint32_t milli) {
  return milli <= 143 ? 19 : milli <= 286 ? 14 : milli <= 429 ? 9 : milli <= 572 ? 5 : 0;
}

static void shape_task(struct rng *r, const struct fleet_gen_tasks *g, double p_cpu, double p_share,
                       double p_multi, struct fleet_task *t) {
  double u = rng_uniform(r);
  const struct weighted *w;
  if (u < p_cpu) {
    w = DRAW(r, cpu_shapes);
    t->cpu_milli = w->a;
  } else if (u < p_cpu + p_share) {
    w = DRAW(r, share_shapes);
    t->cpu_milli = w->a;
    t->num_gpu = 1;
    t->gpu_milli = (uint16_t)w->b;
    if (g->mig_model) {
      t->mig_profile = (int16_t)mig_for(w->b);
      struct fleet_task probe = *t;
      t->gpu_milli = (uint16_t)fleet_task_gpu_milli_total(&probe);
    }
  } else if (u < p_cpu + p_share + p_multi) {
    w = DRAW(r, multi_shapes);
    t->cpu_milli = w->a;
    t->num_gpu = (uint16_t)w->b;
    t->gpu_milli = FLEET_MILLI;
  } else {
    w = DRAW(r, whole_shapes);
    t->cpu_milli = w->a;
    t->num_gpu = 1;
    t->gpu_milli = FLEET_MILLI;
  }
  t->memory_mib = t->cpu_milli / 1000 * 4096 + 1024; /* about 4 GiB per core, as the trace */
}

/* ---- 3. arrivals, run times, tenants ------------------------------------- */

static int check_tasks(const struct fleet_gen_tasks *g) {
  if (g->n_tasks <= 0 || g->n_tasks > 10000000)
    return err_set(ERR_INVALID, "a synthetic workload has 1..10000000 tasks, not %d", g->n_tasks);
  if (g->cpu_only < 0 || g->share < 0 || g->multi < 0 || g->cpu_only + g->share + g->multi > 1)
    return err_set(ERR_INVALID, "task kind shares must be >= 0 and add up to at most 1");
  if (g->n_tenants < 0 || g->n_tenants > 1000)
    return err_set(ERR_INVALID, "tenants must be 0..1000, not %d", g->n_tenants);
  if (g->high_priority < 0 || g->high_priority > 1)
    return err_set(ERR_INVALID, "the high-priority share must be in [0, 1]");
  if (g->mig_model) {
    const struct catalog_model *m = catalog_find(g->mig_model);
    if (!m || m->n_mig_profiles == 0)
      return err_set(ERR_INVALID, "'%s' has no MIG profiles", g->mig_model);
  }
  return 0;
}

static int add_tenants(struct fleet_taskset *ts, int n) {
  for (int i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof name, "t%d", i);
    int rc = fleet_taskset_tenant(ts, name);
    if (rc < 0) return rc;
  }
  return 0;
}

int fleet_gen_tasks(struct fleet_taskset *ts, const struct fleet_gen_tasks *g) {
  int rc = fleet_taskset_init(ts);
  if (rc) return rc;
  if ((rc = check_tasks(g)) || (rc = add_tenants(ts, g->n_tenants))) goto out;
  bool dflt = g->cpu_only == 0 && g->share == 0 && g->multi == 0;
  double p_cpu = dflt ? 0.133 : g->cpu_only, p_share = dflt ? 0.378 : g->share,
         p_multi = dflt ? 0.0092 : g->multi;
  double mean_run = g->mean_run_s > 0 ? g->mean_run_s : 3600, t = 0;
  struct rng r;
  rng_seed(&r, g->seed);
  for (int i = 0; i < g->n_tasks && rc == 0; i++) {
    struct fleet_task task = {.mig_profile = -1, .gang = -1};
    snprintf(task.name, sizeof task.name, "gen-task-%07d", i);
    shape_task(&r, g, p_cpu, p_share, p_multi, &task);
    bool high = rng_uniform(&r) < g->high_priority;
    task.qos = high ? FLEET_QOS_LS : FLEET_QOS_BE;
    task.priority = task.qos;
    task.tenant = g->n_tenants > 0 ? 1 + (int)rng_below(&r, (uint64_t)g->n_tenants) : 0;
    if (g->arrivals_per_hour > 0) t += -log(1.0 - rng_uniform(&r)) * 3600.0 / g->arrivals_per_hour;
    task.create_s = (int64_t)t;
    /* Log-normal with sigma 1: mean = exp(mu + 1/2). */
    task.duration_s = (int64_t)ceil(exp(log(mean_run) - 0.5 + rng_normal(&r)));
    rc = fleet_taskset_add(ts, &task);
  }
  ts->has_times = true;
  snprintf(ts->source, sizeof ts->source, "generated (%d tasks, seed %llu)", g->n_tasks,
           (unsigned long long)g->seed);
out:
  if (rc) {
    fleet_taskset_free(ts);
    fleet_taskset_init(ts);
  }
  return rc;
}
