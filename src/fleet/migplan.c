/*
 * migplan.c — MIG slot choice and MIG layout plans (see migplan.h).
 *
 * Sections:
 *   1. one GPU's occupancy as masks (the rule of catalog/mig.h, made fast)
 *   2. slot chooser: migplan_room, migplan_best_start[_weighted]
 *   3. maximal layouts of one GPU (enumerated once per plan: the geometry is tiny)
 *   4. the LP relaxation of the cover (a small dense simplex) and lower bounds
 *   5. the cover search: fewest GPUs, then fewest stranded slices
 *   6. the fixed-GPU search: most weighted demand on N GPUs
 *   7. migplan_solve: incumbents, search, the plan
 *   8. the demand file (YAML, read with libfyaml)
 *   9. writers: table, JSON, mig-parted config, Slurm gres.conf/slurm.conf
 *
 * Why a hand-written simplex: the LP has at most 7 variables and one
 * constraint per maximal layout (44 with every profile), is needed only for a
 * bound and a rounding, and a solver library (GLPK) would be a new dependency
 * for 60 lines of code.
 */
#include "fleet/migplan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/table.h"
#include "base/timeutil.h"

#define EPS        1e-9
#define NODE_LIMIT 2000000L /* branch-and-bound nodes before settling for the best found */
#define MAX_COUNT  1000000  /* instances of one profile in a demand */
#define MAX_GPUS   1000000  /* GPUs in a plan */
#define MAX_NODES  100000   /* nodes named in a demand */

/* ---- 1. one GPU's occupancy ----------------------------------------------- */

struct occ {
  unsigned used;                   /* memory slices taken (bit i = slice i) */
  int compute;                     /* compute slices taken */
  int count[MIGPLAN_MAX_PROFILES]; /* instances per profile index */
};

static int profile_index(const struct catalog_model *m, int profile_id) {
  for (int i = 0; i < m->n_mig_profiles && i < MIGPLAN_MAX_PROFILES; i++) {
    if (m->mig_profiles[i].id == profile_id) return i;
  }
  return -1;
}

static int n_profiles(const struct catalog_model *m) {
  return m->n_mig_profiles < MIGPLAN_MAX_PROFILES ? m->n_mig_profiles : MIGPLAN_MAX_PROFILES;
}

static unsigned span(int start, int size) {
  unsigned mask = 0;
  for (int s = start; s < start + size && s < CATALOG_MIG_MEMORY_SLICES; s++) mask |= 1u << s;
  return mask;
}

/* Occupancy of a layout; false when it names a profile the model lacks. */
static bool occ_of(const struct catalog_model *m, const struct mig_placement *p, int n,
                   struct occ *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < n; i++) {
    int pi = profile_index(m, p[i].profile_id);
    if (pi < 0) return false;
    const struct catalog_mig_profile *pr = &m->mig_profiles[pi];
    o->used |= span(p[i].start, pr->memory_slices);
    o->compute += pr->compute_slices;
    o->count[pi]++;
  }
  return true;
}

/* Can profile pi go at start s on top of o? (valid start assumed) */
static bool occ_fits(const struct catalog_model *m, const struct occ *o, int pi, int s) {
  const struct catalog_mig_profile *pr = &m->mig_profiles[pi];
  return o->count[pi] < pr->max_instances &&
         o->compute + pr->compute_slices <= CATALOG_MIG_COMPUTE_SLICES &&
         !(o->used & span(s, pr->memory_slices));
}

static void occ_add(const struct catalog_model *m, struct occ *o, int pi, int s) {
  const struct catalog_mig_profile *pr = &m->mig_profiles[pi];
  o->used |= span(s, pr->memory_slices);
  o->compute += pr->compute_slices;
  o->count[pi]++;
}

/*
 * Instances of profile pi that can still be added on top of o, that profile
 * alone. A profile's valid starts never overlap each other, so the answer is
 * the smallest of: free starts, compute left / its slices, max instances left.
 */
static int occ_addable(const struct catalog_model *m, const struct occ *o, int pi) {
  const struct catalog_mig_profile *pr = &m->mig_profiles[pi];
  int free_starts = 0;
  for (int i = 0; i < pr->n_starts; i++) {
    free_starts += !(o->used & span(pr->starts[i], pr->memory_slices));
  }
  int by_compute = (CATALOG_MIG_COMPUTE_SLICES - o->compute) / pr->compute_slices;
  int by_max = pr->max_instances - o->count[pi];
  int k = free_starts < by_compute ? free_starts : by_compute;
  k = k < by_max ? k : by_max;
  return k > 0 ? k : 0;
}

/* ---- 2. slot chooser ------------------------------------------------------ */

static double occ_room(const struct catalog_model *m, const struct occ *o, const double *weights) {
  static const struct occ empty;
  double room = 0;
  for (int pi = 0; pi < n_profiles(m); pi++) {
    double w = weights ? weights[pi] : 1.0;
    if (w <= 0) continue;
    int cap = occ_addable(m, &empty, pi);
    if (cap > 0) room += w * occ_addable(m, o, pi) / cap;
  }
  return room;
}

double migplan_room(const struct catalog_model *m, const struct mig_placement *layout, int n,
                    const double *weights) {
  struct occ o;
  if (!m || n < 0 || (n > 0 && !layout) || !occ_of(m, layout, n, &o)) return 0;
  return occ_room(m, &o, weights);
}

int migplan_best_start_weighted(const struct catalog_model *m, const struct mig_placement *layout,
                                int n, int profile_id, const double *weights) {
  int starts[CATALOG_MIG_MAX_STARTS];
  struct occ o;
  if (!m || n < 0 || (n > 0 && !layout) || !occ_of(m, layout, n, &o)) return -1;
  int pi = profile_index(m, profile_id);
  if (pi < 0) return -1;
  int k = mig_free_starts(m, layout, n, profile_id, starts);
  int best = -1;
  double best_room = -1;
  for (int i = 0; i < k; i++) { /* ascending, so a tie keeps the lower start */
    struct occ next = o;
    occ_add(m, &next, pi, starts[i]);
    double room = occ_room(m, &next, weights);
    if (room > best_room + EPS) best = starts[i], best_room = room;
  }
  return best;
}

int migplan_best_start(const struct catalog_model *m, const struct mig_placement *layout, int n,
                       int profile_id) {
  return migplan_best_start_weighted(m, layout, n, profile_id, NULL);
}

/* ---- 3. maximal layouts --------------------------------------------------- */

/* Per-profile counts packed 4 bits each (counts are <= 8). */
static uint32_t key_of(const int *count) {
  uint32_t key = 0;
  for (int pi = 0; pi < MIGPLAN_MAX_PROFILES; pi++) key |= (uint32_t)count[pi] << (4 * pi);
  return key;
}

struct enum_ctx {
  const struct catalog_model *m;
  unsigned mask;
  struct migplan_layout *all; /* every distinct count vector with one placement */
  int n_all, cap_all;
  struct migplan_layout cur;
  struct occ occ;
};

static int cmp_key(const void *a, const void *b) {
  uint32_t x = key_of(((const struct migplan_layout *)a)->count);
  uint32_t y = key_of(((const struct migplan_layout *)b)->count);
  return x < y ? -1 : x > y;
}

static int record_layout(struct enum_ctx *c) {
  uint32_t key = key_of(c->cur.count);
  for (int i = 0; i < c->n_all; i++) {
    if (key_of(c->all[i].count) == key) return 0;
  }
  if (c->n_all == c->cap_all) {
    int cap = c->cap_all ? 2 * c->cap_all : 256;
    struct migplan_layout *grown = realloc(c->all, (size_t)cap * sizeof *grown);
    if (!grown) return err_set(ERR_NOMEM, "out of memory enumerating layouts");
    c->all = grown, c->cap_all = cap;
  }
  c->all[c->n_all++] = c->cur;
  return 0;
}

/* Every valid placement set, placements in (profile index, start) order. */
static int enumerate(struct enum_ctx *c, int pi0, int si0) {
  int rc = record_layout(c);
  for (int pi = pi0; rc == 0 && pi < n_profiles(c->m); pi++) {
    if (!(c->mask & (1u << pi))) continue;
    const struct catalog_mig_profile *pr = &c->m->mig_profiles[pi];
    for (int si = pi == pi0 ? si0 : 0; rc == 0 && si < pr->n_starts; si++) {
      if (!occ_fits(c->m, &c->occ, pi, pr->starts[si])) continue;
      struct occ saved = c->occ;
      occ_add(c->m, &c->occ, pi, pr->starts[si]);
      c->cur.place[c->cur.n++] = (struct mig_placement){pr->id, pr->starts[si]};
      c->cur.count[pi]++;
      rc = enumerate(c, pi, si + 1);
      c->cur.count[pi]--;
      c->cur.n--;
      c->occ = saved;
    }
  }
  return rc;
}

