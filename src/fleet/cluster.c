/*
 * cluster.c — the simulator's live view of the fleet (see cluster.h).
 *
 * Sections:
 *   1. building from an inventory, resetting, freeing;
 *   2. requests from tasks;
 *   3. MIG feasibility and slot choice (the MIG planner's chooser when
 *      fleet/migplan.h is there, else the lowest free start);
 *   4. choosing GPUs on a node;
 *   5. apply / release and the per-node totals they keep;
 *   6. totals and the consistency check.
 */
#include "fleet/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#if defined(__has_include)
#if __has_include("fleet/migplan.h")
#include "fleet/migplan.h"
#define HAVE_MIGPLAN 1
#endif
#endif

/* ---- 1. building --------------------------------------------------------- */

void fleet_cluster_free(struct fleet_cluster *c) {
  if (!c) return;
  free(c->nodes);
  free(c->names);
  free(c->init_state);
  free(c->free);
  free(c->gpus);
  memset(c, 0, sizeof *c);
}

int fleet_cluster_model(const struct fleet_cluster *c, const char *name) {
  for (int i = 0; i < c->n_models; i++)
    if (!strcmp(c->models[i], name)) return i;
  return -1;
}

static int add_model(struct fleet_cluster *c, const struct inv_gpu *g, const char *node) {
  const char *name = inventory_gpu_model_name(g);
  int m = fleet_cluster_model(c, name);
  if (m >= 0) return m;
  if (c->n_models >= FLEET_MAX_MODELS)
    return err_set(ERR_INVALID, "node %s: more than %d GPU models in one fleet", node,
                   FLEET_MAX_MODELS);
  snprintf(c->models[c->n_models], FLEET_MODEL_LEN, "%s", name);
  c->catalog[c->n_models] = g->model;
  return c->n_models++;
}

static enum fleet_node_state state_of(const char *s) {
  return !strcmp(s, "drain")  ? FLEET_NODE_DRAIN
         : !strcmp(s, "down") ? FLEET_NODE_DOWN
                              : FLEET_NODE_UP;
}

/* One node's GPUs: model, modes. */
static int build_gpus(struct fleet_cluster *c, const struct inv_node *in, int first, bool share_all,
                      struct fleet_node *n) {
  n->model = -1;
  for (int g = 0; g < in->n_gpus; g++) {
    const struct inv_gpu *ig = &in->gpus[g];
    int m = add_model(c, ig, in->name);
    if (m < 0) return m;
    if (n->model >= 0 && m != n->model)
      return err_set(ERR_INVALID,
                     "node %s mixes GPU models %s and %s; the fleet simulator takes one model per "
                     "node (split it into two nodes)",
                     in->name, c->models[n->model], c->models[m]);
    n->model = (int16_t)m;
    struct fleet_gpu *fg = &c->gpus[first + g];
    memset(fg, 0, sizeof *fg);
    if (ig->mig_enabled) {
      if (!ig->model || ig->model->n_mig_profiles == 0)
        return err_set(ERR_INVALID, "node %s GPU %d: MIG is enabled but %s has no MIG profiles",
                       in->name, g, inventory_gpu_model_name(ig));
      fg->mode = FLEET_GPU_MIG;
    } else {
      fg->mode = (ig->shared || share_all) ? FLEET_GPU_SHARED : FLEET_GPU_WHOLE;
    }
  }
  return 0;
}

static int alloc_arrays(struct fleet_cluster *c, int n_nodes, int n_gpus) {
  c->nodes = calloc((size_t)(n_nodes ? n_nodes : 1), sizeof *c->nodes);
  c->names = calloc((size_t)(n_nodes ? n_nodes : 1), sizeof *c->names);
  c->init_state = calloc((size_t)(n_nodes ? n_nodes : 1), 1);
  c->free = calloc((size_t)(n_gpus ? n_gpus : 1), sizeof *c->free);
  c->gpus = calloc((size_t)(n_gpus ? n_gpus : 1), sizeof *c->gpus);
  if (!c->nodes || !c->names || !c->init_state || !c->free || !c->gpus)
    return err_set(ERR_NOMEM, "out of memory building a cluster of %d nodes", n_nodes);
  return 0;
}

