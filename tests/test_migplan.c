/*
 * test_migplan.c — fleet/migplan: the MIG slot chooser and the layout planner.
 *
 * Everything is checked against references written here from catalog/mig.h
 * alone (mig_layout_valid is exact and tested in test_catalog.c), never
 * against migplan's own internals.
 *
 * Sections:
 *   1. reference: every valid layout of one GPU, by brute force over
 *      mig_layout_valid; the most instances of one profile a layout can still
 *      take; minimum GPUs and most weighted demand by dynamic programming
 *   2. slot chooser: hand-picked cases where the lowest free start is wrong,
 *      and every (layout, profile) of H200 and A100-40GB against brute force
 *   3. maximal layouts against brute force
 *   4. the planner: fewest GPUs against brute force on seeded random
 *      demands, every layout valid, demand served, bound honest; big demands
 *   5. the planner with a fixed GPU count
 *   6. writers: mig-parted read back with libfyaml, Slurm Gres lines summed,
 *      JSON read back
 *   7. demand files: good ones and every kind of bad one (file:line: field)
 *   8. the command through $GPUOPS_BIN
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/err.h"
#include "base/rng.h"
#include "catalog/catalog.h"
#include "catalog/mig.h"
#include "fleet/migplan.h"
#include "testutil.h"

/* ---- 1. reference ---------------------------------------------------------- */

#define REF_MAX 20000

struct ref_layout {
  int n;
  struct mig_placement p[MIGPLAN_MAX_INSTANCES];
  int count[MIGPLAN_MAX_PROFILES];
};

struct ref {
  const struct catalog_model *m;
  int n;
  struct ref_layout *all; /* every valid layout (placements in (profile, start) order) */
};

static int pidx(const struct catalog_model *m, int id) {
  for (int i = 0; i < m->n_mig_profiles; i++) {
    if (m->mig_profiles[i].id == id) return i;
  }
  return -1;
}

static void ref_walk(struct ref *r, struct ref_layout *cur, int pi0, int s0) {
  cr_assert_lt(r->n, REF_MAX);
  r->all[r->n++] = *cur;
  for (int pi = pi0; pi < r->m->n_mig_profiles; pi++) {
    for (int s = (pi == pi0 ? s0 : 0); s < CATALOG_MIG_MEMORY_SLICES; s++) {
      if (cur->n == MIGPLAN_MAX_INSTANCES) return;
      cur->p[cur->n] = (struct mig_placement){r->m->mig_profiles[pi].id, s};
      if (!mig_layout_valid(r->m, cur->p, cur->n + 1, NULL, 0)) continue;
      cur->n++, cur->count[pi]++;
      ref_walk(r, cur, pi, s + 1);
      cur->n--, cur->count[pi]--;
    }
  }
}

static struct ref ref_build(const char *model) {
  struct ref r = {.m = catalog_find(model)};
  cr_assert_not_null(r.m, "%s", model);
  r.all = calloc(REF_MAX, sizeof *r.all);
  struct ref_layout cur = {0};
  ref_walk(&r, &cur, 0, 0);
  return r;
}

/* Most instances of profile q that can be added to layout p[0..n), by search. */
static int ref_addable(const struct catalog_model *m, struct mig_placement *p, int n, int q_id,
                       int from) {
  int best = 0;
  for (int s = from; s < CATALOG_MIG_MEMORY_SLICES && n < 16; s++) {
    p[n] = (struct mig_placement){q_id, s};
    if (!mig_layout_valid(m, p, n + 1, NULL, 0)) continue;
    int k = 1 + ref_addable(m, p, n + 1, q_id, s + 1);
    best = k > best ? k : best;
  }
  return best;
}

/* The room score of migplan.h's contract, computed from ref_addable. */
static double ref_room(const struct catalog_model *m, const struct mig_placement *layout, int n) {
  struct mig_placement buf[16];
  double room = 0;
  for (int q = 0; q < m->n_mig_profiles; q++) {
    int id = m->mig_profiles[q].id;
    int cap = ref_addable(m, buf, 0, id, 0);
    memcpy(buf, layout, (size_t)n * sizeof *buf);
    int k = ref_addable(m, buf, n, id, 0);
    if (cap) room += (double)k / cap;
  }
  return room;
}

/* Distinct per-profile count vectors of valid layouts, restricted to profile mask. */
static int ref_vectors(const struct ref *r, unsigned mask, int (*out)[MIGPLAN_MAX_PROFILES],
                       int cap) {
  int n = 0;
  for (int i = 0; i < r->n; i++) {
    bool inside = true;
    for (int pi = 0; pi < r->m->n_mig_profiles; pi++)
      inside &= r->all[i].count[pi] == 0 || (mask & (1u << pi));
    if (!inside) continue;
    bool seen = false;
    for (int j = 0; j < n && !seen; j++) seen = !memcmp(out[j], r->all[i].count, sizeof out[j]);
    if (seen) continue;
    cr_assert_lt(n, cap);
    memcpy(out[n++], r->all[i].count, sizeof out[0]);
  }
  return n;
}

/* Is there a valid layout with exactly these counts per profile? */
static bool ref_counts_valid(const struct ref *r, const int *count) {
  for (int i = 0; i < r->n; i++) {
    if (!memcmp(r->all[i].count, count, sizeof r->all[i].count)) return true;
  }
  return false;
}

/* Dynamic programming over residual demand: fewest GPUs / most value. */
#define DP_DIM 8 /* counts 0..7 per profile */
struct dp {
  int np, pid[4];
  int nv;
  int (*v)[MIGPLAN_MAX_PROFILES];
  double w[4];
  int memo[DP_DIM * DP_DIM * DP_DIM * DP_DIM];
  double vmemo[5][DP_DIM * DP_DIM * DP_DIM * DP_DIM];
  bool vseen[5][DP_DIM * DP_DIM * DP_DIM * DP_DIM];
};

static int dp_key(const struct dp *d, const int *r) {
  int k = 0;
  for (int j = 0; j < d->np; j++) k = k * DP_DIM + r[j];
  return k;
}