int migplan_maximal_layouts(const struct catalog_model *m, unsigned profile_mask,
                            struct migplan_layout *out, int cap) {
  if (!m || (cap > 0 && !out)) return err_set(ERR_INVALID, "no model or output");
  struct enum_ctx c = {.m = m, .mask = profile_mask & ((1u << n_profiles(m)) - 1)};
  int rc = enumerate(&c, 0, 0);
  if (rc < 0) goto out;
  qsort(c.all, (size_t)c.n_all, sizeof *c.all, cmp_key);
  int n = 0;
  for (int i = 0; i < c.n_all; i++) {
    bool maximal = true;
    for (int pi = 0; maximal && pi < n_profiles(m); pi++) {
      if (!(c.mask & (1u << pi))) continue;
      struct migplan_layout probe = c.all[i];
      probe.count[pi]++;
      maximal = !bsearch(&probe, c.all, (size_t)c.n_all, sizeof *c.all, cmp_key);
    }
    if (!maximal) continue;
    if (n < cap) out[n] = c.all[i];
    n++;
  }
  rc = n;
out:
  free(c.all);
  return rc;
}

/* ---- 4. the LP relaxation and lower bounds --------------------------------- */

/*
 * The cover problem over layouts L with per-profile counts c[L][j]:
 *   min sum_L x_L  s.t.  sum_L c[L][j] x_L >= r_j,  x >= 0
 * solved through its dual  max r.y  s.t.  c[L].y <= 1 for every L,  y >= 0,
 * whose origin is feasible, so a plain tableau simplex needs no first phase.
 * Bland's rule keeps it from cycling on these very degenerate LPs. Any y
 * feasible for the dual gives a lower bound r.y for every demand r, which is
 * what the search uses at each node.
 */
struct problem {
  const struct catalog_model *m;
  int np;                         /* profiles in the demand */
  int pidx[MIGPLAN_MAX_PROFILES]; /* their profile indexes */
  int64_t demand[MIGPLAN_MAX_PROFILES];
  double weight[MIGPLAN_MAX_PROFILES];
  int nl; /* maximal layouts */
  struct migplan_layout *layouts;
  int (*c)[MIGPLAN_MAX_PROFILES]; /* c[L][j]: instances of demand profile j in layout L */
  int *stranded;                  /* per layout: compute + memory slices in no instance */
  int ny;                         /* dual-feasible vectors for lower bounds */
  double y[MIGPLAN_MAX_PROFILES + 3][MIGPLAN_MAX_PROFILES];
  double lp_value; /* LP optimum for the whole demand (GPUs, fractional) */
  double *x_lp;    /* per layout: LP primal solution */
};

static int lp_solve(struct problem *pb, double *y_out) {
  int rows = pb->nl, cols = pb->np + pb->nl, w = cols + 1;
  double *t = calloc((size_t)(rows + 1) * (size_t)w, sizeof *t);
  int *basis = calloc((size_t)rows, sizeof *basis);
  int rc = 0;
  if (!t || !basis) {
    rc = err_set(ERR_NOMEM, "out of memory for the LP");
    goto out;
  }
  double *z = t + (size_t)rows * (size_t)w; /* objective row */
  for (int i = 0; i < rows; i++) {
    for (int j = 0; j < pb->np; j++) t[(size_t)i * w + j] = pb->c[i][j];
    t[(size_t)i * w + pb->np + i] = 1;
    t[(size_t)i * w + cols] = 1;
    basis[i] = pb->np + i;
  }
  for (int j = 0; j < pb->np; j++) z[j] = -(double)pb->demand[j];
  for (int iter = 0; iter < 100000; iter++) {
    int e = -1;
    for (int j = 0; j < cols && e < 0; j++) {
      if (z[j] < -EPS) e = j;
    }
    if (e < 0) break;
    int leave = -1;
    double best = 0;
    for (int i = 0; i < rows; i++) {
      double a = t[(size_t)i * w + e];
      if (a <= EPS) continue;
      double ratio = t[(size_t)i * w + cols] / a;
      if (leave < 0 || ratio < best - EPS || (ratio < best + EPS && basis[i] < basis[leave]))
        leave = i, best = ratio;
    }
    if (leave < 0) {
      rc = err_set(ERR_INTERNAL, "LP unbounded (a demanded profile fits no layout)");
      goto out;
    }
    double *pr = t + (size_t)leave * w, piv = pr[e];
    for (int j = 0; j < w; j++) pr[j] /= piv;
    for (int i = 0; i <= rows; i++) {
      double *row = t + (size_t)i * w, f = row[e];
      if (i == leave || fabs(f) < 1e-15) continue;
      for (int j = 0; j < w; j++) row[j] -= f * pr[j];
    }
    basis[leave] = e;
  }
  for (int j = 0; j < pb->np; j++) y_out[j] = 0;
  for (int i = 0; i < rows; i++) {
    if (basis[i] < pb->np) y_out[basis[i]] = t[(size_t)i * w + cols];
  }
  for (int l = 0; l < pb->nl; l++) pb->x_lp[l] = z[pb->np + l] > 0 ? z[pb->np + l] : 0;
  pb->lp_value = z[cols];
out:
  free(t);
  free(basis);
  return rc;
}

/* Most instances of demand profile j one GPU holds. */
static int max_per_gpu(const struct problem *pb, int j) {
  int best = 0;
  for (int l = 0; l < pb->nl; l++) best = pb->c[l][j] > best ? pb->c[l][j] : best;
  return best;
}

/* The dual vectors: slice totals (compute /7, memory /8), per profile, and the LP's. */
static int bounds_init(struct problem *pb) {
  const struct catalog_model *m = pb->m;
  memset(pb->y, 0, sizeof pb->y);
  for (int j = 0; j < pb->np; j++) {
    const struct catalog_mig_profile *pr = &m->mig_profiles[pb->pidx[j]];
    pb->y[0][j] = pr->compute_slices / (double)CATALOG_MIG_COMPUTE_SLICES;
    pb->y[1][j] = pr->memory_slices / (double)CATALOG_MIG_MEMORY_SLICES;
    pb->y[2 + j][j] = 1.0 / max_per_gpu(pb, j);
  }
  pb->ny = 2 + pb->np;
  int rc = lp_solve(pb, pb->y[pb->ny]);
  if (rc == 0) pb->ny++;
  return rc;
}

/* Proven lower bound on the GPUs that residual demand r needs. */
static int64_t lower_bound(const struct problem *pb, const int64_t *r) {
  double best = 0;
  for (int k = 0; k < pb->ny; k++) {
    double v = 0;
    for (int j = 0; j < pb->np; j++) v += pb->y[k][j] * (double)r[j];
    best = v > best ? v : best;
  }
  return (int64_t)ceil(best - 1e-6);
}

/* ---- 5. the cover search -------------------------------------------------- */

struct search {
  struct problem *pb;
  int *order;       /* layouts in search order */
  unsigned *suffix; /* profiles some layout order[k..] holds (bit j) */
  int *min_strand;  /* fewest stranded slices of a layout order[k..] */
  int64_t *x, *best_x;
  int64_t best_gpus, best_stranded;
  double best_value; /* fixed-GPU mode */
  int64_t gpus_cap;  /* fixed-GPU mode: N */
  int64_t root_lb;   /* cover: GPUs no plan can go below */
  double root_ub;    /* fixed GPUs: value no plan can exceed */
  long nodes;
  bool aborted; /* hit NODE_LIMIT: the best found is kept, unproven */
  bool done;    /* met the root bound with nothing stranded: nothing better exists */
};

static bool better_cover(const struct search *s, int64_t gpus, int64_t stranded) {
  return gpus < s->best_gpus || (gpus == s->best_gpus && stranded < s->best_stranded);
}

static void keep_best(struct search *s, int64_t gpus, int64_t stranded, double value) {
  s->best_gpus = gpus, s->best_stranded = stranded, s->best_value = value;
  memcpy(s->best_x, s->x, (size_t)s->pb->nl * sizeof *s->x);
  if (stranded == 0 && (s->gpus_cap ? value > s->root_ub - 1e-6 : gpus == s->root_lb))
    s->done = true;
}

/* Copies of layout l after which it no longer reduces r. */
static int64_t useful_copies(const struct problem *pb, int l, const int64_t *r) {
  int64_t most = 0;
  for (int j = 0; j < pb->np; j++) {
    if (r[j] <= 0 || pb->c[l][j] == 0) continue;
    int64_t k = (r[j] + pb->c[l][j] - 1) / pb->c[l][j];
    most = k > most ? k : most;
  }
  return most;
}

