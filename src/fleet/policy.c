/*
 * policy.c — the placement policies and the chooser (see policy.h).
 *
 * Sections:
 *   1. helpers shared by the scores (normalisation, GPU totals after placing);
 *   2. the scores, one function per policy;
 *   3. FGD: node fragmentation cached per node version, the best GPU by the
 *      fragmentation it adds;
 *   4. the table of policies and lookups;
 *   5. instances and the per-class score cache;
 *   6. choosing: scan, compare, ties, GPUs.
 */
#include "fleet/policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

#define CACHE_BUDGET_BYTES ((size_t)256 << 20) /* past this, classes are scored uncached */

/* ---- 1. helpers ---------------------------------------------------------- */

static double max_cpu(const struct fleet_cluster *c) {
  return c->max_cpu_milli ? (double)c->max_cpu_milli : 1.0;
}

static double max_gpu(const struct fleet_cluster *c) {
  return c->max_node_gpus ? (double)c->max_node_gpus * FLEET_MILLI : 1.0;
}

/* Normalised CPU + GPU left on the node after placing r (0 = full). */
static double left_after(const struct fleet_cluster *c, int node, const struct fleet_req *r) {
  const struct fleet_node *n = &c->nodes[node];
  double cpu = (double)(n->cpu_free - r->cpu_milli) / max_cpu(c);
  double gpu = ((double)n->free_total - fleet_req_gpu_milli(r)) / max_gpu(c);
  return 0.5 * cpu + 0.5 * gpu;
}

/* The tightest shared GPU that fits a share request (-1 none). */
static int tightest_share(const struct fleet_cluster *c, const struct fleet_node *n,
                          const struct fleet_req *r) {
  int best = -1;
  for (int g = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g;
    if (c->gpus[gi].mode != FLEET_GPU_SHARED || c->free[gi] < r->gpu_milli) continue;
    if (best < 0 || c->free[gi] < c->free[n->first_gpu + best]) best = g;
  }
  return best;
}

/* ---- 2. the scores ------------------------------------------------------- */

static void score_random(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                         const struct fleet_req *r, struct fleet_score *out) {
  (void)c, (void)node, (void)r;
  *out = (struct fleet_score){rng_uniform(&p->rng), 0, -1};
}

static void score_first(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                        const struct fleet_req *r, struct fleet_score *out) {
  (void)p, (void)c, (void)r;
  *out = (struct fleet_score){-(double)node, 0, -1};
}

static void score_best(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                       const struct fleet_req *r, struct fleet_score *out) {
  (void)p;
  *out = (struct fleet_score){-left_after(c, node, r), 0, -1};
}

static void score_worst(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                        const struct fleet_req *r, struct fleet_score *out) {
  (void)p;
  *out = (struct fleet_score){left_after(c, node, r), 0, -1};
}

static void score_dot(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                      const struct fleet_req *r, struct fleet_score *out) {
  (void)p;
  const struct fleet_node *n = &c->nodes[node];
  double dot = (n->cpu_free / max_cpu(c)) * (r->cpu_milli / max_cpu(c)) +
               (n->free_total / max_gpu(c)) * (fleet_req_gpu_milli(r) / max_gpu(c));
  *out = (struct fleet_score){floor(100.0 * (1.0 - dot / 2.0)), 0, -1}; /* Kubernetes scale */
}

static void score_packing(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                          const struct fleet_req *r, struct fleet_score *out) {
  (void)p;
  const struct fleet_node *n = &c->nodes[node];
  *out = (struct fleet_score){0, 0, -1};
  if (r->num_gpu == 0) return;
  int plain = n->n_gpus - n->n_mig;
  if (n->n_idle == plain) { /* an idle node: smallest first */
    *out = (struct fleet_score){1, -(double)plain, -1};
    return;
  }
  if (fleet_req_is_share(r)) {
    int g = tightest_share(c, n, r);
    uint16_t f = c->free[n->first_gpu + g];
    if (f < FLEET_MILLI)
      *out = (struct fleet_score){3, -(double)f, g}; /* a partly used GPU */
    else
      *out = (struct fleet_score){2, -1, g};
    return;
  }
  *out = (struct fleet_score){2, -(double)r->num_gpu, -1}; /* idle GPUs of a used node */
}

