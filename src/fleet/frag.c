/*
 * frag.c — the typical tasks of a workload and the fragmentation of a node
 * measured against them (see frag.h for the definition).
 *
 * Sections:
 *   1. counting request shapes (an open-addressing table keyed by shape);
 *   2. choosing the typical tasks and deriving the evaluation tables;
 *   3. evaluation: views of nodes, F of a view, cluster totals.
 */
#include "fleet/frag.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"

struct fleet_frag_group {
  uint16_t d, k;       /* per-GPU demand, GPU count */
  uint64_t model_mask; /* allowed cluster models */
  int di;              /* index of d in dvals */
};

/* ---- 1. counting shapes -------------------------------------------------- */

struct shape {
  struct fleet_frag_class c; /* p holds the count while counting */
  bool used;
};

static uint64_t shape_hash(const struct fleet_req *r) {
  uint64_t h =
      rng_hash64(((uint64_t)r->cpu_milli << 32) ^ ((uint64_t)r->gpu_milli << 16) ^ r->num_gpu);
  return rng_hash64(h ^ r->model_mask);
}

static bool same_shape(const struct fleet_frag_class *c, const struct fleet_req *r) {
  return c->cpu_milli == r->cpu_milli && c->gpu_milli == r->gpu_milli && c->num_gpu == r->num_gpu &&
         c->model_mask == r->model_mask;
}

/* Count the shapes of reqs into a table of cap slots (a power of two >= 2n). */
static int count_shapes(const struct fleet_req *reqs, int n, struct shape *tab, size_t cap,
                        int *n_shapes) {
  *n_shapes = 0;
  for (int i = 0; i < n; i++) {
    const struct fleet_req *r = &reqs[i];
    if (r->mig_profile >= 0) continue;
    size_t h = shape_hash(r) & (cap - 1);
    while (tab[h].used && !same_shape(&tab[h].c, r)) h = (h + 1) & (cap - 1);
    if (!tab[h].used) {
      tab[h].used = true;
      tab[h].c =
          (struct fleet_frag_class){r->cpu_milli, r->gpu_milli, r->num_gpu, r->model_mask, 0};
      ++*n_shapes;
    }
    tab[h].c.p += 1;
  }
  return 0; /* no shapes (only MIG requests): no typical tasks, F is the free GPU total */
}

