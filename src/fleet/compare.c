/*
 * compare.c — policies x seeds, summarised (see compare.h).
 *
 * Sections: statistics and curves; running; output.
 */
#include "fleet/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/timeutil.h"
#include "fleet/policy.h"

/* ---- 1. statistics and curves -------------------------------------------- */

/* Running sums for one statistic. */
struct acc {
  double sum, sq;
  int n;
};

static void acc_add(struct acc *a, double v) {
  if (!isfinite(v)) return;
  a->sum += v;
  a->sq += v * v;
  a->n++;
}

static struct fleet_stat acc_stat(const struct acc *a) {
  if (a->n == 0) return (struct fleet_stat){NAN, NAN};
  double m = a->sum / a->n, var = a->sq / a->n - m * m;
  return (struct fleet_stat){m, var > 0 ? sqrt(var) : 0};
}

/* Allocation at arrival x on a run's curve (piecewise linear; flat past its end). */
static double curve_at(const struct fleet_sim_result *r, double x) {
  if (r->n_curve == 0) return 0;
  if (x <= r->curve[0].arrived)
    return r->curve[0].allocated * (r->curve[0].arrived > 0 ? x / r->curve[0].arrived : 1);
  for (int i = 1; i < r->n_curve; i++) {
    const struct fleet_curve_point *a = &r->curve[i - 1], *b = &r->curve[i];
    if (x <= b->arrived) {
      double span = b->arrived - a->arrived;
      return span > 0 ? a->allocated + (b->allocated - a->allocated) * (x - a->arrived) / span
                      : b->allocated;
    }
  }
  return r->curve[r->n_curve - 1].allocated;
}

void fleet_compare_free(struct fleet_compare *cmp) {
  if (!cmp) return;
  for (int i = 0; i < cmp->n_rows; i++) free(cmp->rows[i].curve);
  free(cmp->rows);
  memset(cmp, 0, sizeof *cmp);
}

/* ---- 2. running ---------------------------------------------------------- */

static int run_policy(struct fleet_sim *s, const char *policy, uint64_t seed0, int seeds,
                      const struct fleet_sim_config *base, struct fleet_compare *cmp,
                      struct fleet_compare_row *row) {
  struct acc u100 = {0}, uend = {0}, alloc = {0}, frag = {0}, wall = {0}, p99 = {0}, rate = {0};
  snprintf(row->policy, sizeof row->policy, "%s", policy);
  row->paper = fleet_policy_find(policy) ? fleet_policy_find(policy)->paper : NULL;
  row->curve = calloc((size_t)cmp->n_curve, sizeof *row->curve);
  if (!row->curve) return err_set(ERR_NOMEM, "out of memory (curves)");
  for (int k = 0; k < seeds; k++) {
    struct fleet_sim_config cfg = *base;
    struct fleet_sim_result r;
    cfg.mode = FLEET_MODE_PAPER;
    cfg.policy = policy;
    cfg.seed = seed0 + (uint64_t)k;
    int rc = fleet_sim_run(s, &cfg, &r);
    if (rc) return rc;
    acc_add(&u100, r.unalloc_at_100);
    acc_add(&uend, r.unalloc_at_end);
    acc_add(&alloc, r.alloc_ratio);
    acc_add(&frag, r.frag_ratio);
    acc_add(&wall, r.wall_s);
    acc_add(&rate, r.wall_s > 0 ? r.decisions / r.wall_s : NAN);
    acc_add(&p99, r.decision_p99_us);
    for (int i = 0; i < cmp->n_curve; i++)
      row->curve[i] += curve_at(&r, i * cmp->curve_step) / seeds;
    fleet_sim_result_free(&r);
  }
  row->runs = seeds;
  row->unalloc_100 = acc_stat(&u100);
  row->unalloc_end = acc_stat(&uend);
  row->alloc_ratio = acc_stat(&alloc);
  row->frag_ratio = acc_stat(&frag);
  row->wall_s = acc_stat(&wall);
  row->per_s = acc_stat(&rate);
  row->decision_p99_us = acc_stat(&p99);
  return 0;
}