static void score_clustering(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                             const struct fleet_req *r, struct fleet_score *out) {
  (void)p;
  const struct fleet_node *n = &c->nodes[node];
  *out = (struct fleet_score){0, 0, -1};
  if (r->kind < 0) return;
  uint32_t mask = n->kind_mask, mine = 1u << r->kind;
  double tier = (mask & mine) ? (mask == mine ? 4 : 3) : (mask == 0 ? 2 : 1);
  *out = (struct fleet_score){tier, -(double)n->free_total, -1};
}

/* ---- 3. FGD -------------------------------------------------------------- */

static double node_frag(struct fleet_policy *p, const struct fleet_cluster *c, int node) {
  uint32_t ver = c->nodes[node].version;
  if (p->node_frag_ver[node] != ver) {
    p->node_frag[node] = fleet_frag_node(p->frag, c, node);
    p->node_frag_ver[node] = ver;
  }
  return p->node_frag[node];
}

/* Fragmentation added by placing r on `node` at its best GPU; *gpu gets that GPU (share). */
static double frag_delta(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                         const struct fleet_req *r, int *gpu) {
  const struct fleet_node *n = &c->nodes[node];
  double before = node_frag(p, c, node);
  struct fleet_frag_view base, v;
  struct fleet_place at = {node, -1, 0};
  fleet_frag_view_of(c, node, &base);
  *gpu = -1;
  if (!fleet_req_is_share(r)) {
    if (r->num_gpu > 0) fleet_cluster_choose_gpus(c, node, r, -1, FLEET_SEL_BEST, &at);
    v = base;
    fleet_frag_view_apply(c, &v, r, &at);
    return fleet_frag_eval(p->frag, &v) - before;
  }
  double best = INFINITY;
  uint16_t seen[64];
  int n_seen = 0;
  for (int g = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g, k = 0;
    uint16_t f = c->free[gi];
    if (c->gpus[gi].mode != FLEET_GPU_SHARED || f < r->gpu_milli) continue;
    while (k < n_seen && seen[k] != f) k++;
    if (k < n_seen) continue; /* same free share, same fragmentation: keep the lower GPU */
    seen[n_seen++] = f;
    at.gpus = 1ULL << g;
    v = base;
    fleet_frag_view_apply(c, &v, r, &at);
    double d = fleet_frag_eval(p->frag, &v) - before;
    /* Equal fragmentation: the tighter GPU (best fit) keeps idle GPUs idle. */
    if (*gpu < 0 || d < best - 1e-9 || (d <= best + 1e-9 && f < c->free[n->first_gpu + *gpu])) {
      best = d;
      *gpu = g;
    }
  }
  return best;
}

/* dF on the Kubernetes integer score scale the paper's scheduler uses (0..100). */
static double k8s_scale(double d) { return floor(100.0 / (1.0 + exp(d / FLEET_MILLI))); }

static void score_fgd(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                      const struct fleet_req *r, struct fleet_score *out) {
  int gpu;
  double d = frag_delta(p, c, node, r, &gpu);
  *out = (struct fleet_score){k8s_scale(d), 0, gpu};
}

static void score_fgd_exact(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                            const struct fleet_req *r, struct fleet_score *out) {
  int gpu;
  double d = frag_delta(p, c, node, r, &gpu);
  *out = (struct fleet_score){-d, 0, gpu};
}

/*
 * Ours. Among nodes FGD scores alike: a CPU-only task takes the node with the
 * least free GPU (its CPU is worth least to GPU tasks); a GPU task avoids
 * leaving its node short of CPU for the GPUs still free there (the shortfall
 * below FLEET_CPU_PER_GPU_MILLI per free GPU, in whole cores).
 */