static void cover_dfs(struct search *s, int k, int64_t *r, int64_t gpus, int64_t stranded) {
  const struct problem *pb = s->pb;
  if (s->aborted || s->done) return;
  if (++s->nodes > NODE_LIMIT) {
    s->aborted = true;
    return;
  }
  unsigned need = 0;
  for (int j = 0; j < pb->np; j++) need |= (unsigned)(r[j] > 0) << j;
  if (!need) {
    if (better_cover(s, gpus, stranded)) keep_best(s, gpus, stranded, 0);
    return;
  }
  if (k == pb->nl || (need & ~s->suffix[k])) return;
  int64_t more = lower_bound(pb, r), lb = gpus + more;
  if (lb > s->best_gpus ||
      (lb == s->best_gpus && stranded + more * s->min_strand[k] >= s->best_stranded))
    return;
  int l = s->order[k];
  int64_t most = useful_copies(pb, l, r), room = s->best_gpus - gpus;
  if (most > room) most = room;
  for (int64_t x = most; x >= 0 && !s->aborted && !s->done; x--) {
    for (int j = 0; j < pb->np; j++) r[j] -= x * pb->c[l][j];
    s->x[l] = x;
    cover_dfs(s, k + 1, r, gpus + x, stranded + x * pb->stranded[l]);
    s->x[l] = 0;
    for (int j = 0; j < pb->np; j++) r[j] += x * pb->c[l][j];
  }
}

/* ---- 6. the fixed-GPU search ---------------------------------------------- */

/* Weighted demand that layout l would serve out of residual r. */
static double layout_value(const struct problem *pb, int l, const int64_t *r) {
  double v = 0;
  for (int j = 0; j < pb->np; j++) {
    int64_t served = pb->c[l][j] < r[j] ? pb->c[l][j] : r[j];
    if (served > 0) v += pb->weight[j] * (double)served;
  }
  return v;
}

/* Fractional knapsack: most value of r that fits in capacity cap of one slice kind. */
static double knapsack_bound(const struct problem *pb, const int64_t *r, double cap, bool memory) {
  bool used[MIGPLAN_MAX_PROFILES] = {false};
  double v = 0;
  for (int round = 0; round < pb->np && cap > EPS; round++) {
    int bj = -1;
    double bd = -1;
    for (int j = 0; j < pb->np; j++) {
      const struct catalog_mig_profile *pr = &pb->m->mig_profiles[pb->pidx[j]];
      double size = memory ? pr->memory_slices : pr->compute_slices;
      if (!used[j] && r[j] > 0 && pb->weight[j] / size > bd) bj = j, bd = pb->weight[j] / size;
    }
    if (bj < 0) break;
    used[bj] = true;
    const struct catalog_mig_profile *pr = &pb->m->mig_profiles[pb->pidx[bj]];
    double size = memory ? pr->memory_slices : pr->compute_slices;
    double take = (double)r[bj] * size < cap ? (double)r[bj] : cap / size;
    v += take * pb->weight[bj];
    cap -= take * size;
  }
  return v;
}

/* Proven upper bound on the weighted demand g more GPUs can serve out of r. */
static double value_bound(const struct problem *pb, const int64_t *r, int64_t g) {
  double all = 0, per_gpu = 0;
  for (int j = 0; j < pb->np; j++) all += pb->weight[j] * (double)(r[j] > 0 ? r[j] : 0);
  for (int l = 0; l < pb->nl; l++) {
    double v = layout_value(pb, l, r);
    per_gpu = v > per_gpu ? v : per_gpu;
  }
  double b = all < per_gpu * (double)g ? all : per_gpu * (double)g;
  double kc = knapsack_bound(pb, r, (double)g * CATALOG_MIG_COMPUTE_SLICES, false);
  double km = knapsack_bound(pb, r, (double)g * CATALOG_MIG_MEMORY_SLICES, true);
  b = kc < b ? kc : b;
  return km < b ? km : b;
}

static void value_dfs(struct search *s, int k, int64_t *r, int64_t gpus, int64_t stranded,
                      double value) {
  const struct problem *pb = s->pb;
  if (s->aborted || s->done) return;
  if (++s->nodes > NODE_LIMIT) {
    s->aborted = true;
    return;
  }
  int64_t left = s->gpus_cap - gpus;
  if (left == 0 || k == pb->nl) {
    if (value > s->best_value + EPS || (value > s->best_value - EPS && stranded < s->best_stranded))
      keep_best(s, gpus, stranded, value);
    return;
  }
  double ub = value + value_bound(pb, r, left);
  if (ub < s->best_value - EPS || (ub < s->best_value + EPS && stranded >= s->best_stranded))
    return;
  int l = s->order[k];
  int64_t least = k == pb->nl - 1 ? left : 0; /* the last layout takes every GPU left */
  for (int64_t x = left; x >= least && !s->aborted && !s->done; x--) {
    double v = 0;
    for (int j = 0; j < pb->np; j++) {
      int64_t take = x * pb->c[l][j] < r[j] ? x * pb->c[l][j] : (r[j] > 0 ? r[j] : 0);
      v += pb->weight[j] * (double)take;
      r[j] -= x * pb->c[l][j];
    }
    s->x[l] = x;
    value_dfs(s, k + 1, r, gpus + x, stranded + x * pb->stranded[l], value + v);
    s->x[l] = 0;
    for (int j = 0; j < pb->np; j++) r[j] += x * pb->c[l][j];
  }
}

/* ---- 7. migplan_solve ----------------------------------------------------- */

static void problem_free(struct problem *pb) {
  free(pb->layouts);
  free(pb->c);
  free(pb->stranded);
  free(pb->x_lp);
}

static int problem_init(struct problem *pb, const struct migplan_demand *d) {
  const struct catalog_model *m = d->model;
  memset(pb, 0, sizeof *pb);
  pb->m = m;
  unsigned mask = 0;
  for (int pi = 0; pi < n_profiles(m); pi++) {
    if (d->count[pi] <= 0) continue;
    mask |= 1u << pi;
    pb->pidx[pb->np] = pi;
    pb->demand[pb->np] = d->count[pi];
    pb->weight[pb->np] = d->weight[pi] > 0 ? d->weight[pi] : m->mig_profiles[pi].compute_slices;
    pb->np++;
  }
  if (pb->np == 0) return err_set(ERR_INVALID, "the demand asks for no instances");
  int n = migplan_maximal_layouts(m, mask, NULL, 0);
  if (n <= 0) return n < 0 ? n : err_set(ERR_INTERNAL, "no layout holds the demand");
  pb->layouts = calloc((size_t)n, sizeof *pb->layouts);
  pb->c = calloc((size_t)n, sizeof *pb->c);
  pb->stranded = calloc((size_t)n, sizeof *pb->stranded);
  pb->x_lp = calloc((size_t)n, sizeof *pb->x_lp);
  if (!pb->layouts || !pb->c || !pb->stranded || !pb->x_lp)
    return err_set(ERR_NOMEM, "out of memory for %d layouts", n);
  pb->nl = migplan_maximal_layouts(m, mask, pb->layouts, n);
  for (int l = 0; l < pb->nl; l++) {
    struct occ o;
    occ_of(m, pb->layouts[l].place, pb->layouts[l].n, &o);
    for (int j = 0; j < pb->np; j++) pb->c[l][j] = pb->layouts[l].count[pb->pidx[j]];
    pb->stranded[l] = CATALOG_MIG_COMPUTE_SLICES - o.compute + CATALOG_MIG_MEMORY_SLICES -
                      __builtin_popcount(o.used);
  }
  return bounds_init(pb);
}

/* Greedy incumbent from x (pre-set multiplicities): add the layout that serves most of r. */
static void greedy_fill(const struct problem *pb, int64_t *x, int64_t *r, int64_t gpu_cap) {
  const double *y = pb->y[pb->ny - 1];
  int64_t used = 0;
  for (int l = 0; l < pb->nl; l++) used += x[l];
  for (;;) {
    bool need = false;
    for (int j = 0; j < pb->np; j++) need |= r[j] > 0;
    if (!need || used >= gpu_cap) return;
    int best = -1;
    double bv = -INFINITY;
    for (int l = 0; l < pb->nl; l++) {
      double v = 0;
      int64_t any = 0;
      for (int j = 0; j < pb->np; j++) {
        int64_t served = pb->c[l][j] < r[j] ? pb->c[l][j] : (r[j] > 0 ? r[j] : 0);
        const struct catalog_mig_profile *pr = &pb->m->mig_profiles[pb->pidx[j]];
        /* covering: the LP's prices, nudged by size where the LP prices a profile at 0 */
        double price = gpu_cap < INT64_MAX ? pb->weight[j] : y[j] + 1e-3 * pr->compute_slices;
        v += price * (double)served;
        any += served;
      }
      v -= 1e-9 * pb->stranded[l];
      if (any && v > bv) best = l, bv = v;
    }
    if (best < 0) return;
    x[best]++, used++;
    for (int j = 0; j < pb->np; j++) r[j] -= pb->c[best][j];
  }
}