int fleet_cluster_build(struct fleet_cluster *c, const struct inventory *inv, bool share_all) {
  memset(c, 0, sizeof *c);
  int total = inventory_gpu_count(inv), rc;
  if (inv->n_nodes == 0) return err_set(ERR_INVALID, "the fleet %s has no nodes", inv->source);
  if ((rc = alloc_arrays(c, inv->n_nodes, total))) goto out;
  c->n_nodes = inv->n_nodes;
  c->n_gpus = total;
  for (int i = 0, first = 0; i < inv->n_nodes; i++) {
    const struct inv_node *in = &inv->nodes[i];
    struct fleet_node *n = &c->nodes[i];
    if (in->n_gpus > 64) {
      rc = err_set(ERR_INVALID, "node %s has %d GPUs; the simulator takes at most 64 per node",
                   in->name, in->n_gpus);
      goto out;
    }
    snprintf(c->names[i], INV_NAME_MAX, "%s", in->name);
    n->cpu_milli = in->cpu_milli;
    n->mem_mib = in->memory_mib;
    n->n_gpus = (uint8_t)in->n_gpus;
    n->first_gpu = first;
    c->init_state[i] = (uint8_t)state_of(in->state);
    if ((rc = build_gpus(c, in, first, share_all, n))) goto out;
    if (n->cpu_milli > c->max_cpu_milli) c->max_cpu_milli = n->cpu_milli;
    if (n->n_gpus > c->max_node_gpus) c->max_node_gpus = n->n_gpus;
    first += in->n_gpus;
  }
  c->gpu_capacity_milli = (uint64_t)total * FLEET_MILLI;
  fleet_cluster_reset(c);
out:
  if (rc) fleet_cluster_free(c);
  return rc;
}

/* Recompute a node's GPU totals from its GPUs. */
static void node_totals(const struct fleet_cluster *c, const struct fleet_node *n, uint8_t *idle,
                        uint8_t *nmig, uint16_t *max_share, uint32_t *total, uint32_t *mig_free) {
  *idle = *nmig = 0;
  *max_share = 0;
  *total = *mig_free = 0;
  for (int g = 0; g < n->n_gpus; g++) {
    const struct fleet_gpu *fg = &c->gpus[n->first_gpu + g];
    uint16_t f = c->free[n->first_gpu + g];
    if (fg->mode == FLEET_GPU_MIG) {
      (*nmig)++;
      *mig_free += 7u - fg->mig_compute;
      continue;
    }
    *total += f;
    if (f == FLEET_MILLI) (*idle)++;
    if (fg->mode == FLEET_GPU_SHARED && f > *max_share) *max_share = f;
  }
}

static void refresh(struct fleet_cluster *c, struct fleet_node *n) {
  node_totals(c, n, &n->n_idle, &n->n_mig, &n->max_share_free, &n->free_total, &n->mig_free_slices);
  n->version++;
}

void fleet_cluster_reset(struct fleet_cluster *c) {
  for (int g = 0; g < c->n_gpus; g++) {
    uint8_t mode = c->gpus[g].mode;
    memset(&c->gpus[g], 0, sizeof c->gpus[g]);
    c->gpus[g].mode = mode;
    c->free[g] = FLEET_MILLI;
  }
  c->n_mig_gpus = 0;
  for (int i = 0; i < c->n_nodes; i++) {
    struct fleet_node *n = &c->nodes[i];
    n->cpu_free = n->cpu_milli;
    n->mem_free = n->mem_mib;
    n->state = c->init_state[i];
    n->n_tasks = 0;
    n->kind_mask = 0;
    memset(n->kinds, 0, sizeof n->kinds);
    refresh(c, n);
    c->n_mig_gpus += n->n_mig;
  }
  c->alloc_milli = 0;
  c->mig_slices_used = 0;
}

/* ---- 2. requests --------------------------------------------------------- */