static void score_fgd_cpu(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                          const struct fleet_req *r, struct fleet_score *out) {
  const struct fleet_node *n = &c->nodes[node];
  int gpu;
  double d = frag_delta(p, c, node, r, &gpu), second;
  if (r->num_gpu == 0) {
    second = -(double)n->free_total;
  } else {
    double cpu = (double)n->cpu_free - r->cpu_milli;
    double gpus = ((double)n->free_total - fleet_req_gpu_milli(r)) / FLEET_MILLI;
    double short_milli = cpu - FLEET_CPU_PER_GPU_MILLI * gpus;
    second = short_milli < 0 ? floor(short_milli / 1000.0) : 0;
  }
  *out = (struct fleet_score){k8s_scale(d), second, gpu};
}

/* ---- 4. the table -------------------------------------------------------- */

static const struct fleet_policy_ops ops_random = {"random",
                                                   "Random",
                                                   "any node that fits, uniformly at random",
                                                   FLEET_POLICY_RANDOM_GPU,
                                                   FLEET_SEL_FIRST,
                                                   FLEET_MIG_ANY,
                                                   score_random};
static const struct fleet_policy_ops ops_first = {
    "first-fit",     NULL,       "the first node that fits, in inventory order", 0, FLEET_SEL_FIRST,
    FLEET_MIG_FIRST, score_first};
static const struct fleet_policy_ops ops_best = {
    "best-fit", "BestFit",      "the node with the least CPU + GPU left after placing",
    0,          FLEET_SEL_BEST, FLEET_MIG_PACK,
    score_best};
static const struct fleet_policy_ops ops_worst = {
    "worst-fit",
    NULL,
    "the node with the most CPU + GPU left after placing (spread)",
    0,
    FLEET_SEL_WORST,
    FLEET_MIG_SPREAD,
    score_worst};
static const struct fleet_policy_ops ops_packing = {
    "gpu-packing",
    "GpuPacking",
    "partly used GPUs, then idle GPUs of used nodes, then idle nodes",
    0,
    FLEET_SEL_BEST,
    FLEET_MIG_PACK,
    score_packing};
static const struct fleet_policy_ops ops_dot = {
    "dot-product",
    "DotProd",
    "smallest dot product of free (CPU, GPU) and the request",
    0,
    FLEET_SEL_BEST,
    FLEET_MIG_PACK,
    score_dot};
static const struct fleet_policy_ops ops_clustering = {
    "gpu-clustering",
    "GpuClustering",
    "nodes holding the same GPU task shape first",
    0,
    FLEET_SEL_BEST,
    FLEET_MIG_PACK,
    score_clustering};
static const struct fleet_policy_ops ops_fgd = {
    "fgd",
    "FGD",
    "fragmentation gradient descent (Weng et al., ATC'23), Kubernetes score scale",
    FLEET_POLICY_CACHE | FLEET_POLICY_FRAG,
    FLEET_SEL_BEST,
    FLEET_MIG_PACK,
    score_fgd};
static const struct fleet_policy_ops ops_fgd_exact = {
    "fgd-exact",
    NULL,
    "fragmentation gradient descent on the exact fragmentation change",
    FLEET_POLICY_CACHE | FLEET_POLICY_FRAG,
    FLEET_SEL_BEST,
    FLEET_MIG_PACK,
    score_fgd_exact};
static const struct fleet_policy_ops ops_fgd_cpu = {
    "fgd-cpu",
    NULL,
    "ours: FGD, ties placed to keep CPU beside free GPUs",
    FLEET_POLICY_CACHE | FLEET_POLICY_FRAG,
    FLEET_SEL_BEST,
    FLEET_MIG_PACK,
    score_fgd_cpu};

static const struct fleet_policy_ops *const all_ops[] = {
    &ops_random, &ops_first,      &ops_best, &ops_worst,     &ops_packing,
    &ops_dot,    &ops_clustering, &ops_fgd,  &ops_fgd_exact, &ops_fgd_cpu};

const struct fleet_policy_ops *const *fleet_policy_all(int *n) {
  *n = (int)(sizeof all_ops / sizeof *all_ops);
  return all_ops;
}

const struct fleet_policy_ops *fleet_policy_find(const char *name) {
  for (size_t i = 0; i < sizeof all_ops / sizeof *all_ops; i++)
    if (!strcasecmp(all_ops[i]->name, name) ||
        (all_ops[i]->paper && !strcasecmp(all_ops[i]->paper, name)))
      return all_ops[i];
  return NULL;
}