/* Most popular first; ties in a fixed order so every run is the same. */
static int by_count(const void *a, const void *b) {
  const struct fleet_frag_class *x = a, *y = b;
  if (x->p != y->p) return x->p > y->p ? -1 : 1;
  if (x->cpu_milli != y->cpu_milli) return x->cpu_milli < y->cpu_milli ? -1 : 1;
  if (x->gpu_milli != y->gpu_milli) return x->gpu_milli < y->gpu_milli ? -1 : 1;
  if (x->num_gpu != y->num_gpu) return x->num_gpu < y->num_gpu ? -1 : 1;
  return x->model_mask < y->model_mask ? -1 : x->model_mask > y->model_mask;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* ---- 2. typical tasks and tables ----------------------------------------- */

void fleet_frag_free(struct fleet_frag *f) {
  if (!f) return;
  free(f->classes);
  free(f->cpu_vals);
  free(f->groups);
  free(f->cum);
  memset(f, 0, sizeof *f);
}

/* Keep the most popular classes until coverage of the total; renormalise. */
static void keep_typical(struct fleet_frag *f, double total, double coverage) {
  double cum = 0;
  int k = 0;
  while (k < f->n_classes && cum < coverage * total - 1e-9) cum += f->classes[k++].p;
  f->n_classes = k;
  for (int i = 0; i < k; i++) f->classes[i].p /= cum;
  f->coverage = total > 0 ? cum / total : 1;
}

static int rank_of(const struct fleet_frag *f, uint32_t cpu) {
  int lo = 0, hi = f->n_cpu; /* first index with cpu_vals > cpu */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (f->cpu_vals[mid] <= cpu)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int d_index(struct fleet_frag *f, uint16_t d) {
  for (int i = 0; i < f->n_d; i++)
    if (f->dvals[i] == d) return i;
  return -1;
}

/* Distinct CPU values, demands and groups of the GPU classes; the prefix-sum table. */
static int derive(struct fleet_frag *f) {
  f->cpu_vals = malloc((size_t)f->n_classes * sizeof *f->cpu_vals + 1);
  f->groups = malloc((size_t)f->n_classes * sizeof *f->groups + 1);
  if (!f->cpu_vals || !f->groups) return err_set(ERR_NOMEM, "out of memory (typical tasks)");
  for (int i = 0; i < f->n_classes; i++) {
    const struct fleet_frag_class *c = &f->classes[i];
    if (c->num_gpu == 0) continue;
    f->cpu_vals[f->n_cpu++] = c->cpu_milli;
    if (d_index(f, c->gpu_milli) < 0 && f->n_d < 64) f->dvals[f->n_d++] = c->gpu_milli;
  }
  qsort(f->cpu_vals, (size_t)f->n_cpu, sizeof *f->cpu_vals, cmp_u32);
  int u = 0;
  for (int i = 0; i < f->n_cpu; i++)
    if (u == 0 || f->cpu_vals[u - 1] != f->cpu_vals[i]) f->cpu_vals[u++] = f->cpu_vals[i];
  f->n_cpu = u;
  for (int i = 1; i < f->n_d; i++) /* insertion sort, ascending */
    for (int j = i; j > 0 && f->dvals[j - 1] > f->dvals[j]; j--) {
      uint16_t t = f->dvals[j];
      f->dvals[j] = f->dvals[j - 1];
      f->dvals[j - 1] = t;
    }
  for (int i = 0; i < f->n_classes; i++) {
    const struct fleet_frag_class *c = &f->classes[i];
    if (c->num_gpu == 0 || d_index(f, c->gpu_milli) < 0) continue;
    int g = 0;
    while (g < f->n_groups && !(f->groups[g].d == c->gpu_milli && f->groups[g].k == c->num_gpu &&
                                f->groups[g].model_mask == c->model_mask))
      g++;
    if (g == f->n_groups)
      f->groups[f->n_groups++] = (struct fleet_frag_group){c->gpu_milli, c->num_gpu, c->model_mask,
                                                           d_index(f, c->gpu_milli)};
  }
  size_t w = (size_t)f->n_cpu + 1;
  f->cum = calloc((size_t)f->n_groups * w + 1, sizeof *f->cum);
  if (!f->cum) return err_set(ERR_NOMEM, "out of memory (typical tasks)");
  for (int i = 0; i < f->n_classes; i++) {
    const struct fleet_frag_class *c = &f->classes[i];
    if (c->num_gpu == 0) continue;
    for (int g = 0; g < f->n_groups; g++) {
      const struct fleet_frag_group *gr = &f->groups[g];
      if (gr->d != c->gpu_milli || gr->k != c->num_gpu || gr->model_mask != c->model_mask) continue;
      /* Satisfied once the node's free CPU ranks past this class's CPU value. */
      for (int r = rank_of(f, c->cpu_milli); r <= f->n_cpu; r++) f->cum[g * w + r] += c->p;
    }
  }
  return 0;
}

int fleet_frag_build(struct fleet_frag *f, const struct fleet_req *reqs, int n, double coverage) {
  memset(f, 0, sizeof *f);
  if (coverage <= 0 || coverage > 1) return err_set(ERR_INVALID, "coverage must be in (0, 1]");
  if (n <= 0) return err_set(ERR_INVALID, "no requests to learn typical tasks from");
  size_t cap = 64;
  while (cap < (size_t)n * 2 + 2) cap *= 2;
  struct shape *tab = calloc(cap, sizeof *tab);
  int n_shapes = 0, rc;
  if (!tab) return err_set(ERR_NOMEM, "out of memory (typical tasks)");
  if ((rc = count_shapes(reqs, n, tab, cap, &n_shapes))) goto out;
  f->classes = malloc((size_t)n_shapes * sizeof *f->classes);
  if (!f->classes) {
    rc = err_set(ERR_NOMEM, "out of memory (typical tasks)");
    goto out;
  }
  double total = 0;
  for (size_t h = 0; h < cap; h++)
    if (tab[h].used) {
      f->classes[f->n_classes++] = tab[h].c;
      total += tab[h].c.p;
    }
  qsort(f->classes, (size_t)f->n_classes, sizeof *f->classes, by_count);
  keep_typical(f, total, coverage);
  rc = derive(f);
out:
  free(tab);
  if (rc) fleet_frag_free(f);
  return rc;
}

/* ---- 3. evaluation ------------------------------------------------------- */

void fleet_frag_view_of(const struct fleet_cluster *c, int node, struct fleet_frag_view *v) {
  const struct fleet_node *n = &c->nodes[node];
  v->model = n->model;
  v->cpu_free = n->cpu_free;
  v->total = n->free_total;
  v->n_idle = n->n_idle;
  v->n_share = 0;
  for (int g = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g;
    if (c->gpus[gi].mode == FLEET_GPU_SHARED) v->share[v->n_share++] = c->free[gi];
  }
}

void fleet_frag_view_apply(const struct fleet_cluster *c, struct fleet_frag_view *v,
                           const struct fleet_req *r, const struct fleet_place *p) {
  const struct fleet_node *n = &c->nodes[p->node];
  v->cpu_free -= r->cpu_milli;
  if (r->num_gpu == 0 || r->mig_profile >= 0) return;
  for (int g = 0, si = 0; g < n->n_gpus; g++) {
    int gi = n->first_gpu + g;
    uint8_t mode = c->gpus[gi].mode;
    if (mode == FLEET_GPU_MIG) continue;
    if (p->gpus >> g & 1) {
      uint16_t before = mode == FLEET_GPU_SHARED ? v->share[si] : c->free[gi];
      if (before == FLEET_MILLI) v->n_idle--;
      v->total -= r->gpu_milli;
      if (mode == FLEET_GPU_SHARED) v->share[si] = (uint16_t)(before - r->gpu_milli);
    }
    if (mode == FLEET_GPU_SHARED) si++;
  }
}

double fleet_frag_eval(const struct fleet_frag *f, const struct fleet_frag_view *v) {
  if (v->total == 0 || v->model < 0) return v->total;
  /* Shared GPUs' free shares ascending, and suffix sums. */
  uint16_t s[64];
  uint32_t suffix[65];
  int n = v->n_share;
  for (int i = 0; i < n; i++) {
    int j = i;
    for (; j > 0 && s[j - 1] > v->share[i]; j--) s[j] = s[j - 1];
    s[j] = v->share[i];
  }
  suffix[n] = 0;
  for (int i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + s[i];
  int cnt[64];
  uint32_t usable[64];
  for (int di = 0, j = 0; di < f->n_d; di++) {
    uint16_t d = f->dvals[di];
    if (d >= FLEET_MILLI) {
      cnt[di] = v->n_idle;
      usable[di] = (uint32_t)v->n_idle * FLEET_MILLI;
      continue;
    }
    while (j < n && s[j] < d) j++;
    cnt[di] = n - j;
    usable[di] = suffix[j];
  }
  const double *row = f->cum;
  size_t w = (size_t)f->n_cpu + 1, rank = (size_t)rank_of(f, v->cpu_free);
  double kept = 0;
  for (int g = 0; g < f->n_groups; g++) {
    const struct fleet_frag_group *gr = &f->groups[g];
    if (cnt[gr->di] < gr->k || !(gr->model_mask >> v->model & 1)) continue;
    kept += row[(size_t)g * w + rank] * usable[gr->di];
  }
  return v->total - kept;
}

double fleet_frag_node(const struct fleet_frag *f, const struct fleet_cluster *c, int node) {
  struct fleet_frag_view v;
  fleet_frag_view_of(c, node, &v);
  return fleet_frag_eval(f, &v);
}

void fleet_frag_cluster(const struct fleet_frag *f, const struct fleet_cluster *c, double *frag,
                        double *free) {
  *frag = *free = 0;
  for (int i = 0; i < c->n_nodes; i++) {
    if (c->nodes[i].state == FLEET_NODE_DOWN) continue;
    *frag += fleet_frag_node(f, c, i);
    *free += c->nodes[i].free_total;
  }
}