void fleet_req_from_task(struct fleet_req *r, const struct fleet_task *t,
                         const struct fleet_taskset *ts, const struct fleet_cluster *c) {
  memset(r, 0, sizeof *r);
  r->cpu_milli = t->cpu_milli;
  r->memory_mib = t->memory_mib;
  r->num_gpu = t->num_gpu;
  r->gpu_milli = t->gpu_milli;
  r->mig_profile = t->mig_profile;
  r->cls = -1;
  r->kind = t->num_gpu == 0              ? -1
            : t->mig_profile >= 0        ? FLEET_KIND_MIG
            : t->gpu_milli < FLEET_MILLI ? 0
            : t->num_gpu >= 16           ? 16
                                         : (int16_t)t->num_gpu;
  if (t->model_mask == 0) {
    r->model_mask = FLEET_ANY_MODEL;
    return;
  }
  for (int b = 0; b < ts->n_models; b++) {
    if (!(t->model_mask >> b & 1)) continue;
    int m = fleet_cluster_model(c, ts->models[b]);
    if (m >= 0) r->model_mask |= 1ULL << m;
  }
}

/* ---- 3. MIG -------------------------------------------------------------- */

static const struct catalog_mig_profile *mig_profile_of(const struct fleet_cluster *c,
                                                        const struct fleet_node *n, int id) {
  const struct catalog_model *m = n->model >= 0 ? c->catalog[n->model] : NULL;
  return m ? catalog_mig_profile(m, id) : NULL;
}

/* Number of free starts for profile id on MIG GPU gi. */
static int gpu_mig_starts(const struct fleet_cluster *c, const struct fleet_node *n, int gi, int id,
                          int *starts) {
  const struct fleet_gpu *g = &c->gpus[gi];
  if (g->mode != FLEET_GPU_MIG) return 0;
  return mig_free_starts(c->catalog[n->model], g->mig, g->n_mig, id, starts);
}

bool fleet_mig_fits(const struct fleet_cluster *c, int node, const struct fleet_req *r) {
  const struct fleet_node *n = &c->nodes[node];
  const struct catalog_mig_profile *pr = mig_profile_of(c, n, r->mig_profile);
  if (!pr || n->n_mig == 0 || n->mig_free_slices < (uint32_t)pr->compute_slices) return false;
  int starts[CATALOG_MIG_MAX_STARTS];
  for (int g = 0; g < n->n_gpus; g++)
    if (gpu_mig_starts(c, n, n->first_gpu + g, r->mig_profile, starts) > 0) return true;
  return false;
}

/* The slot for a new instance of id on GPU gi (which fits it). */
static int mig_slot(const struct fleet_cluster *c, const struct fleet_node *n, int gi, int id) {
  const struct fleet_gpu *g = &c->gpus[gi];
#ifdef HAVE_MIGPLAN
  int s = migplan_best_start(c->catalog[n->model], g->mig, g->n_mig, id);
  if (s >= 0) return s;
#endif
  int starts[CATALOG_MIG_MAX_STARTS];
  return mig_free_starts(c->catalog[n->model], g->mig, g->n_mig, id, starts) > 0 ? starts[0] : -1;
}

static int choose_mig(const struct fleet_cluster *c, int node, const struct fleet_req *r,
                      struct fleet_place *p) {
  const struct fleet_node *n = &c->nodes[node];
  int best = -1, starts[CATALOG_MIG_MAX_STARTS];
  for (int g = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g;
    if (gpu_mig_starts(c, n, gi, r->mig_profile, starts) == 0) continue;
    /* The fullest GPU that fits: keep emptier GPUs whole for big profiles. */
    if (best < 0 || c->gpus[gi].mig_compute > c->gpus[n->first_gpu + best].mig_compute) best = g;
  }
  if (best < 0)
    return err_set(ERR_STATE, "no MIG slot for profile %d on %s", r->mig_profile, c->names[node]);
  p->gpus = 1ULL << best;
  p->mig_start = (int8_t)mig_slot(c, n, n->first_gpu + best, r->mig_profile);
  return p->mig_start >= 0 ? 0 : err_set(ERR_INTERNAL, "MIG slot vanished on %s", c->names[node]);
}

/* ---- 4. choosing GPUs ---------------------------------------------------- */

