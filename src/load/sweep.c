/*
 * sweep.c — one load_run per load point (sweep.h).
 *
 * Sections: the measurer, sweeps.
 */
#include "load/sweep.h"

#include <stdlib.h>

#include "base/err.h"

/* --- the measurer --- */

int load_sweep_measure(void *ctx, double load, struct load_point *p) {
  struct load_sweep *s = ctx;
  struct load_config c = *s->base;
  if (c.mode == LOAD_OPEN)
    c.rate = load;
  else
    c.concurrency = (int)load;
  struct load_result r;
  int rc = load_run(&c, &r);
  if (rc == 0) {
    load_point_of(&r, s->sla_pct, p);
    p->load = load;
    rc = load_result_reachable(&r, c.url);
  }
  load_result_free(&r);
  if (rc == 0 && s->progress)
    fprintf(s->progress, "load: %s %g: %.1f req/s, p50 %.3f ms, p99 %.3f ms%s%s\n",
            c.mode == LOAD_OPEN ? "rate" : "concurrency", load, p->throughput, p->pct_ns[0] / 1e6,
            p->pct_ns[3] / 1e6, p->errors ? ", errors" : "", p->stable ? "" : ", not stable");
  return rc;
}

/* --- sweeps --- */

int load_sweep_run(struct load_sweep *s, const struct load_range *r, struct load_point **pts,
                   int *n) {
  int count = load_range_count(r), rc = 0;
  *n = 0;
  *pts = calloc((size_t)count, sizeof **pts);
  if (!*pts) return err_set(ERR_NOMEM, "sweep: out of memory for %d points", count);
  for (int i = 0; i < count && rc == 0; i++) {
    rc = load_sweep_measure(s, load_range_at(r, i), &(*pts)[i]);
    if (rc == 0) (*n)++;
  }
  return rc;
}