int fleet_compare_run(struct fleet_sim *s, const char *const *policies, int n, uint64_t seed0,
                      int seeds, const struct fleet_sim_config *base, struct fleet_compare *out) {
  memset(out, 0, sizeof *out);
  if (n <= 0 || seeds <= 0) return err_set(ERR_INVALID, "give at least one policy and one seed");
  out->arrival = base->arrival > 0 ? base->arrival : 1.3;
  out->curve_step = base->curve_step > 0 ? base->curve_step : 0.01;
  out->n_curve = (int)floor(out->arrival / out->curve_step + 1e-9) + 1;
  out->capacity_gpus = fleet_cluster_gpus(&s->cluster);
  out->seeds = seeds;
  out->seed0 = seed0;
  out->rows = calloc((size_t)n, sizeof *out->rows);
  if (!out->rows) return err_set(ERR_NOMEM, "out of memory (comparison)");
  int64_t t0 = time_mono_ns();
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    out->n_rows = i + 1;
    rc = run_policy(s, policies[i], seed0, seeds, base, out, &out->rows[i]);
  }
  out->wall_s = (double)(time_mono_ns() - t0) / 1e9;
  if (rc) fleet_compare_free(out);
  return rc;
}

/* ---- 3. output ----------------------------------------------------------- */

struct table *fleet_compare_table(const struct fleet_compare *cmp) {
  static const char *cols[] = {
      "policy",         "paper",      "unalloc_gpus_100", "sd_100", "unalloc_gpus_end",
      "sd_end",         "allocation", "frag_ratio",       "run_s",  "tasks_per_s",
      "decision_p99_us"};
  struct table *t = table_new(11, cols);
  for (int i = 0; t && i < cmp->n_rows; i++) {
    const struct fleet_compare_row *r = &cmp->rows[i];
    char p99[32] = "", u100[32] = "", sd100[32] = "";
    if (isfinite(r->decision_p99_us.mean))
      snprintf(p99, sizeof p99, "%.1f", r->decision_p99_us.mean);
    if (isfinite(r->unalloc_100.mean)) { /* empty when the arrivals never reached 100% */
      snprintf(u100, sizeof u100, "%.1f", r->unalloc_100.mean);
      snprintf(sd100, sizeof sd100, "%.1f", r->unalloc_100.sd);
    }
    table_add_rowf(t, "%s|%s|%s|%s|%.1f|%.1f|%.2f%%|%.3f|%.3f|%.0f|%s", r->policy,
                   r->paper ? r->paper : "", u100, sd100, r->unalloc_end.mean, r->unalloc_end.sd,
                   100 * r->alloc_ratio.mean, r->frag_ratio.mean, r->wall_s.mean, r->per_s.mean,
                   p99);
  }
  return t;
}

static json_t *stat_json(struct fleet_stat s) {
  return json_pack("{s:o,s:o}", "mean", jsonio_number(isfinite(s.mean), s.mean), "sd",
                   jsonio_number(isfinite(s.sd), s.sd));
}

json_t *fleet_compare_json(const struct fleet_compare *cmp, bool with_curves) {
  json_t *rows = json_array();
  for (int i = 0; i < cmp->n_rows; i++) {
    const struct fleet_compare_row *r = &cmp->rows[i];
    json_t *o = json_pack("{s:s,s:o,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "policy", r->policy, "paper",
                          r->paper ? json_string(r->paper) : json_null(), "runs", r->runs,
                          "unallocated_gpus_at_100", stat_json(r->unalloc_100),
                          "unallocated_gpus_at_end", stat_json(r->unalloc_end), "allocation_ratio",
                          stat_json(r->alloc_ratio), "fragmentation_ratio",
                          stat_json(r->frag_ratio), "run_s", stat_json(r->wall_s), "tasks_per_s",
                          stat_json(r->per_s), "decision_p99_us", stat_json(r->decision_p99_us));
    if (with_curves) {
      json_t *c = json_array();
      for (int k = 0; k < cmp->n_curve; k++) json_array_append_new(c, json_real(r->curve[k]));
      json_object_set_new(o, "curve", c);
    }
    json_array_append_new(rows, o);
  }
  return json_pack("{s:f,s:f,s:f,s:i,s:I,s:f,s:o}", "capacity_gpus", cmp->capacity_gpus, "arrival",
                   cmp->arrival, "curve_step", cmp->curve_step, "seeds", cmp->seeds, "seed0",
                   (json_int_t)cmp->seed0, "wall_s", cmp->wall_s, "policies", rows);
}
