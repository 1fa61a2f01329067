/*
 * sla.h — latency SLAs ("p99=50ms") and the SLA search: the highest load (a
 * request rate or a concurrency, on a grid a:b:step) whose measurement meets
 * the SLA, found by bracketing (doubling the load from the lowest) then a
 * binary search between the last load that met it and the first that missed.
 *
 * The search is a pure function over a "measure(load) -> point" callback, so
 * it is tested with synthetic latency curves; the load generator, a sweep or
 * the tuner supply the real callback. It assumes latency grows with load; on
 * a noisy curve it returns a load that met the SLA next to one that missed.
 *
 * Sections: SLAs, judging a point, the search.
 * Threads: no shared state; the callback runs on the calling thread.
 */
#ifndef GPUOPS_LOAD_SLA_H
#define GPUOPS_LOAD_SLA_H

#include <stdbool.h>
#include <stdint.h>

#include "load/point.h"
#include "load/range.h"

/* --- SLAs --- */

struct sla {
  double percentile; /* 50, 90, 95, 99 or 99.9 */
  int64_t limit_ns;  /* the latency that percentile must not exceed */
};

/*
 * Parse "p99=50ms" (p50, p90, p95, p99, p99.9; a number with unit us, ms or
 * s). Returns 0 or ERR_INVALID with a message saying what is wrong and the
 * accepted form.
 */
int sla_parse(const char *s, struct sla *out);
/* "p99<=50ms" into buf (always terminated). */
void sla_format(const struct sla *s, char *buf, int len);

/* --- judging a point --- */

/*
 * A point meets the SLA when no request failed and its percentile over the
 * summary windows is within the limit; an unstable point must also meet it in
 * every one of its summary windows, so noise cannot flatter it. Sets p->meets
 * and returns it.
 */
bool sla_judge(const struct sla *s, struct load_point *p);

/* --- the search --- */

/* Measure load, filling *p (sla_ns, sla_worst_ns, errors, stable...). 0 or a negative code. */
typedef int (*sla_measure_fn)(void *ctx, double load, struct load_point *p);

struct sla_result {
  struct load_point *points; /* every point tried, in the order tried (malloc'ed) */
  int n;
  int best; /* index into points of the highest load that met the SLA; -1: none did */
};

/*
 * Search range r for the highest grid load meeting s: measure the lowest
 * load (if it misses, best = -1 and the search stops), then double the load
 * until one misses or the top of the range meets, then bisect on the grid
 * until the last load that met and the first that missed are neighbours.
 * No load is measured twice. Returns 0 (also when none met: check best), or
 * the callback's error (points so far kept). Free with sla_result_free.
 */
int sla_search(const struct sla *s, const struct load_range *r, sla_measure_fn measure, void *ctx,
               struct sla_result *out);
void sla_result_free(struct sla_result *res);

#endif