static int64_t sum_x(const struct problem *pb, const int64_t *x) {
  int64_t n = 0;
  for (int l = 0; l < pb->nl; l++) n += x[l];
  return n;
}

static int64_t stranded_of(const struct problem *pb, const int64_t *x) {
  int64_t n = 0;
  for (int l = 0; l < pb->nl; l++) n += x[l] * pb->stranded[l];
  return n;
}

/* Two incumbents (greedy; LP rounded down, then greedy); the better into s->best_x. */
static void cover_incumbent(struct search *s) {
  const struct problem *pb = s->pb;
  int64_t r[MIGPLAN_MAX_PROFILES];
  for (int pass = 0; pass < 2; pass++) {
    memset(s->x, 0, (size_t)pb->nl * sizeof *s->x);
    memcpy(r, pb->demand, sizeof r);
    for (int l = 0; pass == 1 && l < pb->nl; l++) {
      s->x[l] = (int64_t)floor(pb->x_lp[l] + 1e-9);
      for (int j = 0; j < pb->np; j++) r[j] -= s->x[l] * pb->c[l][j];
    }
    greedy_fill(pb, s->x, r, INT64_MAX);
    if (better_cover(s, sum_x(pb, s->x), stranded_of(pb, s->x)))
      keep_best(s, sum_x(pb, s->x), stranded_of(pb, s->x), 0);
  }
  memset(s->x, 0, (size_t)pb->nl * sizeof *s->x);
}

/* Search order: layouts the LP uses most first, then fewer stranded slices. */
static int cmp_order(const struct problem *pb, int la, int lb) {
  if (pb->x_lp[la] != pb->x_lp[lb]) return pb->x_lp[la] > pb->x_lp[lb] ? -1 : 1;
  if (pb->stranded[la] != pb->stranded[lb]) return pb->stranded[la] - pb->stranded[lb];
  return la - lb;
}

static int search_init(struct search *s, struct problem *pb) {
  memset(s, 0, sizeof *s);
  s->pb = pb;
  s->order = calloc((size_t)pb->nl, sizeof *s->order);
  s->suffix = calloc((size_t)pb->nl + 1, sizeof *s->suffix);
  s->min_strand = calloc((size_t)pb->nl + 1, sizeof *s->min_strand);
  s->x = calloc((size_t)pb->nl, sizeof *s->x);
  s->best_x = calloc((size_t)pb->nl, sizeof *s->best_x);
  if (!s->order || !s->suffix || !s->min_strand || !s->x || !s->best_x)
    return err_set(ERR_NOMEM, "out of memory for the search");
  for (int l = 0; l < pb->nl; l++) { /* insertion sort: a few hundred layouts at most */
    int k = l;
    while (k > 0 && cmp_order(pb, l, s->order[k - 1]) < 0) s->order[k] = s->order[k - 1], k--;
    s->order[k] = l;
  }
  for (int k = pb->nl - 1; k >= 0; k--) {
    unsigned holds = 0;
    for (int j = 0; j < pb->np; j++) holds |= (unsigned)(pb->c[s->order[k]][j] > 0) << j;
    s->suffix[k] = s->suffix[k + 1] | holds;
    int mine = pb->stranded[s->order[k]];
    s->min_strand[k] = k == pb->nl - 1 || mine < s->min_strand[k + 1] ? mine : s->min_strand[k + 1];
  }
  s->best_gpus = INT64_MAX, s->best_stranded = INT64_MAX, s->best_value = -1;
  return 0;
}

static void search_free(struct search *s) {
  free(s->order);
  free(s->suffix);
  free(s->min_strand);
  free(s->x);
  free(s->best_x);
}

/* Layouts by multiplicity, most used first, then by profile counts; whole GPUs last. */
static int emit_plan(const struct problem *pb, const struct migplan_demand *d, const int64_t *x,
                     int64_t whole, struct migplan_plan *out) {
  int64_t total = sum_x(pb, x) + whole;
  if (total > MAX_GPUS)
    return err_set(ERR_RANGE, "the plan needs %lld GPUs, more than the %d supported",
                   (long long)total, MAX_GPUS);
  out->gpus = calloc((size_t)(total ? total : 1), sizeof *out->gpus);
  if (!out->gpus) return err_set(ERR_NOMEM, "out of memory for %lld GPUs", (long long)total);
  bool *done = calloc((size_t)pb->nl, sizeof *done);
  if (!done) return err_set(ERR_NOMEM, "out of memory");
  int g = 0;
  for (;;) {
    int best = -1;
    for (int l = 0; l < pb->nl; l++) {
      if (done[l] || x[l] == 0) continue;
      if (best < 0 || x[l] > x[best] ||
          (x[l] == x[best] && key_of(pb->layouts[l].count) > key_of(pb->layouts[best].count)))
        best = l;
    }
    if (best < 0) break;
    done[best] = true;
    for (int64_t i = 0; i < x[best]; i++) out->gpus[g++] = pb->layouts[best];
  }
  free(done);
  g += (int)whole; /* calloc'd: n == 0, whole GPUs */
  out->n_gpus = g;
  for (int i = 0; i < out->n_gpus; i++) {
    struct occ o;
    if (out->gpus[i].n == 0) continue;
    occ_of(pb->m, out->gpus[i].place, out->gpus[i].n, &o);
    out->stranded_compute += CATALOG_MIG_COMPUTE_SLICES - o.compute;
    out->stranded_memory += CATALOG_MIG_MEMORY_SLICES - __builtin_popcount(o.used);
    for (int pi = 0; pi < n_profiles(pb->m); pi++) out->spare[pi] += o.count[pi];
  }
  out->served_value = 0;
  for (int pi = 0; pi < n_profiles(pb->m); pi++) {
    int have = out->spare[pi];
    out->served[pi] = have < d->count[pi] ? have : d->count[pi];
    out->unserved[pi] = d->count[pi] - out->served[pi];
    out->spare[pi] = have - out->served[pi];
    double w = d->weight[pi] > 0 ? d->weight[pi] : pb->m->mig_profiles[pi].compute_slices;
    out->served_value += w * out->served[pi];
  }
  return 0;
}

static int solve_fixed(struct search *s, struct problem *pb, int64_t n_gpus) {
  int64_t r[MIGPLAN_MAX_PROFILES];
  memcpy(r, pb->demand, sizeof r);
  s->gpus_cap = n_gpus;
  s->root_ub = value_bound(pb, r, n_gpus);
  s->best_value = -1, s->best_stranded = INT64_MAX, s->nodes = 0;
  s->aborted = s->done = false;
  greedy_fill(pb, s->x, r, n_gpus);
  double v = 0;
  for (int j = 0; j < pb->np; j++) {
    int64_t served = pb->demand[j] - (r[j] > 0 ? r[j] : 0);
    v += pb->weight[j] * (double)served;
  }
  keep_best(s, sum_x(pb, s->x), stranded_of(pb, s->x), v);
  memset(s->x, 0, (size_t)pb->nl * sizeof *s->x);
  memcpy(r, pb->demand, sizeof r);
  if (!s->done) value_dfs(s, 0, r, 0, 0, 0);
  return 0;
}

int migplan_solve(const struct migplan_demand *d, int fixed_gpus, struct migplan_plan *out) {
  struct problem pb;
  struct search s;
  int64_t t0 = time_mono_ns();
  int rc;
  memset(out, 0, sizeof *out);
  memset(&s, 0, sizeof s);
  memset(&pb, 0, sizeof pb);
  if (!d || !d->model || d->model->n_mig_profiles == 0) {
    rc =
        err_set(ERR_INVALID, "%s does not support MIG", d && d->model ? d->model->key : "no model");
    goto out;
  }
  if (fixed_gpus < 0 || fixed_gpus > MAX_GPUS) {
    rc = err_set(ERR_RANGE, "--gpus %d is out of range (1..%d)", fixed_gpus, MAX_GPUS);
    goto out;
  }
  if ((rc = problem_init(&pb, d)) || (rc = search_init(&s, &pb))) goto out;
  out->model = d->model;
  int64_t r[MIGPLAN_MAX_PROFILES];
  memcpy(r, pb.demand, sizeof r);
  int64_t lb = lower_bound(&pb, r);
  s.root_lb = lb;
  cover_incumbent(&s);
  if (!s.done && !(fixed_gpus > 0 && fixed_gpus < lb)) cover_dfs(&s, 0, r, 0, 0);
  out->lower_bound_gpus = (int)lb;
  out->exact = s.best_gpus == lb || !s.aborted;
  out->complete = !s.aborted;
  out->search_nodes = s.nodes;
  int64_t whole = 0;
  if (fixed_gpus > 0 && fixed_gpus < s.best_gpus) {
    memcpy(r, pb.demand, sizeof r);
    out->served_value_bound = value_bound(&pb, r, fixed_gpus);
    solve_fixed(&s, &pb, fixed_gpus);
    out->complete = !s.aborted;
    out->exact = !s.aborted || s.best_value > out->served_value_bound - 1e-6;
    out->search_nodes += s.nodes;
    whole = fixed_gpus - sum_x(&pb, s.best_x);
  } else if (fixed_gpus > 0) {
    whole = fixed_gpus - s.best_gpus;
  }
  out->fixed_gpus = fixed_gpus > 0;
  rc = emit_plan(&pb, d, s.best_x, whole, out);
  if (!(fixed_gpus > 0 && fixed_gpus < s.best_gpus)) out->served_value_bound = out->served_value;
out:
  search_free(&s);
  problem_free(&pb);
  if (rc)
    migplan_plan_free(out);
  else
    out->solve_ms = (double)(time_mono_ns() - t0) / 1e6;
  return rc;
}