static int dp_min_gpus(struct dp *d, const int *r) {
  int key = dp_key(d, r);
  if (key == 0) return 0;
  if (d->memo[key]) return d->memo[key];
  int best = 1 << 20;
  for (int i = 0; i < d->nv; i++) {
    int next[4], helps = 0;
    for (int j = 0; j < d->np; j++) {
      int c = d->v[i][d->pid[j]];
      helps |= c > 0 && r[j] > 0;
      next[j] = r[j] > c ? r[j] - c : 0;
    }
    if (!helps) continue;
    int g = 1 + dp_min_gpus(d, next);
    best = g < best ? g : best;
  }
  return d->memo[key] = best;
}

static double dp_max_value(struct dp *d, const int *r, int g) {
  int key = dp_key(d, r);
  if (g == 0 || key == 0) return 0;
  if (d->vseen[g][key]) return d->vmemo[g][key];
  double best = 0;
  for (int i = 0; i < d->nv; i++) {
    int next[4];
    double v = 0;
    for (int j = 0; j < d->np; j++) {
      int c = d->v[i][d->pid[j]], take = c < r[j] ? c : r[j];
      v += d->w[j] * take;
      next[j] = r[j] - take;
    }
    v += dp_max_value(d, next, g - 1);
    best = v > best ? v : best;
  }
  d->vseen[g][key] = true;
  return d->vmemo[g][key] = best;
}

/* Every layout of a plan is valid and its counts match its placements. */
static void assert_plan_valid(const struct catalog_model *m, const struct migplan_plan *p) {
  for (int g = 0; g < p->n_gpus; g++) {
    char why[256];
    const struct migplan_layout *l = &p->gpus[g];
    cr_assert(mig_layout_valid(m, l->place, l->n, why, sizeof why), "GPU %d: %s", g, why);
    int count[MIGPLAN_MAX_PROFILES] = {0};
    for (int i = 0; i < l->n; i++) count[pidx(m, l->place[i].profile_id)]++;
    cr_assert_arr_eq(count, l->count, sizeof count, "GPU %d: counts disagree with placements", g);
  }
}

/* The plan serves the demand: instances per profile over all GPUs >= demand. */
static void assert_plan_serves(const struct migplan_demand *d, const struct migplan_plan *p) {
  const struct catalog_model *m = d->model;
  for (int pi = 0; pi < m->n_mig_profiles; pi++) {
    int have = 0;
    for (int g = 0; g < p->n_gpus; g++) have += p->gpus[g].count[pi];
    cr_assert_geq(have, d->count[pi] - p->unserved[pi], "%s", m->mig_profiles[pi].name);
    cr_assert_eq(p->served[pi] + p->spare[pi], have, "%s", m->mig_profiles[pi].name);
    cr_assert_eq(p->served[pi] + p->unserved[pi], d->count[pi], "%s", m->mig_profiles[pi].name);
    if (!p->fixed_gpus) cr_assert_eq(p->unserved[pi], 0);
  }
}

static struct migplan_demand demand_of(const char *model, const char *spec) {
  struct migplan_demand d = {.model = catalog_find(model)};
  cr_assert_not_null(d.model);
  char buf[256], *save = NULL;
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    cr_assert_not_null(eq, "%s", tok);
    *eq = '\0';
    const struct catalog_mig_profile *pr = catalog_mig_profile_by_name(d.model, tok);
    cr_assert_not_null(pr, "%s", tok);
    d.count[pidx(d.model, pr->id)] = atoi(eq + 1);
  }
  return d;
}

/* ---- 2. slot chooser ------------------------------------------------------- */

static int lowest_free(const struct catalog_model *m, const struct mig_placement *p, int n,
                       int id) {
  int starts[CATALOG_MIG_MAX_STARTS];
  return mig_free_starts(m, p, n, id, starts) ? starts[0] : -1;
}

Test(slot, h200_1g_goes_high_and_keeps_4g) {
  const struct catalog_model *m = catalog_find("H200");
  const struct catalog_mig_profile *g1 = catalog_mig_profile_by_name(m, "1g.18gb");
  const struct catalog_mig_profile *g4 = catalog_mig_profile_by_name(m, "4g.71gb");
  const struct catalog_mig_profile *g3 = catalog_mig_profile_by_name(m, "3g.71gb");
  struct mig_placement l[4];
  int s = migplan_best_start(m, NULL, 0, g1->id);
  cr_assert_eq(s, 6, "an empty H200's 1g.18gb belongs at 6, got %d", s);
  /* lowest-first (start 0) loses 4g.71gb@0 and 3g.71gb@0; start 6 keeps both */
  l[0] = (struct mig_placement){g1->id, lowest_free(m, NULL, 0, g1->id)};
  cr_assert_eq(lowest_free(m, l, 1, g4->id), -1);
  l[0].start = s;
  cr_assert_eq(migplan_best_start(m, l, 1, g4->id), 0);
  cr_assert_eq(migplan_best_start(m, l, 1, g3->id), 0);
}

Test(slot, a100_2g_at_4_keeps_4g) {
  const struct catalog_model *m = catalog_find("A100-40GB");
  const struct catalog_mig_profile *g2 = catalog_mig_profile_by_name(m, "2g.10gb");
  const struct catalog_mig_profile *g4 = catalog_mig_profile_by_name(m, "4g.20gb");
  struct mig_placement l[2] = {{g2->id, 0}};
  cr_assert_eq(lowest_free(m, l, 1, g4->id), -1, "2g.10gb@0 blocks 4g.20gb");
  l[0].start = migplan_best_start(m, NULL, 0, g2->id);
  cr_assert_eq(l[0].start, 4);
  cr_assert_eq(migplan_best_start(m, l, 1, g4->id), 0);
  /* a second 2g.10gb: starts 0 and 2 leave the same room (one more 2g, two 1g.10gb), so the
     tie goes to the lower start */
  cr_assert_eq(migplan_best_start(m, l, 1, g2->id), 0);
}