static int choose_share(const struct fleet_cluster *c, const struct fleet_node *n,
                        const struct fleet_req *r, enum fleet_gpu_sel sel) {
  int best = -1;
  for (int g = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g;
    if (c->gpus[gi].mode != FLEET_GPU_SHARED || c->free[gi] < r->gpu_milli) continue;
    if (best < 0) {
      best = g;
      if (sel == FLEET_SEL_FIRST) break;
      continue;
    }
    uint16_t f = c->free[gi], fb = c->free[n->first_gpu + best];
    if ((sel == FLEET_SEL_BEST && f < fb) || (sel == FLEET_SEL_WORST && f > fb)) best = g;
  }
  return best;
}

int fleet_cluster_choose_gpus(const struct fleet_cluster *c, int node, const struct fleet_req *r,
                              int share_gpu, enum fleet_gpu_sel sel, struct fleet_place *p) {
  const struct fleet_node *n = &c->nodes[node];
  p->node = node;
  p->mig_start = -1;
  p->gpus = 0;
  if (!fleet_fits(c, node, r))
    return err_set(ERR_STATE, "request does not fit node %s", c->names[node]);
  if (r->num_gpu == 0) return 0;
  if (r->mig_profile >= 0) return choose_mig(c, node, r, p);
  if (fleet_req_is_share(r)) {
    int g = share_gpu >= 0 ? share_gpu : choose_share(c, n, r, sel);
    if (g < 0 || g >= n->n_gpus || c->gpus[n->first_gpu + g].mode != FLEET_GPU_SHARED ||
        c->free[n->first_gpu + g] < r->gpu_milli)
      return err_set(ERR_STATE, "GPU %d of %s cannot take %u thousandths", g, c->names[node],
                     r->gpu_milli);
    p->gpus = 1ULL << g;
    return 0;
  }
  int need = r->num_gpu;
  for (int g = 0; g < n->n_gpus && need > 0; g++) {
    int gi = n->first_gpu + g;
    if (c->gpus[gi].mode != FLEET_GPU_MIG && c->free[gi] == FLEET_MILLI) {
      p->gpus |= 1ULL << g;
      need--;
    }
  }
  return need == 0 ? 0 : err_set(ERR_STATE, "not enough idle GPUs on %s", c->names[node]);
}

/* ---- 5. apply / release -------------------------------------------------- */

static void count_kind(struct fleet_node *n, int kind, int delta) {
  if (kind < 0) return;
  n->kinds[kind] = (uint16_t)(n->kinds[kind] + delta);
  if (n->kinds[kind])
    n->kind_mask |= 1u << kind;
  else
    n->kind_mask &= ~(1u << kind);
}

static void mig_add(struct fleet_cluster *c, struct fleet_node *n, int gi,
                    const struct fleet_req *r, int start) {
  struct fleet_gpu *g = &c->gpus[gi];
  const struct catalog_mig_profile *pr = mig_profile_of(c, n, r->mig_profile);
  g->mig[g->n_mig++] = (struct mig_placement){r->mig_profile, start};
  g->mig_compute = (uint8_t)(g->mig_compute + pr->compute_slices);
  c->mig_slices_used += (uint32_t)pr->compute_slices;
  c->free[gi] = (uint16_t)((7 - g->mig_compute) * FLEET_MILLI / 7);
}

static void mig_remove(struct fleet_cluster *c, struct fleet_node *n, int gi,
                       const struct fleet_req *r, int start) {
  struct fleet_gpu *g = &c->gpus[gi];
  const struct catalog_mig_profile *pr = mig_profile_of(c, n, r->mig_profile);
  for (int k = 0; k < g->n_mig; k++) {
    if (g->mig[k].start != start || g->mig[k].profile_id != r->mig_profile) continue;
    g->mig[k] = g->mig[--g->n_mig];
    g->mig_compute = (uint8_t)(g->mig_compute - pr->compute_slices);
    c->mig_slices_used -= (uint32_t)pr->compute_slices;
    c->free[gi] = (uint16_t)((7 - g->mig_compute) * FLEET_MILLI / 7);
    return;
  }
}