void migplan_plan_free(struct migplan_plan *p) {
  if (!p) return;
  free(p->gpus);
  memset(p, 0, sizeof *p);
}

/* ---- 8. the demand file ---------------------------------------------------- */

struct dctx {
  const char *file;
  const struct catalog_model *m;
  struct migplan_demand *d;
};

static int dfail(const struct dctx *c, int line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int dfail(const struct dctx *c, int line, const char *field, const char *fmt, ...) {
  char msg[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return err_set(ERR_INVALID, "%s:%d: %s: %s", c->file, line, field, msg);
}

static int line_of(struct fy_node *n) {
  void *it = NULL;
  if (!n) return 1;
  if (fy_node_is_mapping(n)) {
    struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
    return p ? line_of(fy_node_pair_key(p)) : 1;
  }
  if (fy_node_is_sequence(n)) return line_of(fy_node_sequence_iterate(n, &it));
  struct fy_token *t = fy_node_get_scalar_token(n);
  const struct fy_mark *mk = t ? fy_token_start_mark(t) : NULL;
  return mk ? mk->line + 1 : 1;
}

/* A scalar's text into buf (NUL-terminated); false when n is not a short scalar. */
static bool scalar(struct fy_node *n, char *buf, size_t len) {
  size_t k = 0;
  const char *s = n && fy_node_is_scalar(n) ? fy_node_get_scalar(n, &k) : NULL;
  if (!s || k == 0 || k >= len) return false;
  memcpy(buf, s, k);
  buf[k] = '\0';
  return true;
}

/* A whole number in [lo, hi] written as a plain scalar. */
static int read_int(const struct dctx *c, struct fy_node *n, const char *field, long lo, long hi,
                    long *out) {
  char buf[64], *end;
  if (!scalar(n, buf, sizeof buf) || fy_node_get_style(n) != FYNS_PLAIN)
    return dfail(c, line_of(n), field, "expected a whole number");
  errno = 0;
  long v = strtol(buf, &end, 10);
  if (*end || errno) return dfail(c, line_of(n), field, "'%s' is not a whole number", buf);
  if (v < 0 && lo == 0) return dfail(c, line_of(n), field, "%ld is negative (use 0 or more)", v);
  if (v < lo) return dfail(c, line_of(n), field, "%ld is below %ld", v, lo);
  if (v > hi) return dfail(c, line_of(n), field, "%ld is above the limit %ld", v, hi);
  *out = v;
  return 0;
}

static int read_weight(const struct dctx *c, struct fy_node *n, const char *field, double *out) {
  char buf[64], *end;
  if (!scalar(n, buf, sizeof buf) || fy_node_get_style(n) != FYNS_PLAIN)
    return dfail(c, line_of(n), field, "expected a number");
  errno = 0;
  double v = strtod(buf, &end);
  if (*end || errno || !isfinite(v))
    return dfail(c, line_of(n), field, "'%s' is not a number", buf);
  if (v <= 0 || v > 1e9)
    return dfail(c, line_of(n), field, "weight %g is out of range (above 0, at most 1e9)", v);
  *out = v;
  return 0;
}

/* "1g.18gb, 3g.71gb, ..." */
static void profile_names(const struct catalog_model *m, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int pi = 0; pi < n_profiles(m) && used < len; pi++) {
    int k = snprintf(buf + used, len - used, "%s%s", pi ? ", " : "", m->mig_profiles[pi].name);
    if (k < 0) break;
    used += (size_t)k;
  }
}

/* A profile key (name or NVML id) to its profile index on the demand's model. */
static int read_profile(const struct dctx *c, struct fy_node *key, const char *section, int *pi) {
  char name[64], field[96], list[256];
  if (!scalar(key, name, sizeof name))
    return dfail(c, line_of(key), section, "expected a profile name such as %s",
                 c->m->mig_profiles[0].name);
  snprintf(field, sizeof field, "%s.%s", section, name);
  const struct catalog_mig_profile *pr = catalog_mig_profile_by_name(c->m, name);
  char *end;
  long id = strtol(name, &end, 10);
  if (!pr && !*end) pr = catalog_mig_profile(c->m, (int)id);
  profile_names(c->m, list, sizeof list);
  if (!pr) {
    int nm;
    const struct catalog_model *all = catalog_models(&nm);
    for (int i = 0; i < nm; i++) {
      if (catalog_mig_profile_by_name(&all[i], name))
        return dfail(c, line_of(key), field,
                     "profile %s is not on %s (it is a profile of %s); %s has: %s", name, c->m->key,
                     all[i].key, c->m->key, list);
    }
    return dfail(c, line_of(key), field, "unknown MIG profile '%s' (%s has: %s)", name, c->m->key,
                 list);
  }
  *pi = profile_index(c->m, pr->id);
  return *pi < 0 ? dfail(c, line_of(key), field, "profile %s is beyond what gpuops plans", name)
                 : 0;
}

static int read_counts(const struct dctx *c, struct fy_node *map, bool weights) {
  const char *section = weights ? "weights" : "demand";
  void *it = NULL;
  struct fy_node_pair *p;
  if (!map || !fy_node_is_mapping(map))
    return dfail(c, line_of(map), section, "expected a mapping of profile: %s (e.g. {%s: 4})",
                 weights ? "weight" : "count", c->m->mig_profiles[0].name);
  while ((p = fy_node_mapping_iterate(map, &it))) {
    int pi, rc;
    char field[96], name[64] = "?";
    if ((rc = read_profile(c, fy_node_pair_key(p), section, &pi))) return rc;
    scalar(fy_node_pair_key(p), name, sizeof name);
    snprintf(field, sizeof field, "%s.%s", section, name);
    if (weights) {
      rc = read_weight(c, fy_node_pair_value(p), field, &c->d->weight[pi]);
    } else {
      long v;
      rc = read_int(c, fy_node_pair_value(p), field, 0, MAX_COUNT, &v);
      if (rc == 0) c->d->count[pi] = (int)v;
    }
    if (rc) return rc;
  }
  return 0;
}

static bool name_ok(const char *s) {
  for (; *s; s++) {
    if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= '0' && *s <= '9') ||
          (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
      return false;
  }
  return true;
}

/* Names node-01 .. node-NN for a node count. */
static int make_node_names(const struct dctx *c, int count) {
  struct migplan_demand *d = c->d;
  int width = 2;
  for (int k = count; k >= 100; k /= 10) width++;
  d->nodes = calloc((size_t)count, sizeof *d->nodes);
  if (!d->nodes) return err_set(ERR_NOMEM, "%s: out of memory for %d node names", c->file, count);
  for (int i = 0; i < count; i++) {
    char name[32];
    snprintf(name, sizeof name, "node-%0*d", width, i + 1);
    if (!(d->nodes[i] = strdup(name))) return err_set(ERR_NOMEM, "%s: out of memory", c->file);
    d->n_nodes++;
  }
  return 0;
}

/* nodes: a count, or a list of distinct names. */
static int read_nodes(const struct dctx *c, struct fy_node *n) {
  struct migplan_demand *d = c->d;
  if (n && fy_node_is_scalar(n)) {
    long v;
    int rc = read_int(c, n, "nodes", 1, MAX_NODES, &v);
    return rc ? rc : make_node_names(c, (int)v);
  }
  if (!n || !fy_node_is_sequence(n) || fy_node_sequence_item_count(n) == 0)
    return dfail(c, line_of(n), "nodes", "expected a node count or a list of node names");
  int count = fy_node_sequence_item_count(n);
  if (count > MAX_NODES) return dfail(c, line_of(n), "nodes", "more than %d nodes", MAX_NODES);
  d->nodes = calloc((size_t)count, sizeof *d->nodes);
  if (!d->nodes) return err_set(ERR_NOMEM, "%s: out of memory for %d node names", c->file, count);
  void *it = NULL;
  struct fy_node *item;
  for (int i = 0; (item = fy_node_sequence_iterate(n, &it)); i++) {
    char name[128], field[32];
    snprintf(field, sizeof field, "nodes[%d]", i);
    if (!scalar(item, name, sizeof name) || !name_ok(name))
      return dfail(c, line_of(item), field,
                   "expected a node name (letters, digits, '-', '_', '.')");
    for (int j = 0; j < d->n_nodes; j++) {
      if (!strcmp(d->nodes[j], name))
        return dfail(c, line_of(item), field, "node %s is listed twice", name);
    }
    if (!(d->nodes[d->n_nodes] = strdup(name)))
      return err_set(ERR_NOMEM, "%s: out of memory", c->file);
    d->n_nodes++;
  }
  return 0;
}

static struct fy_node *lookup(struct fy_node *root, const char *key, struct fy_node **keynode) {
  void *it = NULL;
  struct fy_node_pair *p;
  while ((p = fy_node_mapping_iterate(root, &it))) {
    char k[64];
    if (scalar(fy_node_pair_key(p), k, sizeof k) && !strcmp(k, key)) {
      if (keynode) *keynode = fy_node_pair_key(p);
      return fy_node_pair_value(p);
    }
  }
  return NULL;
}

static int read_model(struct dctx *c, struct fy_node *root, const char *override) {
  char name[96], known[256] = "";
  struct fy_node *key = NULL, *v = lookup(root, "model", &key);
  int nm;
  const struct catalog_model *all = catalog_models(&nm);
  for (int i = 0; i < nm; i++)
    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
             all[i].key);
  if (override)
    snprintf(name, sizeof name, "%s", override);
  else if (!key)
    return dfail(c, 1, "model", "missing: name the GPU model (%s) or pass --model", known);
  else if (!scalar(v, name, sizeof name))
    return dfail(c, line_of(key), "model", "expected a model name (%s)", known);
  c->m = catalog_find(name);
  if (!c->m)
    return override
               ? err_set(ERR_INVALID, "--model %s: unknown GPU model (known: %s)", name, known)
               : dfail(c, line_of(v), "model", "unknown GPU model '%s' (known: %s)", name, known);
  if (c->m->n_mig_profiles == 0)
    return dfail(c, line_of(v), "model", "%s has no MIG profiles", c->m->key);
  c->d->model = c->m;
  return 0;
}