Test(slot, h200_1g_next_to_a_3g_keeps_the_2g) {
  /* 3g.71gb@0 taken, a 1g.18gb comes: at 6 it leaves 2g.35gb@4 placeable; at the lowest free
     start (4) only 1g.35gb@6 is left. The chooser takes 6. */
  const struct catalog_model *m = catalog_find("H200");
  int g3 = catalog_mig_profile_by_name(m, "3g.71gb")->id;
  int g1 = catalog_mig_profile_by_name(m, "1g.18gb")->id;
  int g2 = catalog_mig_profile_by_name(m, "2g.35gb")->id;
  struct mig_placement l[3] = {{g3, 0}};
  int s = migplan_best_start(m, l, 1, g1);
  cr_assert_eq(lowest_free(m, l, 1, g1), 4);
  cr_assert_eq(s, 6, "got %d", s);
  l[1] = (struct mig_placement){g1, s};
  cr_assert_eq(migplan_best_start(m, l, 2, g2), 4);
  l[1].start = 4;
  cr_assert_eq(lowest_free(m, l, 2, g2), -1, "lowest-first lost the 2g.35gb");
}

Test(slot, cannot_fit_and_bad_input) {
  const struct catalog_model *m = catalog_find("H200");
  int g7 = catalog_mig_profile_by_name(m, "7g.141gb")->id;
  int g1 = catalog_mig_profile_by_name(m, "1g.18gb")->id;
  struct mig_placement l[1] = {{g7, 0}};
  cr_assert_eq(migplan_best_start(m, l, 1, g1), -1);
  cr_assert_eq(migplan_best_start(m, NULL, 0, 999), -1, "unknown profile");
  cr_assert_eq(migplan_best_start(NULL, NULL, 0, g1), -1);
  struct mig_placement bad[1] = {{999, 0}};
  cr_assert_eq(migplan_best_start(m, bad, 1, g1), -1, "a layout naming an unknown profile");
}

Test(slot, weights_steer_the_choice) {
  /* Empty A100-40GB, a 1g.5gb: with every weight on 3g.20gb, any start keeps one 3g; with the
     weight on 4g.20gb, the 1g must stay out of slices 0-3. */
  const struct catalog_model *m = catalog_find("A100-40GB");
  int g1 = catalog_mig_profile_by_name(m, "1g.5gb")->id;
  double w[MIGPLAN_MAX_PROFILES] = {0};
  w[pidx(m, catalog_mig_profile_by_name(m, "4g.20gb")->id)] = 1;
  int s = migplan_best_start_weighted(m, NULL, 0, g1, w);
  cr_assert_geq(s, 4, "got %d", s);
  memset(w, 0, sizeof w);
  w[pidx(m, catalog_mig_profile_by_name(m, "1g.5gb")->id)] = 1; /* only 1g: all equal, lowest */
  cr_assert_eq(migplan_best_start_weighted(m, NULL, 0, g1, w), 0);
}

/* Every valid layout of the model x every profile: the chosen start is the brute-force argmax
   of the room score (lowest on ties), migplan_room agrees, and no other start keeps a strict
   superset of the profiles that stay placeable. */
static void slot_against_brute_force(const char *model) {
  struct ref r = ref_build(model);
  const struct catalog_model *m = r.m;
  long checked = 0, lowest_wrong = 0;
  for (int i = 0; i < r.n; i++) {
    const struct ref_layout *L = &r.all[i];
    cr_assert_float_eq(migplan_room(m, L->p, L->n, NULL), ref_room(m, L->p, L->n), 1e-9);
    for (int q = 0; q < m->n_mig_profiles; q++) {
      int id = m->mig_profiles[q].id, want = -1;
      double best = -1;
      unsigned keep_best = 0, keep[CATALOG_MIG_MEMORY_SLICES] = {0};
      struct mig_placement buf[16];
      memcpy(buf, L->p, (size_t)L->n * sizeof *buf);
      for (int s = 0; s < CATALOG_MIG_MEMORY_SLICES; s++) {
        buf[L->n] = (struct mig_placement){id, s};
        if (!mig_layout_valid(m, buf, L->n + 1, NULL, 0)) continue;
        double room = ref_room(m, buf, L->n + 1);
        struct mig_placement tmp[16];
        for (int k = 0; k < m->n_mig_profiles; k++) {
          memcpy(tmp, buf, (size_t)(L->n + 1) * sizeof *tmp);
          if (ref_addable(m, tmp, L->n + 1, m->mig_profiles[k].id, 0)) keep[s] |= 1u << k;
        }
        if (room > best + 1e-9) best = room, want = s, keep_best = keep[s];
      }
      int got = migplan_best_start(m, L->p, L->n, id);
      cr_assert_eq(got, want, "%s layout %d profile %s: chose %d, brute force %d", model, i,
                   m->mig_profiles[q].name, got, want);
      for (int s = 0; want >= 0 && s < CATALOG_MIG_MEMORY_SLICES; s++)
        cr_assert(!((keep[s] & keep_best) == keep_best && keep[s] != keep_best),
                  "%s layout %d: start %d keeps a strict superset of start %d's profiles", model, i,
                  s, want);
      checked++;
      lowest_wrong += want >= 0 && want != lowest_free(m, L->p, L->n, id);
    }
  }
  cr_log_info("%s: %d layouts, %ld choices checked, lowest free start differs in %ld", model, r.n,
              checked, lowest_wrong);
  cr_assert_gt(lowest_wrong, 0);
  free(r.all);
}

Test(slot, h200_every_layout_against_brute_force, .timeout = 100) {
  slot_against_brute_force("H200");
}

Test(slot, a100_40gb_every_layout_against_brute_force, .timeout = 100) {
  slot_against_brute_force("A100-40GB");
}

/* ---- 3. maximal layouts ---------------------------------------------------- */

