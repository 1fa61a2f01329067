/*
 * point.h — one measured load point of a sweep, an SLA search or a tuning
 * run: the offered load (a rate or a concurrency), what came back
 * (throughput, corrected and uncorrected latency percentiles, errors,
 * stability), and whether it met the SLA. Small and flat, so searches keep a
 * table of every point they tried and reports and charts read it.
 *
 * Sections: the point, from a run, output.
 * Threads: plain data; functions keep no state.
 */
#ifndef GPUOPS_LOAD_POINT_H
#define GPUOPS_LOAD_POINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/table.h"
#include "load/loadgen.h"

/* --- the point --- */

/* The percentiles every point carries, in this order. */
#define LOAD_POINT_PCTS {50, 90, 95, 99, 99.9}
enum { LOAD_POINT_N_PCTS = 5 };

struct load_point {
  double load;       /* offered: requests/s (open loop) or concurrency (closed) */
  double throughput; /* answers per second over the summary windows */
  int64_t pct_ns[LOAD_POINT_N_PCTS];    /* corrected latency at LOAD_POINT_PCTS */
  int64_t uncorr_ns[LOAD_POINT_N_PCTS]; /* uncorrected, same percentiles */
  double mean_ns;                       /* corrected mean */
  int64_t sla_ns;       /* the SLA's percentile over the summary windows (0 without SLA) */
  int64_t sla_worst_ns; /* the worst single summary window at that percentile */
  uint64_t ok, errors;  /* answers, failed requests (summary windows) */
  bool stable;          /* the stability rule held (always true when not windowed) */
  bool meets;           /* judged by sla_judge (false without an SLA) */
  char label[64];       /* tuner: the server configuration; "" otherwise */
};

/* --- from a run --- */

/*
 * Fill *p from a finished run; sla_pct (0 for none) names the percentile
 * whose merged and worst-window values go to sla_ns / sla_worst_ns.
 */
void load_point_of(const struct load_result *r, double sla_pct, struct load_point *p);

/* --- output --- */

/*
 * Write n points as a table (one row per point, latencies in ms), JSON
 * (load_points_json) or perf_analyzer-shaped CSV (latencies
 * in us; server-side columns 0). best (-1: none) is marked in the table's
 * "sla" column. Returns 0, ERR_NOMEM or ERR_IO.
 */
int load_points_write(FILE *out, const struct load_point *pts, int n, enum load_mode mode,
                      int best, bool with_sla, enum table_format fmt);

/* The points as a JSON array (latencies in us); a new reference. */
json_t *load_points_json(const struct load_point *pts, int n, enum load_mode mode, bool with_sla);

/* perf_analyzer's -f header line for the mode, then one row per point (used by both outputs). */
void load_points_csv(FILE *out, const struct load_point *pts, int n, enum load_mode mode);

#endif