static int read_demand(struct dctx *c, struct fy_node *root, const char *override) {
  static const char *keys[] = {"model", "demand", "weights", "gpus_per_node", "nodes", NULL};
  int rc;
  if (!root || !fy_node_is_mapping(root))
    return dfail(c, line_of(root), "top level", "expected a mapping with model: and demand:");
  void *it = NULL;
  struct fy_node_pair *p;
  while ((p = fy_node_mapping_iterate(root, &it))) {
    char k[64] = "";
    bool known = false;
    scalar(fy_node_pair_key(p), k, sizeof k);
    for (int i = 0; keys[i]; i++) known |= !strcmp(k, keys[i]);
    if (!known)
      return dfail(c, line_of(fy_node_pair_key(p)), k[0] ? k : "key",
                   "unknown key (allowed: model, demand, weights, gpus_per_node, nodes)");
  }
  if ((rc = read_model(c, root, override))) return rc;
  struct fy_node *key = NULL, *v = lookup(root, "demand", &key);
  if (!key)
    return dfail(c, 1, "demand", "missing: give instances per profile, e.g. demand: {%s: 7}",
                 c->m->mig_profiles[0].name);
  if ((rc = read_counts(c, v, false))) return rc;
  int total = 0;
  for (int pi = 0; pi < n_profiles(c->m); pi++) total += c->d->count[pi] > 0;
  if (!total) return dfail(c, line_of(key), "demand", "every count is 0: nothing to plan");
  key = NULL;
  if ((v = lookup(root, "weights", &key)) || key) {
    if ((rc = read_counts(c, v, true))) return rc;
  }
  long gpn = 8;
  key = NULL;
  if ((v = lookup(root, "gpus_per_node", &key)) || key) {
    if ((rc = read_int(c, v, "gpus_per_node", 1, 64, &gpn))) return rc;
  }
  c->d->gpus_per_node = (int)gpn;
  key = NULL;
  if ((v = lookup(root, "nodes", &key)) || key) {
    if ((rc = read_nodes(c, v))) return rc;
  }
  return 0;
}

static int yaml_error(const char *file, struct fy_diag *diag) {
  void *it = NULL;
  struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
  if (!e) return 0;
  return err_set(ERR_PARSE, "%s:%d:%d: YAML syntax error: %s", file, e->line > 0 ? e->line : 1,
                 e->column > 0 ? e->column : 1, e->msg ? e->msg : "malformed YAML");
}

int migplan_demand_load(const char *path, const char *model_override, struct migplan_demand *out) {
  struct fy_diag *diag = NULL;
  struct fy_parser *fyp = NULL;
  struct fy_document *doc = NULL;
  struct fy_diag_cfg dcfg;
  int rc = 0;
  memset(out, 0, sizeof *out);
  struct dctx c = {.file = path, .d = out};
  FILE *f = path ? fopen(path, "r") : NULL;
  if (!f)
    return err_set(ERR_IO, "%s: cannot open the demand file: %s", path ? path : "(null)",
                   strerror(errno));
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.colorize = false;
  diag = fy_diag_create(&dcfg);
  if (!diag) goto nomem;
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
  fyp = fy_parser_create(&pcfg);
  if (!fyp || fy_parser_set_input_fp(fyp, path, f) != 0) goto nomem;
  doc = fy_parse_load_document(fyp);
  if ((rc = yaml_error(path, diag))) goto out;
  if (!doc || !fy_document_root(doc)) {
    rc = err_set(
        ERR_INVALID,
        "%s:1: empty demand file: expected model: and demand: (see docs/fleet-mig-plan.md)", path);
    goto out;
  }
  rc = read_demand(&c, fy_document_root(doc), model_override);
  goto out;
nomem:
  rc = err_set(ERR_NOMEM, "%s: out of memory starting the YAML parser", path);
out:
  if (doc) fy_parse_document_destroy(fyp, doc);
  if (fyp) fy_parser_destroy(fyp);
  if (diag) fy_diag_destroy(diag);
  fclose(f);
  if (rc) migplan_demand_free(out);
  return rc;
}

void migplan_demand_free(struct migplan_demand *d) {
  if (!d) return;
  for (int i = 0; i < d->n_nodes; i++) free(d->nodes[i]);
  free(d->nodes);
  memset(d, 0, sizeof *d);
}

/* ---- 9. writers ----------------------------------------------------------- */

int migplan_format_parse(const char *name) {
  static const char *names[] = {"table", "json", "mig-parted", "slurm"};
  for (int i = 0; name && i < 4; i++) {
    if (!strcmp(name, names[i])) return i;
  }
  return -1;
}

static bool same_layout(const struct migplan_layout *a, const struct migplan_layout *b) {
  return a->n == b->n && key_of(a->count) == key_of(b->count) &&
         !memcmp(a->place, b->place, (size_t)a->n * sizeof *a->place);
}

/* "1g.18gb@0 1g.18gb@1 3g.71gb@4", or "MIG disabled (whole GPU)". */
static void layout_text(const struct catalog_model *m, const struct migplan_layout *l, char *buf,
                        size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  if (l->n == 0) snprintf(buf, len, "MIG disabled (whole GPU)");
  for (int i = 0; i < l->n && used < len; i++) {
    const struct catalog_mig_profile *pr = catalog_mig_profile(m, l->place[i].profile_id);
    int k = snprintf(buf + used, len - used, "%s%s@%d", i ? " " : "", pr ? pr->name : "?",
                     l->place[i].start);
    if (k < 0) break;
    used += (size_t)k;
  }
}

/* The GRES type of a whole GPU: the model key's first word, lower case ("h200"). */
static void whole_type(const struct catalog_model *m, char *buf, size_t len) {
  size_t i = 0;
  for (; m->key[i] && m->key[i] != '-' && i + 1 < len; i++)
    buf[i] = (char)(m->key[i] >= 'A' && m->key[i] <= 'Z' ? m->key[i] - 'A' + 'a' : m->key[i]);
  buf[i] = '\0';
}

static int gpus_per_node(const struct migplan_demand *d) {
  return d && d->gpus_per_node > 0 ? d->gpus_per_node : 8;
}

static int nodes_needed(const struct migplan_demand *d, const struct migplan_plan *p) {
  int gpn = gpus_per_node(d);
  return (p->n_gpus + gpn - 1) / gpn;
}

/* Node i's name: the demand's, else node-01 ...; width fits the count. */
static void node_name(const struct migplan_demand *d, int n_nodes, int i, char *buf, size_t len) {
  if (d && i < d->n_nodes) {
    snprintf(buf, len, "%s", d->nodes[i]);
    return;
  }
  int width = 2;
  for (int k = n_nodes; k >= 100; k /= 10) width++;
  snprintf(buf, len, "node-%0*d", width, i + 1);
}

