/*
 * sweep.h — measuring loads one after the other with the load generator:
 * every point of a range (a sweep), or the points an SLA search asks for.
 * Each point is one windowed run of load_run with the base configuration's
 * settings and the point's rate (open loop) or concurrency (closed loop).
 *
 * Sections: the measurer, sweeps.
 * Threads: one sweep per thread; points run one at a time.
 */
#ifndef GPUOPS_LOAD_SWEEP_H
#define GPUOPS_LOAD_SWEEP_H

#include <stdio.h>

#include "load/point.h"
#include "load/range.h"

/* --- the measurer --- */

struct load_sweep {
  const struct load_config *base; /* every field but rate/concurrency (not copied) */
  double sla_pct;                 /* percentile for load_point's sla_ns (0: none) */
  FILE *progress;                 /* a line per point as it is measured (NULL: quiet) */
};

/*
 * Measure one load: a load_run of base at this rate or concurrency, into *p.
 * Matches sla_measure_fn (ctx is a struct load_sweep *). Returns 0,
 * ERR_UNREACHABLE when no request got an answer because nothing accepted the
 * connection (the server is not there: measuring more loads is pointless),
 * or load_run's error.
 */
int load_sweep_measure(void *ctx, double load, struct load_point *p);

/* --- sweeps --- */

/*
 * Measure every load of r in order into *pts (malloc'ed, caller frees; *n
 * of them, also after an error: the points measured so far). Returns 0 or the
 * first error of load_sweep_measure.
 */
int load_sweep_run(struct load_sweep *s, const struct load_range *r, struct load_point **pts,
                   int *n);

#endif
