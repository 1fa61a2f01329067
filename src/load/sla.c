/*
 * sla.c — SLA strings, judging a point, and the bracketing + binary SLA
 * search over a grid of loads (sla.h).
 *
 * Sections: SLAs, judging a point, the search.
 */
#include "load/sla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* --- SLAs --- */

static const double SLA_PCTS[] = {50, 90, 95, 99, 99.9};

static int parse_limit(const char *v, const char *whole, int64_t *ns) {
  char *unit;
  double x = strtod(v, &unit);
  double scale = !strcmp(unit, "us") ? 1e3 : !strcmp(unit, "ms") ? 1e6 : !strcmp(unit, "s") ? 1e9 : 0;
  if (unit == v || !scale)
    return err_set(ERR_INVALID, "--sla '%s': '%s' is not a latency with a unit (e.g. 50ms, 800us, 1s)",
                   whole, v);
  if (!(x > 0) || x * scale > 3.6e12)
    return err_set(ERR_INVALID, "--sla '%s': the latency must be > 0 and at most 1 hour", whole);
  *ns = (int64_t)llround(x * scale);
  return 0;
}

int sla_parse(const char *s, struct sla *out) {
  const char *eq = strchr(s, '=');
  char stat[16];
  if (!eq || eq == s || (size_t)(eq - s) >= sizeof stat)
    return err_set(ERR_INVALID, "--sla '%s' is not PERCENTILE=LATENCY (e.g. p99=50ms)", s);
  memcpy(stat, s, (size_t)(eq - s));
  stat[eq - s] = 0;
  char *end;
  double p = stat[0] == 'p' ? strtod(stat + 1, &end) : -1;
  bool known = false;
  for (size_t i = 0; p > 0 && !*end && i < sizeof SLA_PCTS / sizeof *SLA_PCTS; i++)
    known |= p == SLA_PCTS[i];
  if (!known)
    return err_set(ERR_INVALID, "--sla '%s': '%s' is not one of p50, p90, p95, p99, p99.9", s,
                   stat);
  out->percentile = p;
  return parse_limit(eq + 1, s, &out->limit_ns);
}

void sla_format(const struct sla *s, char *buf, int len) {
  double ns = (double)s->limit_ns;
  if (ns >= 1e9 && fmod(ns, 1e9) == 0)
    snprintf(buf, (size_t)len, "p%g<=%gs", s->percentile, ns / 1e9);
  else if (ns >= 1e6)
    snprintf(buf, (size_t)len, "p%g<=%gms", s->percentile, ns / 1e6);
  else
    snprintf(buf, (size_t)len, "p%g<=%gus", s->percentile, ns / 1e3);
}

/* --- judging a point --- */

bool sla_judge(const struct sla *s, struct load_point *p) {
  p->meets = p->errors == 0 && p->ok > 0 && p->sla_ns <= s->limit_ns &&
             (p->stable || p->sla_worst_ns <= s->limit_ns);
  return p->meets;
}

/* --- the search --- */

struct search {
  const struct sla *s;
  const struct load_range *r;
  sla_measure_fn measure;
  void *ctx;
  struct sla_result *out;
  int cap;
};

/* Measure grid point i, append it to the table, judge it. 1 met, 0 missed, < 0 error. */
static int try_point(struct search *g, int i) {
  struct sla_result *o = g->out;
  if (o->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 16;
    struct load_point *np = realloc(o->points, (size_t)cap * sizeof *np);
    if (!np) return err_set(ERR_NOMEM, "sla search: out of memory for %d points", cap);
    o->points = np, g->cap = cap;
  }
  struct load_point *p = &o->points[o->n];
  memset(p, 0, sizeof *p);
  double load = load_range_at(g->r, i);
  int rc = g->measure(g->ctx, load, p);
  if (rc < 0) return rc;
  p->load = load;
  o->n++;
  return sla_judge(g->s, p) ? 1 : 0;
}

/* The grid index of about twice grid point i, at least i + 1, at most the last. */
static int doubled(const struct load_range *r, int i, int n) {
  double want = 2 * load_range_at(r, i);
  int j = (int)floor((want - r->lo) / r->step + 1e-9);
  if (j <= i) j = i + 1;
  return j < n ? j : n - 1;
}

int sla_search(const struct sla *s, const struct load_range *r, sla_measure_fn measure, void *ctx,
               struct sla_result *out) {
  memset(out, 0, sizeof *out);
  out->best = -1;
  struct search g = {s, r, measure, ctx, out, 0};
  int n = load_range_count(r), good = 0, bad = n, rc;
  int best_pt = -1; /* index into out->points of the best grid point */
  if ((rc = try_point(&g, 0)) <= 0) return rc;
  best_pt = out->n - 1;
  while (good < n - 1) { /* bracketing: double until a miss or the top */
    int j = doubled(r, good, n);
    if ((rc = try_point(&g, j)) < 0) goto out;
    if (!rc) {
      bad = j;
      break;
    }
    good = j, best_pt = out->n - 1;
  }
  while (bad - good > 1) { /* bisection on the grid between the last met and the first missed */
    int mid = good + (bad - good) / 2;
    if ((rc = try_point(&g, mid)) < 0) goto out;
    if (rc)
      good = mid, best_pt = out->n - 1;
    else
      bad = mid;
  }
  rc = 0;
out:
  out->best = best_pt;
  return rc < 0 ? rc : 0;
}

void sla_result_free(struct sla_result *res) {
  free(res->points);
  memset(res, 0, sizeof *res);
  res->best = -1;
}