/* Device g of node i (whole GPU padding beyond the plan). */
static const struct migplan_layout *node_gpu(const struct migplan_demand *d,
                                             const struct migplan_plan *p, int node, int dev) {
  static const struct migplan_layout whole;
  int g = node * gpus_per_node(d) + dev;
  return g < p->n_gpus ? &p->gpus[g] : &whole;
}

static bool same_node(const struct migplan_demand *d, const struct migplan_plan *p, int a, int b) {
  for (int dev = 0; dev < gpus_per_node(d); dev++) {
    if (!same_layout(node_gpu(d, p, a, dev), node_gpu(d, p, b, dev))) return false;
  }
  return true;
}

/* Instances per profile index on node i, and its whole GPUs. */
static void node_totals(const struct migplan_demand *d, const struct migplan_plan *p, int node,
                        int *count, int *whole) {
  memset(count, 0, MIGPLAN_MAX_PROFILES * sizeof *count);
  *whole = 0;
  for (int dev = 0; dev < gpus_per_node(d); dev++) {
    const struct migplan_layout *l = node_gpu(d, p, node, dev);
    *whole += l->n == 0;
    for (int pi = 0; pi < MIGPLAN_MAX_PROFILES; pi++) count[pi] += l->count[pi];
  }
}

/*
 * Compress node names into a Slurm hostlist: names that share a prefix and a
 * zero-padded number of one width become prefix[01-04,06]; others are listed.
 */
static void hostlist(char **names, int n, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used + 1 < len;) {
    const char *a = names[i];
    size_t al = strlen(a), digits = 0;
    while (digits < al && a[al - 1 - digits] >= '0' && a[al - 1 - digits] <= '9') digits++;
    int j = i + 1;
    long first = digits ? strtol(a + al - digits, NULL, 10) : 0, last = first;
    while (digits && j < n) { /* extend the run: same prefix and width, next number */
      const char *b = names[j];
      size_t bl = strlen(b);
      if (bl != al || strncmp(a, b, al - digits) != 0) break;
      bool numeric = true;
      for (size_t k = al - digits; k < bl; k++) numeric &= b[k] >= '0' && b[k] <= '9';
      if (!numeric || strtol(b + al - digits, NULL, 10) != last + 1) break;
      last++, j++;
    }
    int k;
    if (j - i >= 2)
      k = snprintf(buf + used, len - used, "%s%.*s[%0*ld-%0*ld]", used ? "," : "",
                   (int)(al - digits), a, (int)digits, first, (int)digits, last);
    else
      k = snprintf(buf + used, len - used, "%s%s", used ? "," : "", a);
    if (k < 0) break;
    used += (size_t)k;
    i = j;
  }
}

/* Distinct node patterns: pattern[i] = index of the first node with node i's devices. */
static int *node_patterns(const struct migplan_demand *d, const struct migplan_plan *p, int n_nodes,
                          int *n_patterns) {
  int *pat = calloc((size_t)(n_nodes ? n_nodes : 1), sizeof *pat);
  *n_patterns = 0;
  for (int i = 0; pat && i < n_nodes; i++) {
    pat[i] = i;
    for (int j = 0; j < i; j++) {
      if (pat[j] == j && same_node(d, p, i, j)) {
        pat[i] = j;
        break;
      }
    }
    *n_patterns += pat[i] == i;
  }
  return pat;
}

/* Names of the nodes whose pattern is first, as a hostlist. */
static char *pattern_hosts(const struct migplan_demand *d, int n_nodes, const int *pat, int first) {
  char **names = calloc((size_t)n_nodes, sizeof *names);
  size_t len = 64 * (size_t)n_nodes + 64;
  char *out = malloc(len);
  int k = 0;
  for (int i = 0; names && out && i < n_nodes; i++) {
    if (pat[i] != first) continue;
    char name[160];
    node_name(d, n_nodes, i, name, sizeof name);
    if (!(names[k++] = strdup(name))) k--;
  }
  if (out) hostlist(names, k, out, len);
  for (int i = 0; names && i < k; i++) free(names[i]);
  free(names);
  return out;
}

static void summary_line(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p,
                         const char *prefix) {
  double all = 0;
  for (int pi = 0; pi < n_profiles(p->model); pi++)
    all += (d->weight[pi] > 0 ? d->weight[pi] : p->model->mig_profiles[pi].compute_slices) *
           d->count[pi];
  fprintf(f, "%s%s: %d GPUs", prefix, p->model->key, p->n_gpus);
  if (p->fixed_gpus)
    fprintf(f, " (fixed), serves %.6g of %.6g weighted demand (upper bound %.6g%s)",
            p->served_value, all, p->served_value_bound, p->exact ? ", optimal" : "");
  else
    fprintf(f, ", lower bound %d (%s)", p->lower_bound_gpus,
            p->exact ? "optimal" : "best found, not proven");
  fprintf(f, "; stranded slices: %d compute, %d memory%s\n", p->stranded_compute,
          p->stranded_memory, p->complete ? "" : " (search stopped at its node limit)");
}

static int write_table(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p) {
  const struct catalog_model *m = p->model;
  int np = n_profiles(m), rc = 0;
  summary_line(f, d, p, "mig-plan: ");
  const char *hdr[] = {"gpus", "count", "layout"};
  struct table *t = table_new(3, hdr);
  const char *hdr2[] = {"profile", "demand", "served", "unserved", "spare"};
  struct table *t2 = table_new(5, hdr2);
  if (!t || !t2) {
    rc = err_set(ERR_NOMEM, "out of memory writing the table");
    goto out;
  }
  for (int i = 0; i < p->n_gpus;) {
    int j = i + 1;
    while (j < p->n_gpus && same_layout(&p->gpus[i], &p->gpus[j])) j++;
    char text[512], range[48];
    layout_text(m, &p->gpus[i], text, sizeof text);
    if (j - i > 1)
      snprintf(range, sizeof range, "%d-%d", i, j - 1);
    else
      snprintf(range, sizeof range, "%d", i);
    if ((rc = table_add_rowf(t, "%s|%d|%s", range, j - i, text))) goto out;
    i = j;
  }
  for (int pi = 0; pi < np; pi++) {
    int have = p->served[pi] + p->spare[pi];
    if (d->count[pi] == 0 && have == 0) continue;
    if ((rc = table_add_rowf(t2, "%s|%d|%d|%d|%d", m->mig_profiles[pi].name, d->count[pi],
                             p->served[pi], p->unserved[pi], p->spare[pi])))
      goto out;
  }
  if ((rc = table_write(t, f, TABLE_FMT_TABLE))) goto out;
  fputc('\n', f);
  rc = table_write(t2, f, TABLE_FMT_TABLE);
out:
  table_free(t);
  table_free(t2);
  return rc;
}

static json_t *per_profile(const struct catalog_model *m, const int *count, bool keep_zero) {
  json_t *o = json_object();
  for (int pi = 0; o && pi < n_profiles(m); pi++) {
    if (count[pi] || keep_zero)
      json_object_set_new(o, m->mig_profiles[pi].name, json_integer(count[pi]));
  }
  return o;
}