/* ---- 5. instances and the class cache ------------------------------------ */

struct fleet_class_cache {
  uint32_t *ver; /* node version the entry is for (0: empty) */
  double *primary, *secondary;
  int8_t *gpu;
};

int fleet_policy_init(struct fleet_policy *p, const char *name, const struct fleet_cluster *c,
                      const struct fleet_frag *frag, uint64_t seed, enum fleet_ties ties) {
  memset(p, 0, sizeof *p);
  p->ops = fleet_policy_find(name);
  if (!p->ops) {
    char names[512] = "";
    for (size_t i = 0; i < sizeof all_ops / sizeof *all_ops; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
               all_ops[i]->name);
    return err_set(ERR_NOTFOUND, "unknown policy '%s' (policies: %s)", name, names);
  }
  if ((p->ops->flags & FLEET_POLICY_FRAG) && !frag)
    return err_set(ERR_INVALID, "policy %s needs the workload's typical tasks", p->ops->name);
  p->frag = frag;
  p->ties = ties;
  rng_seed(&p->rng, seed);
  p->n_nodes = c->n_nodes;
  p->rank = malloc((size_t)(c->n_nodes ? c->n_nodes : 1) * sizeof *p->rank);
  if (!p->rank) {
    fleet_policy_free(p);
    return err_set(ERR_NOMEM, "out of memory (policy %s)", name);
  }
  for (int i = 0; i < c->n_nodes; i++) p->rank[i] = (uint32_t)i;
  for (int i = c->n_nodes - 1; i > 0; i--) { /* the tie order: a seeded shuffle */
    int j = (int)rng_below(&p->rng, (uint64_t)i + 1);
    uint32_t t = p->rank[i];
    p->rank[i] = p->rank[j];
    p->rank[j] = t;
  }
  if (p->ops->flags & FLEET_POLICY_FRAG) {
    p->node_frag = calloc((size_t)c->n_nodes, sizeof *p->node_frag);
    p->node_frag_ver = calloc((size_t)c->n_nodes, sizeof *p->node_frag_ver);
    if (!p->node_frag || !p->node_frag_ver) {
      fleet_policy_free(p);
      return err_set(ERR_NOMEM, "out of memory (policy %s)", name);
    }
  }
  return 0;
}

static void class_cache_free(struct fleet_class_cache *cc) {
  if (!cc) return;
  free(cc->ver);
  free(cc->primary);
  free(cc->secondary);
  free(cc->gpu);
  free(cc);
}

void fleet_policy_free(struct fleet_policy *p) {
  if (!p) return;
  free(p->node_frag);
  free(p->node_frag_ver);
  free(p->rank);
  for (int i = 0; i < p->n_cls; i++) class_cache_free(p->cache[i]);
  free(p->cache);
  memset(p, 0, sizeof *p);
}

/* The cache of class cls, made on first use; NULL when caching is off or over budget. */
static struct fleet_class_cache *class_cache(struct fleet_policy *p, int cls) {
  if (!(p->ops->flags & FLEET_POLICY_CACHE) || cls < 0) return NULL;
  if (cls >= p->n_cls) {
    int n = p->n_cls ? p->n_cls : 64;
    while (n <= cls) n *= 2;
    struct fleet_class_cache **grown = realloc(p->cache, (size_t)n * sizeof *grown);
    if (!grown) return NULL;
    memset(grown + p->n_cls, 0, (size_t)(n - p->n_cls) * sizeof *grown);
    p->cache = grown;
    p->n_cls = n;
  }
  if (p->cache[cls]) return p->cache[cls];
  size_t need = (size_t)p->n_nodes * (sizeof(uint32_t) + 2 * sizeof(double) + 1);
  if (p->cache_bytes + need > CACHE_BUDGET_BYTES) return NULL;
  struct fleet_class_cache *cc = calloc(1, sizeof *cc);
  if (cc) {
    cc->ver = calloc((size_t)p->n_nodes, sizeof *cc->ver);
    cc->primary = malloc((size_t)p->n_nodes * sizeof *cc->primary);
    cc->secondary = malloc((size_t)p->n_nodes * sizeof *cc->secondary);
    cc->gpu = malloc((size_t)p->n_nodes);
  }
  if (!cc || !cc->ver || !cc->primary || !cc->secondary || !cc->gpu) {
    class_cache_free(cc);
    return NULL;
  }
  p->cache_bytes += need;
  return p->cache[cls] = cc;
}