static void maximal_against_brute_force(const char *model, unsigned mask) {
  struct ref r = ref_build(model);
  static int vec[4096][MIGPLAN_MAX_PROFILES];
  int nv = ref_vectors(&r, mask, vec, 4096);
  struct migplan_layout out[512];
  int n = migplan_maximal_layouts(r.m, mask, out, 512);
  cr_assert_gt(n, 0);
  cr_assert_leq(n, 512);
  int want = 0;
  for (int i = 0; i < nv; i++) {
    bool maximal = true;
    for (int pi = 0; pi < r.m->n_mig_profiles && maximal; pi++) {
      if (!(mask & (1u << pi))) continue;
      int up[MIGPLAN_MAX_PROFILES];
      memcpy(up, vec[i], sizeof up);
      up[pi]++;
      for (int j = 0; j < nv && maximal; j++) maximal = memcmp(vec[j], up, sizeof up) != 0;
    }
    if (!maximal) continue;
    want++;
    bool found = false;
    for (int k = 0; k < n && !found; k++) found = !memcmp(out[k].count, vec[i], sizeof vec[i]);
    cr_assert(found, "%s: a maximal count vector is missing", model);
  }
  cr_assert_eq(n, want, "%s mask %#x: %d maximal layouts, brute force %d", model, mask, n, want);
  for (int k = 0; k < n; k++) {
    char why[200];
    cr_assert(mig_layout_valid(r.m, out[k].place, out[k].n, why, sizeof why), "%s", why);
  }
  free(r.all);
}

Test(maximal, every_model_and_some_masks) {
  int nm;
  const struct catalog_model *all = catalog_models(&nm);
  for (int i = 0; i < nm; i++) {
    if (!all[i].n_mig_profiles) continue;
    maximal_against_brute_force(all[i].key, 0x7f);
    maximal_against_brute_force(all[i].key, 0x11); /* 1g + 3g */
    maximal_against_brute_force(all[i].key, 0x6c); /* 1g(2 slices), 2g, 4g, 7g */
  }
}

/* ---- 4. the planner -------------------------------------------------------- */

/* Random small demands over up to 4 profiles: the plan's GPU count equals the brute-force
   minimum and is marked optimal; every layout valid; the demand served. */
static void planner_against_brute_force(const char *model, uint64_t seed, int rounds) {
  struct ref r = ref_build(model);
  const struct catalog_model *m = r.m;
  struct rng g;
  rng_seed(&g, seed);
  static int vec[4096][MIGPLAN_MAX_PROFILES];
  for (int round = 0; round < rounds; round++) {
    struct migplan_demand d = {.model = m};
    struct dp *dp = calloc(1, sizeof *dp);
    unsigned mask = 0;
    int np = 1 + (int)rng_below(&g, 4);
    while (__builtin_popcount(mask) < np) mask |= 1u << rng_below(&g, (uint64_t)m->n_mig_profiles);
    for (int pi = 0; pi < m->n_mig_profiles; pi++) {
      if (!(mask & (1u << pi))) continue;
      d.count[pi] = 1 + (int)rng_below(&g, 6);
      dp->pid[dp->np] = pi;
      dp->w[dp->np] = m->mig_profiles[pi].compute_slices;
      dp->np++;
    }
    dp->nv = ref_vectors(&r, mask, vec, 4096);
    dp->v = vec;
    int rr[4];
    for (int j = 0; j < dp->np; j++) rr[j] = d.count[dp->pid[j]];
    int want = dp_min_gpus(dp, rr);
    struct migplan_plan p;
    cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
    cr_assert_eq(p.n_gpus, want, "%s round %d: plan uses %d GPUs, brute force %d", model, round,
                 p.n_gpus, want);
    cr_assert(p.exact);
    cr_assert_leq(p.lower_bound_gpus, want, "the lower bound %d is above the optimum %d",
                  p.lower_bound_gpus, want);
    assert_plan_valid(m, &p);
    assert_plan_serves(&d, &p);
    /* fixed GPU count below the optimum: most weighted demand, against brute force */
    for (int n = 1; n < want && n <= 4; n++) {
      struct migplan_plan f;
      cr_assert_eq(migplan_solve(&d, n, &f), 0, "%s", err_msg());
      cr_assert_eq(f.n_gpus, n);
      double best = dp_max_value(dp, rr, n);
      cr_assert_float_eq(f.served_value, best, 1e-9, "%s round %d, %d GPUs: served %g, best %g",
                         model, round, n, f.served_value, best);
      cr_assert_geq(f.served_value_bound, f.served_value - 1e-9);
      assert_plan_valid(m, &f);
      assert_plan_serves(&d, &f);
      migplan_plan_free(&f);
    }
    migplan_plan_free(&p);
    free(dp);
  }
  free(r.all);
}

Test(planner, h200_fewest_gpus_vs_brute_force, .timeout = 100) {
  planner_against_brute_force("H200", 42, 60);
}

Test(planner, a100_40gb_fewest_gpus_vs_brute_force, .timeout = 100) {
  planner_against_brute_force("A100-40GB", 7, 60);
}

Test(planner, the_docs_example) {
  struct migplan_demand d = demand_of("H200", "1g.18gb=10 3g.71gb=3 7g.141gb=1");
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
  /* 10 + 9 + 7 = 26 compute slices: 4 GPUs at least, and 4 suffice with nothing stranded */
  cr_assert_eq(p.n_gpus, 4);
  cr_assert_eq(p.lower_bound_gpus, 4);
  cr_assert(p.exact && p.complete);
  cr_assert_eq(p.stranded_compute + p.stranded_memory, 0);
  assert_plan_valid(d.model, &p);
  assert_plan_serves(&d, &p);
  migplan_plan_free(&p);
}

Test(planner, least_waste_among_fewest_gpus) {
  /* 7 x 1g.18gb + 1 x 3g.71gb: 2 GPUs either way; 1g x7 + 3g x2 strands slice 7 and a compute
     slice, 1g x4 + 3g twice strands nothing. */
  struct migplan_demand d = demand_of("H200", "1g.18gb=7 3g.71gb=1");
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
  cr_assert_eq(p.n_gpus, 2);
  cr_assert_eq(p.stranded_compute, 0);
  cr_assert_eq(p.stranded_memory, 0);
  cr_assert(p.complete);
  migplan_plan_free(&p);
}