static int write_json(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p) {
  const struct catalog_model *m = p->model;
  int n_nodes = nodes_needed(d, p);
  json_t *doc = json_object(), *groups = json_array(), *nodes = json_array();
  if (!doc || !groups || !nodes) {
    json_decref(doc), json_decref(groups), json_decref(nodes);
    return err_set(ERR_NOMEM, "out of memory writing JSON");
  }
  json_object_set_new(doc, "model", json_string(m->key));
  json_object_set_new(doc, "gpus", json_integer(p->n_gpus));
  json_object_set_new(doc, "fixed_gpus", json_boolean(p->fixed_gpus));
  json_object_set_new(doc, "lower_bound_gpus", json_integer(p->lower_bound_gpus));
  json_object_set_new(doc, "optimal", json_boolean(p->exact));
  json_object_set_new(doc, "search_complete", json_boolean(p->complete));
  json_object_set_new(doc, "stranded_compute_slices", json_integer(p->stranded_compute));
  json_object_set_new(doc, "stranded_memory_slices", json_integer(p->stranded_memory));
  json_object_set_new(doc, "demand", per_profile(m, d->count, false));
  json_object_set_new(doc, "served", per_profile(m, p->served, false));
  json_object_set_new(doc, "unserved", per_profile(m, p->unserved, false));
  json_object_set_new(doc, "spare", per_profile(m, p->spare, false));
  json_object_set_new(doc, "served_value", jsonio_int_or_real(p->served_value));
  json_object_set_new(doc, "served_value_bound", jsonio_int_or_real(p->served_value_bound));
  json_object_set_new(doc, "search_nodes", json_integer(p->search_nodes));
  json_object_set_new(doc, "solve_ms", json_real(p->solve_ms));
  for (int i = 0; i < p->n_gpus;) {
    int j = i + 1;
    while (j < p->n_gpus && same_layout(&p->gpus[i], &p->gpus[j])) j++;
    json_t *g = json_object(), *pl = json_array();
    for (int k = 0; k < p->gpus[i].n; k++) {
      char one[64];
      const struct catalog_mig_profile *pr = catalog_mig_profile(m, p->gpus[i].place[k].profile_id);
      snprintf(one, sizeof one, "%s@%d", pr ? pr->name : "?", p->gpus[i].place[k].start);
      json_array_append_new(pl, json_string(one));
    }
    json_object_set_new(g, "first_gpu", json_integer(i));
    json_object_set_new(g, "count", json_integer(j - i));
    json_object_set_new(g, "mig_enabled", json_boolean(p->gpus[i].n > 0));
    json_object_set_new(g, "placements", pl);
    json_object_set_new(g, "instances", per_profile(m, p->gpus[i].count, false));
    json_array_append_new(groups, g);
    i = j;
  }
  json_object_set_new(doc, "layouts", groups);
  json_object_set_new(doc, "gpus_per_node", json_integer(gpus_per_node(d)));
  for (int i = 0; i < n_nodes; i++) {
    char name[160];
    node_name(d, n_nodes, i, name, sizeof name);
    json_t *nd = json_object();
    json_object_set_new(nd, "name", json_string(name));
    json_object_set_new(nd, "first_gpu", json_integer((json_int_t)i * gpus_per_node(d)));
    json_array_append_new(nodes, nd);
  }
  json_object_set_new(doc, "nodes", nodes);
  int rc = jsonio_write(f, doc);
  json_decref(doc);
  return rc;
}

/* One node pattern as a mig-parted config: device lists grouped by identical layout. */
static void parted_config(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p,
                          int node) {
  const struct catalog_model *m = p->model;
  int gpn = gpus_per_node(d);
  bool done[64] = {false};
  for (int a = 0; a < gpn && a < 64; a++) {
    if (done[a]) continue;
    const struct migplan_layout *la = node_gpu(d, p, node, a);
    fprintf(f, "    - devices: [");
    for (int b = a, first = 1; b < gpn && b < 64; b++) {
      if (done[b] || !same_layout(la, node_gpu(d, p, node, b))) continue;
      done[b] = true;
      fprintf(f, "%s%d", first ? "" : ", ", b);
      first = 0;
    }
    fprintf(f, "]\n");
    if (m->pci_device_id) fprintf(f, "      device-filter: \"0x%08X\"\n", m->pci_device_id);
    if (la->n == 0) {
      fprintf(f, "      mig-enabled: false\n");
      continue;
    }
    fprintf(f, "      mig-enabled: true\n      mig-devices:\n");
    for (int pi = 0; pi < n_profiles(m); pi++) {
      if (la->count[pi])
        fprintf(f, "        \"%s\": %d\n", m->mig_profiles[pi].name, la->count[pi]);
    }
  }
}

static int write_mig_parted(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p) {
  int n_nodes = nodes_needed(d, p), n_pat = 0;
  int *pat = node_patterns(d, p, n_nodes, &n_pat);
  if (!pat) return err_set(ERR_NOMEM, "out of memory writing the mig-parted config");
  summary_line(f, d, p, "# gpuops fleet mig-plan: ");
  fprintf(f,
          "# Apply on each node with: nvidia-mig-parted apply -f FILE -c CONFIG (CONFIG per node "
          "below),\n# or label the node nvidia.com/mig.config=CONFIG for the GPU operator.\n");
  fprintf(f, "version: v1\nmig-configs:\n");
  for (int i = 0, k = 0; i < n_nodes; i++) {
    if (pat[i] != i) continue;
    char *hosts = pattern_hosts(d, n_nodes, pat, i);
    k++;
    if (n_pat == 1)
      fprintf(f, "  # nodes: %s\n  gpuops-mig-plan:\n", hosts ? hosts : "?");
    else
      fprintf(f, "  # nodes: %s\n  gpuops-mig-plan-%d:\n", hosts ? hosts : "?", k);
    free(hosts);
    parted_config(f, d, p, i);
  }
  free(pat);
  return ferror(f) ? err_set(ERR_IO, "writing the mig-parted config failed") : 0;
}

/* "gpu:1g.18gb:7,gpu:3g.71gb:2,gpu:h200:1" for one node. */
static void gres_text(const struct migplan_demand *d, const struct migplan_plan *p, int node,
                      char *buf, size_t len) {
  const struct catalog_model *m = p->model;
  int count[MIGPLAN_MAX_PROFILES], whole;
  size_t used = 0;
  buf[0] = '\0';
  node_totals(d, p, node, count, &whole);
  for (int pi = 0; pi < n_profiles(m) && used < len; pi++) {
    if (!count[pi]) continue;
    int k = snprintf(buf + used, len - used, "%sgpu:%s:%d", used ? "," : "",
                     m->mig_profiles[pi].name, count[pi]);
    if (k > 0) used += (size_t)k;
  }
  if (whole && used < len) {
    char type[32];
    whole_type(m, type, sizeof type);
    snprintf(buf + used, len - used, "%sgpu:%s:%d", used ? "," : "", type, whole);
  }
}

static int write_slurm(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p) {
  const struct catalog_model *m = p->model;
  int n_nodes = nodes_needed(d, p), n_pat = 0;
  int *pat = node_patterns(d, p, n_nodes, &n_pat);
  if (!pat) return err_set(ERR_NOMEM, "out of memory writing Slurm lines");
  summary_line(f, d, p, "# gpuops fleet mig-plan: ");
  char type[32];
  whole_type(m, type, sizeof type);
  fprintf(f,
          "# %d node(s) of %d GPUs. GRES types are the plain MIG profile names: with\n"
          "# AutoDetect=nvml a type matches when it is a substring of NVML's profile name\n"
          "# (nvidia_%s_%s...), so gres.conf needs no File= lines.\n",
          n_nodes, gpus_per_node(d), type, m->mig_profiles[0].name);
  fprintf(f, "\n# ---- gres.conf (the same file on every node) ----\nAutoDetect=nvml\n");
  fprintf(f, "# What NVML should detect on each node once the MIG layout is applied:\n");
  for (int i = 0; i < n_nodes; i++) {
    if (pat[i] != i) continue;
    char *hosts = pattern_hosts(d, n_nodes, pat, i);
    int count[MIGPLAN_MAX_PROFILES], whole;
    node_totals(d, p, i, count, &whole);
    for (int pi = 0; pi < n_profiles(m); pi++) {
      if (count[pi])
        fprintf(f, "#   NodeName=%s Name=gpu Type=%s Count=%d\n", hosts ? hosts : "?",
                m->mig_profiles[pi].name, count[pi]);
    }
    if (whole) {
      char type[32];
      whole_type(m, type, sizeof type);
      fprintf(f, "#   NodeName=%s Name=gpu Type=%s Count=%d\n", hosts ? hosts : "?", type, whole);
    }
    free(hosts);
  }
  fprintf(f, "\n# ---- slurm.conf (merge Gres= into your NodeName lines) ----\nGresTypes=gpu\n");
  for (int i = 0; i < n_nodes; i++) {
    if (pat[i] != i) continue;
    char *hosts = pattern_hosts(d, n_nodes, pat, i);
    char gres[1024];
    gres_text(d, p, i, gres, sizeof gres);
    fprintf(f, "NodeName=%s Gres=%s\n", hosts ? hosts : "?", gres);
    free(hosts);
  }
  free(pat);
  return ferror(f) ? err_set(ERR_IO, "writing Slurm lines failed") : 0;
}

int migplan_write(FILE *f, const struct migplan_demand *d, const struct migplan_plan *p,
                  enum migplan_format format) {
  if (!f || !d || !p || !p->model) return err_set(ERR_INVALID, "nothing to write");
  if (d->n_nodes > 0 && nodes_needed(d, p) > d->n_nodes)
    return err_set(ERR_RANGE,
                   "the plan needs %d GPUs = %d nodes of %d GPUs, but the demand names "
                   "only %d node(s); add nodes, or plan for %d GPUs with --gpus",
                   p->n_gpus, nodes_needed(d, p), gpus_per_node(d), d->n_nodes,
                   d->n_nodes * gpus_per_node(d));
  switch (format) {
    case MIGPLAN_TABLE: return write_table(f, d, p);
    case MIGPLAN_JSON: return write_json(f, d, p);
    case MIGPLAN_MIG_PARTED: return write_mig_parted(f, d, p);
    case MIGPLAN_SLURM: return write_slurm(f, d, p);
  }
  return err_set(ERR_INVALID, "unknown output format %d", (int)format);
}