/* ---- 6. choosing --------------------------------------------------------- */

static void mig_score(const struct fleet_policy *p, const struct fleet_cluster *c, int node,
                      struct fleet_score *out) {
  double free = c->nodes[node].mig_free_slices;
  switch (p->ops->mig) {
    case FLEET_MIG_ANY: *out = (struct fleet_score){0, 0, -1}; break;
    case FLEET_MIG_FIRST: *out = (struct fleet_score){-(double)node, 0, -1}; break;
    case FLEET_MIG_SPREAD: *out = (struct fleet_score){free, 0, -1}; break;
    case FLEET_MIG_PACK: *out = (struct fleet_score){-free, 0, -1}; break;
  }
}

void fleet_policy_score(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                        const struct fleet_req *r, struct fleet_score *out) {
  if (r->mig_profile >= 0) return mig_score(p, c, node, out);
  struct fleet_class_cache *cc = class_cache(p, r->cls);
  uint32_t ver = c->nodes[node].version;
  if (cc && cc->ver[node] == ver) {
    *out = (struct fleet_score){cc->primary[node], cc->secondary[node], cc->gpu[node]};
    p->cached++;
    return;
  }
  p->ops->score(p, c, node, r, out);
  p->scored++;
  if (cc) {
    cc->ver[node] = ver;
    cc->primary[node] = out->primary;
    cc->secondary[node] = out->secondary;
    cc->gpu[node] = (int8_t)out->gpu;
  }
}

/* a vs b: 1 better, 0 tie, -1 worse (relative tolerance for rounding). */
static int compare(const struct fleet_score *a, const struct fleet_score *b) {
  double tol = 1e-9 * (1.0 + fabs(a->primary) + fabs(b->primary));
  if (a->primary > b->primary + tol) return 1;
  if (a->primary < b->primary - tol) return -1;
  tol = 1e-9 * (1.0 + fabs(a->secondary) + fabs(b->secondary));
  if (a->secondary > b->secondary + tol) return 1;
  if (a->secondary < b->secondary - tol) return -1;
  return 0;
}

/* A random shared GPU that fits a share request. */
static int random_share_gpu(struct fleet_policy *p, const struct fleet_cluster *c, int node,
                            const struct fleet_req *r) {
  const struct fleet_node *n = &c->nodes[node];
  int pick = -1, seen = 0;
  for (int g = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g;
    if (c->gpus[gi].mode != FLEET_GPU_SHARED || c->free[gi] < r->gpu_milli) continue;
    if (rng_below(&p->rng, (uint64_t)++seen) == 0) pick = g;
  }
  return pick;
}

int fleet_policy_choose(struct fleet_policy *p, const struct fleet_cluster *c,
                        const struct fleet_req *r, struct fleet_place *out) {
  int best = -1;
  uint64_t ties = 0;
  struct fleet_score bs = {0, 0, -1}, s;
  for (int i = 0; i < c->n_nodes; i++) {
    if (!fleet_fits(c, i, r)) continue;
    fleet_policy_score(p, c, i, r, &s);
    int cmp = best < 0 ? 1 : compare(&s, &bs);
    if (cmp == 0) {
      if (p->ties == FLEET_TIES_ORDER)
        cmp = p->rank[i] < p->rank[best] ? 1 : -1;
      else
        cmp = rng_below(&p->rng, ++ties) == 0 ? 1 : -1;
    } else if (cmp > 0) {
      ties = 1;
    }
    if (cmp > 0) best = i, bs = s;
  }
  if (best < 0) return 0;
  int gpu = bs.gpu;
  if (fleet_req_is_share(r) && (p->ops->flags & FLEET_POLICY_RANDOM_GPU))
    gpu = random_share_gpu(p, c, best, r);
  if (fleet_cluster_choose_gpus(c, best, r, gpu, p->ops->sel, out) < 0) return 0;
  return 1;
}