Test(planner, big_demand_meets_its_bound, .timeout = 60) {
  struct migplan_demand d = demand_of(
      "H200",
      "1g.18gb=100000 1g.35gb=33333 2g.35gb=45000 3g.71gb=20001 4g.71gb=7777 7g.141gb=1234");
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
  long compute = 100000L + 33333 + 2 * 45000 + 3 * 20001 + 4 * 7777 + 7 * 1234;
  cr_assert_geq(p.lower_bound_gpus, (compute + 6) / 7, "the bound is at least the compute bound");
  cr_assert_geq(p.n_gpus, p.lower_bound_gpus);
  cr_assert_eq(p.n_gpus == p.lower_bound_gpus, p.exact);
  cr_log_info("big demand: %d GPUs, lower bound %d, %.1f ms", p.n_gpus, p.lower_bound_gpus,
              p.solve_ms);
  assert_plan_valid(d.model, &p);
  assert_plan_serves(&d, &p);
  migplan_plan_free(&p);
}

Test(planner, every_h200_profile_at_once) {
  struct migplan_demand d = demand_of(
      "H200", "1g.18gb=37 1g.18gb+me=3 1g.35gb=11 2g.35gb=13 3g.71gb=9 4g.71gb=5 7g.141gb=2");
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
  cr_assert_eq(p.n_gpus, p.lower_bound_gpus);
  cr_assert(p.exact);
  assert_plan_valid(d.model, &p);
  assert_plan_serves(&d, &p);
  for (int g = 0; g < p.n_gpus; g++) /* the +me profile: at most one per GPU */
    cr_assert_leq(p.gpus[g].count[pidx(d.model, 20)], 1);
  migplan_plan_free(&p);
}

Test(planner, refuses_an_empty_demand) {
  struct migplan_demand d = {.model = catalog_find("H200")};
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), ERR_INVALID);
  cr_assert(strstr(err_msg(), "no instances"), "%s", err_msg());
}

/* ---- 5. fixed GPU count ---------------------------------------------------- */

Test(fixed, more_gpus_than_needed_leaves_whole_gpus) {
  struct migplan_demand d = demand_of("H200", "1g.18gb=10 3g.71gb=3 7g.141gb=1");
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 6, &p), 0, "%s", err_msg());
  cr_assert_eq(p.n_gpus, 6);
  int whole = 0;
  for (int g = 0; g < p.n_gpus; g++) whole += p.gpus[g].n == 0;
  cr_assert_eq(whole, 2);
  for (int pi = 0; pi < d.model->n_mig_profiles; pi++) cr_assert_eq(p.unserved[pi], 0);
  assert_plan_valid(d.model, &p);
  migplan_plan_free(&p);
}

Test(fixed, weights_decide_what_is_left_out) {
  /* one GPU for 1g.18gb x7 and a 7g.141gb: the 7g wins at weight 8, the 1g's at weight 1 each
     when the 7g weighs 6 */
  struct migplan_demand d = demand_of("H200", "1g.18gb=7 7g.141gb=1");
  int i1 = pidx(d.model, 19), i7 = pidx(d.model, 0);
  d.weight[i1] = 1, d.weight[i7] = 8;
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 1, &p), 0, "%s", err_msg());
  cr_assert_eq(p.served[i7], 1);
  cr_assert_eq(p.unserved[i1], 7);
  cr_assert(p.exact);
  migplan_plan_free(&p);
  d.weight[i7] = 6;
  cr_assert_eq(migplan_solve(&d, 1, &p), 0, "%s", err_msg());
  cr_assert_eq(p.served[i1], 7);
  cr_assert_eq(p.unserved[i7], 1);
  migplan_plan_free(&p);
}

/* ---- 6. writers ------------------------------------------------------------ */

static char *render(const struct migplan_demand *d, const struct migplan_plan *p,
                    enum migplan_format fmt) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  cr_assert_eq(migplan_write(f, d, p, fmt), 0, "%s", err_msg());
  fclose(f);
  return buf;
}

static int gpn_of(const struct migplan_demand *d) {
  return d->gpus_per_node ? d->gpus_per_node : 8;
}

/* Plan GPU of node i, device k: NULL for a padding (whole) GPU. */
static const struct migplan_layout *plan_gpu(const struct migplan_demand *d,
                                             const struct migplan_plan *p, int node, int dev) {
  int g = node * gpn_of(d) + dev;
  return g < p->n_gpus ? &p->gpus[g] : NULL;
}

static long scalar_long(struct fy_node *n) {
  size_t len;
  const char *s = fy_node_get_scalar(n, &len);
  cr_assert_not_null(s);
  char buf[32];
  snprintf(buf, sizeof buf, "%.*s", (int)len, s);
  return strtol(buf, NULL, 10);
}

/* One mig-parted config (a list of device entries) as counts per device. */
static void parted_devices(const struct catalog_model *m, struct fy_node *cfg, int gpn,
                           int (*counts)[MIGPLAN_MAX_PROFILES], bool *enabled, bool *seen) {
  cr_assert(fy_node_is_sequence(cfg));
  void *it = NULL;
  struct fy_node *entry;
  while ((entry = fy_node_sequence_iterate(cfg, &it))) {
    struct fy_node *devs = fy_node_mapping_lookup_by_string(entry, "devices", -1);
    struct fy_node *en = fy_node_mapping_lookup_by_string(entry, "mig-enabled", -1);
    struct fy_node *md = fy_node_mapping_lookup_by_string(entry, "mig-devices", -1);
    cr_assert(devs && fy_node_is_sequence(devs) && en);
    size_t len;
    const char *ens = fy_node_get_scalar(en, &len);
    bool on = len == 4 && !strncmp(ens, "true", 4);
    int count[MIGPLAN_MAX_PROFILES] = {0};
    void *jt = NULL;
    struct fy_node_pair *pair;
    while (on && md && (pair = fy_node_mapping_iterate(md, &jt))) {
      const char *name = fy_node_get_scalar(fy_node_pair_key(pair), &len);
      char pn[32];
      snprintf(pn, sizeof pn, "%.*s", (int)len, name);
      const struct catalog_mig_profile *pr = catalog_mig_profile_by_name(m, pn);
      cr_assert_not_null(pr, "mig-devices names an unknown profile %s", pn);
      count[pidx(m, pr->id)] = (int)scalar_long(fy_node_pair_value(pair));
    }
    cr_assert(!on || md, "mig-enabled: true without mig-devices");
    void *kt = NULL;
    struct fy_node *dv;
    while ((dv = fy_node_sequence_iterate(devs, &kt))) {
      long k = scalar_long(dv);
      cr_assert(k >= 0 && k < gpn, "device %ld out of range", k);
      cr_assert(!seen[k], "device %ld listed twice", k);
      seen[k] = true, enabled[k] = on;
      memcpy(counts[k], count, sizeof count);
    }
  }
}