void fleet_cluster_apply(struct fleet_cluster *c, const struct fleet_req *r,
                         const struct fleet_place *p) {
  struct fleet_node *n = &c->nodes[p->node];
  n->cpu_free -= r->cpu_milli;
  n->mem_free -= r->memory_mib;
  for (int g = 0; g < n->n_gpus; g++) {
    if (!(p->gpus >> g & 1)) continue;
    int gi = n->first_gpu + g;
    c->gpus[gi].n_tasks++;
    if (r->mig_profile >= 0) {
      mig_add(c, n, gi, r, p->mig_start);
    } else {
      c->free[gi] = (uint16_t)(c->free[gi] - r->gpu_milli);
      c->alloc_milli += r->gpu_milli;
    }
  }
  n->n_tasks++;
  count_kind(n, r->kind, +1);
  refresh(c, n);
}

void fleet_cluster_release(struct fleet_cluster *c, const struct fleet_req *r,
                           const struct fleet_place *p) {
  struct fleet_node *n = &c->nodes[p->node];
  n->cpu_free += r->cpu_milli;
  n->mem_free += r->memory_mib;
  for (int g = 0; g < n->n_gpus; g++) {
    if (!(p->gpus >> g & 1)) continue;
    int gi = n->first_gpu + g;
    c->gpus[gi].n_tasks--;
    if (r->mig_profile >= 0) {
      mig_remove(c, n, gi, r, p->mig_start);
    } else {
      c->free[gi] = (uint16_t)(c->free[gi] + r->gpu_milli);
      c->alloc_milli -= r->gpu_milli;
    }
  }
  n->n_tasks--;
  count_kind(n, r->kind, -1);
  refresh(c, n);
}

void fleet_cluster_set_state(struct fleet_cluster *c, int node, enum fleet_node_state s) {
  c->nodes[node].state = (uint8_t)s;
  c->nodes[node].version++;
}

/* ---- 6. totals and checks ------------------------------------------------ */

double fleet_cluster_alloc_gpus(const struct fleet_cluster *c) {
  return (double)c->alloc_milli / FLEET_MILLI + (double)c->mig_slices_used / 7.0;
}

static int check_node(const struct fleet_cluster *c, int i, uint64_t *alloc, uint32_t *slices) {
  const struct fleet_node *n = &c->nodes[i];
  uint8_t idle, nmig;
  uint16_t max_share;
  uint32_t total, mig_free;
  node_totals(c, n, &idle, &nmig, &max_share, &total, &mig_free);
  if (idle != n->n_idle || nmig != n->n_mig || max_share != n->max_share_free ||
      total != n->free_total || mig_free != n->mig_free_slices)
    return err_set(ERR_INTERNAL, "node %s: kept totals differ from its GPUs", c->names[i]);
  if (n->cpu_free > n->cpu_milli || n->mem_free > n->mem_mib)
    return err_set(ERR_INTERNAL, "node %s: more free than its capacity", c->names[i]);
  for (int g = 0; g < n->n_gpus; g++) {
    const struct fleet_gpu *fg = &c->gpus[n->first_gpu + g];
    if (fg->mode == FLEET_GPU_MIG) {
      char why[160];
      if (!mig_layout_valid(c->catalog[n->model], fg->mig, fg->n_mig, why, sizeof why))
        return err_set(ERR_INTERNAL, "node %s GPU %d: invalid MIG layout: %s", c->names[i], g, why);
      *slices += fg->mig_compute;
    } else {
      if (c->free[n->first_gpu + g] > FLEET_MILLI)
        return err_set(ERR_INTERNAL, "node %s GPU %d: free above 1000", c->names[i], g);
      *alloc += FLEET_MILLI - c->free[n->first_gpu + g];
    }
  }
  return 0;
}

int fleet_cluster_check(const struct fleet_cluster *c) {
  uint64_t alloc = 0;
  uint32_t slices = 0;
  for (int i = 0; i < c->n_nodes; i++) {
    int rc = check_node(c, i, &alloc, &slices);
    if (rc) return rc;
  }
  if (alloc != c->alloc_milli || slices != c->mig_slices_used)
    return err_set(ERR_INTERNAL, "cluster totals differ: alloc %llu vs %llu, MIG slices %u vs %u",
                   (unsigned long long)alloc, (unsigned long long)c->alloc_milli, slices,
                   c->mig_slices_used);
  return 0;
}