/* Read the mig-parted output back: every config matches at least one node of the plan
   exactly (per device: enabled, counts), every node matches exactly one config, and every
   enabled device's counts form a valid layout. */
static void check_mig_parted(const struct migplan_demand *d, const struct migplan_plan *p,
                             const char *text) {
  const struct catalog_model *m = d->model;
  struct ref r = ref_build(m->key);
  struct fy_document *doc = fy_document_build_from_string(NULL, text, FY_NT);
  cr_assert_not_null(doc, "mig-parted output is not YAML:\n%s", text);
  struct fy_node *root = fy_document_root(doc);
  struct fy_node *ver = fy_node_mapping_lookup_by_string(root, "version", -1);
  size_t len;
  const char *vs = fy_node_get_scalar(ver, &len);
  cr_assert(vs && len == 2 && !strncmp(vs, "v1", 2));
  struct fy_node *cfgs = fy_node_mapping_lookup_by_string(root, "mig-configs", -1);
  cr_assert(cfgs && fy_node_is_mapping(cfgs));
  int gpn = gpn_of(d), n_nodes = (p->n_gpus + gpn - 1) / gpn;
  int *matched = calloc((size_t)n_nodes, sizeof *matched);
  void *it = NULL;
  struct fy_node_pair *pair;
  int n_cfg = 0;
  while ((pair = fy_node_mapping_iterate(cfgs, &it))) {
    int counts[64][MIGPLAN_MAX_PROFILES] = {{0}};
    bool enabled[64] = {false}, seen[64] = {false};
    parted_devices(m, fy_node_pair_value(pair), gpn, counts, enabled, seen);
    for (int k = 0; k < gpn; k++) {
      cr_assert(seen[k], "config %d leaves device %d out", n_cfg, k);
      if (enabled[k]) cr_assert(ref_counts_valid(&r, counts[k]), "device %d: no valid layout", k);
    }
    int hits = 0;
    for (int node = 0; node < n_nodes; node++) {
      bool same = true;
      for (int k = 0; k < gpn && same; k++) {
        const struct migplan_layout *l = plan_gpu(d, p, node, k);
        bool on = l && l->n > 0;
        same = on == enabled[k] && (!on || !memcmp(l->count, counts[k], sizeof counts[k]));
      }
      if (same) matched[node]++, hits++;
    }
    cr_assert_gt(hits, 0, "config %d matches no node of the plan", n_cfg);
    n_cfg++;
  }
  for (int node = 0; node < n_nodes; node++)
    cr_assert_eq(matched[node], 1, "node %d matches %d configs", node, matched[node]);
  free(matched);
  fy_document_destroy(doc);
  free(r.all);
}

/* Expand "gpu-[01-03,07],x" into names; returns how many. */
static int expand_hosts(const char *list, char names[][64], int cap) {
  int n = 0;
  const char *s = list;
  while (*s) {
    const char *br = strchr(s, '['), *comma = strchr(s, ',');
    if (br && (!comma || br < comma)) {
      char prefix[64];
      snprintf(prefix, sizeof prefix, "%.*s", (int)(br - s), s);
      const char *q = br + 1;
      while (*q && *q != ']') {
        char *end;
        long a = strtol(q, &end, 10), b = a;
        int width = (int)(end - q);
        if (*end == '-') b = strtol(end + 1, &end, 10);
        for (long k = a; k <= b && n < cap; k++)
          snprintf(names[n++], 64, "%s%0*ld", prefix, width, k);
        q = *end == ',' ? end + 1 : end;
      }
      s = *q ? q + 1 : q;
      if (*s == ',') s++;
    } else {
      size_t k = comma ? (size_t)(comma - s) : strlen(s);
      if (n < cap) snprintf(names[n++], 64, "%.*s", (int)k, s);
      s += k;
      if (*s == ',') s++;
    }
  }
  return n;
}

/* The slurm.conf lines' Gres summed over all nodes equals the plan's instances per profile
   (plus whole GPUs), and gres.conf turns on AutoDetect=nvml. */
static void check_slurm(const struct migplan_demand *d, const struct migplan_plan *p,
                        const char *text) {
  const struct catalog_model *m = d->model;
  long total[MIGPLAN_MAX_PROFILES] = {0}, whole = 0, want_whole = 0;
  int nodes = 0;
  cr_assert(strstr(text, "\nAutoDetect=nvml\n"), "%s", text);
  cr_assert(strstr(text, "\nGresTypes=gpu\n"), "%s", text);
  char *copy = strdup(text), *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "NodeName=", 9) != 0) continue;
    char hosts[4096], gres[1024];
    cr_assert_eq(sscanf(line, "NodeName=%4095s Gres=%1023s", hosts, gres), 2, "%s", line);
    static char names[4096][64];
    int k = expand_hosts(hosts, names, 4096);
    nodes += k;
    char *s2 = NULL;
    for (char *item = strtok_r(gres, ",", &s2); item; item = strtok_r(NULL, ",", &s2)) {
      char type[64];
      int count;
      cr_assert_eq(sscanf(item, "gpu:%63[^:]:%d", type, &count), 2, "%s", item);
      const struct catalog_mig_profile *pr = catalog_mig_profile_by_name(m, type);
      if (pr)
        total[pidx(m, pr->id)] += (long)count * k;
      else
        whole += (long)count * k;
    }
  }
  free(copy);
  int gpn = gpn_of(d);
  cr_assert_eq(nodes, (p->n_gpus + gpn - 1) / gpn);
  for (int g = 0; g < nodes * gpn; g++) want_whole += g >= p->n_gpus || p->gpus[g].n == 0;
  for (int pi = 0; pi < m->n_mig_profiles; pi++)
    cr_assert_eq(total[pi], p->served[pi] + p->spare[pi], "%s: Gres says %ld, plan %d",
                 m->mig_profiles[pi].name, total[pi], p->served[pi] + p->spare[pi]);
  cr_assert_eq(whole, want_whole);
}

static void check_writers(struct migplan_demand *d, int gpus) {
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(d, gpus, &p), 0, "%s", err_msg());
  char *t = render(d, &p, MIGPLAN_MIG_PARTED);
  check_mig_parted(d, &p, t);
  free(t);
  t = render(d, &p, MIGPLAN_SLURM);
  check_slurm(d, &p, t);
  free(t);
  t = render(d, &p, MIGPLAN_JSON);
  json_error_t e;
  json_t *j = json_loads(t, 0, &e);
  cr_assert_not_null(j, "%s", e.text);
  cr_assert_eq(json_integer_value(json_object_get(j, "gpus")), p.n_gpus);
  size_t i;
  json_t *g;
  int sum = 0;
  json_array_foreach(json_object_get(j, "layouts"), i, g) {
    sum += (int)json_integer_value(json_object_get(g, "count"));
  }
  cr_assert_eq(sum, p.n_gpus);
  json_decref(j);
  free(t);
  t = render(d, &p, MIGPLAN_TABLE);
  cr_assert(strstr(t, "lower bound") || strstr(t, "fixed"), "%s", t);
  free(t);
  migplan_plan_free(&p);
}

Test(writers, one_node) {
  struct migplan_demand d = demand_of("H200", "1g.18gb=10 3g.71gb=3 7g.141gb=1");
  check_writers(&d, 0);
  check_writers(&d, 6); /* with whole GPUs */
}

Test(writers, many_nodes_several_configs) {
  struct migplan_demand d = demand_of(
      "H200", "1g.18gb=37 1g.18gb+me=3 1g.35gb=11 2g.35gb=13 3g.71gb=9 4g.71gb=5 7g.141gb=2");
  d.gpus_per_node = 4;
  check_writers(&d, 0);
  d.gpus_per_node = 8;
  check_writers(&d, 0);
  check_writers(&d, 30);
}

Test(writers, identical_nodes_share_one_config) {
  struct migplan_demand d = demand_of("A100-40GB", "1g.5gb=112");
  d.gpus_per_node = 8;
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
  cr_assert_eq(p.n_gpus, 16);
  char *t = render(&d, &p, MIGPLAN_SLURM);
  cr_assert(strstr(t, "NodeName=node-[01-02] Gres=gpu:1g.5gb:56\n"), "%s", t);
  free(t);
  t = render(&d, &p, MIGPLAN_MIG_PARTED);
  cr_assert(strstr(t, "  gpuops-mig-plan:\n    - devices: [0, 1, 2, 3, 4, 5, 6, 7]\n"), "%s", t);
  check_mig_parted(&d, &p, t);
  free(t);
  migplan_plan_free(&p);
}

Test(writers, too_few_named_nodes_is_an_error) {
  struct migplan_demand d = demand_of("H200", "1g.18gb=40");
  char *names[] = {"gpu-01"};
  d.gpus_per_node = 4, d.n_nodes = 1, d.nodes = names;
  struct migplan_plan p;
  cr_assert_eq(migplan_solve(&d, 0, &p), 0, "%s", err_msg());
  FILE *f = fopen("/dev/null", "w");
  cr_assert_eq(migplan_write(f, &d, &p, MIGPLAN_SLURM), ERR_RANGE);
  cr_assert(strstr(err_msg(), "names only 1 node"), "%s", err_msg());
  fclose(f);
  migplan_plan_free(&p);
}

/* ---- 7. demand files ------------------------------------------------------- */

static char *fixture(const char *name) {
  char *path;
  const char *dir = getenv("GPUOPS_FIXTURES");
  cr_assert(asprintf(&path, "%s/%s", dir ? dir : "tests/fixtures", name) > 0);
  return path;
}

Test(demand, good_files) {
  char *path = fixture("demand-h200-all.yaml");
  struct migplan_demand d;
  cr_assert_eq(migplan_demand_load(path, NULL, &d), 0, "%s", err_msg());
  cr_assert_str_eq(d.model->key, "H200");
  cr_assert_eq(d.count[pidx(d.model, 20)], 3, "profile given by NVML id");
  cr_assert_eq(d.count[pidx(d.model, 19)], 37);
  cr_assert_eq(d.gpus_per_node, 2);
  cr_assert_eq(d.n_nodes, 10);
  cr_assert_str_eq(d.nodes[9], "node-10");
  check_writers(&d, 0);
  migplan_demand_free(&d);
  free(path);
  path = fixture("demand-a100-mixed.yaml");
  cr_assert_eq(migplan_demand_load(path, NULL, &d), 0, "%s", err_msg());
  cr_assert_float_eq(d.weight[pidx(d.model, 5)], 8.0, 1e-12);
  cr_assert_eq(d.gpus_per_node, 8, "the default");
  migplan_demand_free(&d);
  free(path);
}

Test(demand, model_override) {
  char *path = fixture("demand-h200-small.yaml");
  struct migplan_demand d;
  cr_assert_eq(migplan_demand_load(path, "A100-40GB", &d), ERR_INVALID);
  cr_assert(strstr(err_msg(), "not on A100-40GB"), "%s", err_msg());
  cr_assert_eq(migplan_demand_load(path, "H300", &d), ERR_INVALID);
  cr_assert(strstr(err_msg(), "unknown GPU model"), "%s", err_msg());
  free(path);
}

static void bad(const char *name, int code, const char *line_field, const char *words) {
  char *path = fixture(name);
  struct migplan_demand d;
  cr_assert_eq(migplan_demand_load(path, NULL, &d), code, "%s: %s", name, err_msg());
  cr_assert(strstr(err_msg(), name), "%s: message lacks the file: %s", name, err_msg());
  cr_assert(strstr(err_msg(), line_field), "%s: want '%s' in: %s", name, line_field, err_msg());
  cr_assert(strstr(err_msg(), words), "%s: want '%s' in: %s", name, words, err_msg());
  cr_assert_null(d.nodes);
  free(path);
}

Test(demand, bad_files_name_file_line_field) {
  bad("demand-bad-unknown-profile.yaml", ERR_INVALID, ":4: demand.5g.99gb", "unknown MIG profile");
  bad("demand-bad-negative.yaml", ERR_INVALID, ":4: demand.3g.71gb", "negative");
  bad("demand-bad-wrong-model.yaml", ERR_INVALID, ":4: demand.1g.18gb", "not on A100-40GB");
  bad("demand-bad-unknown-key.yaml", ERR_INVALID, ":3: gpu_per_node", "unknown key");
  bad("demand-bad-syntax.yaml", ERR_PARSE, ":3:", "YAML syntax error");
  bad("demand-bad-empty.yaml", ERR_INVALID, ":2: demand", "nothing to plan");
  bad("demand-bad-duplicate-node.yaml", ERR_INVALID, ":5: nodes[1]", "listed twice");
  bad("demand-bad-weight.yaml", ERR_INVALID, ":3: weights.7g.141gb", "out of range");
  bad("no-such-demand.yaml", ERR_IO, "no-such-demand.yaml", "cannot open");
}

/* ---- 8. the command -------------------------------------------------------- */

static char tmp[256];
static void cli_setup(void) { testutil_tmpdir(tmp, sizeof tmp, "migplan"); }
static void cli_teardown(void) { testutil_rmrf(tmp); }

struct run {
  int status;
  char *out, *err;
};

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  int c;
  while ((c = fgetc(f)) != EOF) fputc(c, m);
  fclose(m);
  fclose(f);
  return buf;
}

static struct run run(const char *args) {
  char cmd[2048];
  const char *bin = getenv("GPUOPS_BIN");
  cr_assert_not_null(bin, "GPUOPS_BIN is not set");
  snprintf(cmd, sizeof cmd, "cd %s && %s fleet mig-plan %s >%s/out 2>%s/err", tmp, bin, args, tmp,
           tmp);
  int st = system(cmd);
  char p[300];
  struct run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128, NULL, NULL};
  snprintf(p, sizeof p, "%s/out", tmp);
  r.out = slurp(p);
  snprintf(p, sizeof p, "%s/err", tmp);
  r.err = slurp(p);
  return r;
}

static void run_free(struct run *r) { free(r->out), free(r->err); }

/* The fleet dispatcher is another module's: until it routes mig-plan, skip (fail under CI). */
static void need_command(void) {
  struct run r = run("--help");
  bool ready = r.status == 0 && strstr(r.out, "--demand");
  run_free(&r);
  if (!ready) TEST_SKIP_OR_FAIL("`gpuops fleet mig-plan` is not wired into `gpuops fleet` yet");
}

TestSuite(cli, .init = cli_setup, .fini = cli_teardown);

Test(cli, formats_and_output_file) {
  need_command();
  char *path = fixture("demand-h200-small.yaml"), args[600];
  snprintf(args, sizeof args, "--demand %s --format mig-parted -o plan.yaml", path);
  struct run r = run(args);
  cr_assert_eq(r.status, 0, "%s", r.err);
  run_free(&r);
  char out[300];
  snprintf(out, sizeof out, "%s/plan.yaml", tmp);
  char *text = slurp(out);
  struct migplan_demand d;
  struct migplan_plan p;
  cr_assert_eq(migplan_demand_load(path, NULL, &d), 0, "%s", err_msg());
  cr_assert_eq(migplan_solve(&d, 0, &p), 0);
  check_mig_parted(&d, &p, text);
  free(text);
  snprintf(args, sizeof args, "--demand %s --format slurm", path);
  r = run(args);
  cr_assert_eq(r.status, 0, "%s", r.err);
  check_slurm(&d, &p, r.out);
  run_free(&r);
  snprintf(args, sizeof args, "--demand %s --format json --gpus 3", path);
  r = run(args);
  cr_assert_eq(r.status, 0, "%s", r.err);
  json_t *j = json_loads(r.out, 0, NULL);
  cr_assert_not_null(j, "%s", r.out);
  cr_assert_eq(json_integer_value(json_object_get(j, "gpus")), 3);
  cr_assert(json_is_true(json_object_get(j, "fixed_gpus")));
  json_decref(j);
  run_free(&r);
  snprintf(args, sizeof args, "--demand %s", path);
  r = run(args);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "lower bound 4 (optimal)"), "%s", r.out);
  run_free(&r);
  migplan_plan_free(&p);
  migplan_demand_free(&d);
  free(path);
}

Test(cli, bad_input_exits_2_with_a_clear_message) {
  need_command();
  char *path = fixture("demand-bad-wrong-model.yaml"), args[600];
  snprintf(args, sizeof args, "--demand %s", path);
  struct run r = run(args);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "demand-bad-wrong-model.yaml:4: demand.1g.18gb"), "%s", r.err);
  run_free(&r);
  free(path);
  path = fixture("demand-bad-negative.yaml");
  snprintf(args, sizeof args, "--demand %s", path);
  r = run(args);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "negative"), "%s", r.err);
  run_free(&r);
  free(path);
  path = fixture("demand-h200-small.yaml");
  snprintf(args, sizeof args, "--demand %s --format yaml", path);
  r = run(args);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "--format"), "%s", r.err);
  run_free(&r);
  r = run("--format json");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "--demand"), "%s", r.err);
  run_free(&r);
  free(path);
  path = fixture("demand-bad-nodes.yaml");
  snprintf(args, sizeof args, "--demand %s --format slurm", path);
  r = run(args);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "names only 1 node"), "%s", r.err);
  run_free(&r);
  free(path);
}
