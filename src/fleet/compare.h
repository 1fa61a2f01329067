/*
 * compare.h — several policies x several seeds on one world, summarised as
 * mean and standard deviation per policy (the paper's table), with the mean
 * allocation-vs-arrival curve of each policy for the chart (chart.h).
 *
 * Ownership: a comparison owns its rows and curves; free with
 * fleet_compare_free. Sections: results; running; output.
 */
#ifndef GPUOPS_FLEET_COMPARE_H
#define GPUOPS_FLEET_COMPARE_H

#include <jansson.h>

#include "base/table.h"
#include "fleet/sim.h"

/* ---- 1. results ---------------------------------------------------------- */

struct fleet_stat {
  double mean, sd; /* over seeds (sd: population, 0 for one seed) */
};

struct fleet_compare_row {
  char policy[32];
  const char *paper; /* the ATC'23 artifact's name, or NULL */
  int runs;
  struct fleet_stat unalloc_100;     /* idle GPUs when the arrived request reached 100% */
  struct fleet_stat unalloc_end;     /* idle GPUs at the end (the arrival target) */
  struct fleet_stat alloc_ratio;     /* allocated / capacity at the end */
  struct fleet_stat frag_ratio;      /* fragmentation / idle at the end */
  struct fleet_stat wall_s;          /* one run's time */
  struct fleet_stat per_s;           /* placement decisions per second */
  struct fleet_stat decision_p99_us; /* when latencies were recorded */
  double *curve;                     /* owned: mean allocation ratio at arrival = i * step */
};

struct fleet_compare {
  int n_rows;
  struct fleet_compare_row *rows; /* owned */
  int n_curve;                    /* points per curve */
  double curve_step;              /* arrival ratio between points */
  double arrival;                 /* target arrival ratio */
  double capacity_gpus;
  int seeds;
  uint64_t seed0;
  double wall_s; /* the whole comparison */
};

void fleet_compare_free(struct fleet_compare *cmp);

/* ---- 2. running ---------------------------------------------------------- */

/*
 * Run each of n policies with seeds seed0 .. seed0 + seeds - 1 in paper mode
 * (base gives arrival, curve step, ties, latency recording; its policy, seed
 * and mode are overridden). Returns 0 with *out filled, or the first run's
 * error (unknown policy, ...).
 */
int fleet_compare_run(struct fleet_sim *s, const char *const *policies, int n, uint64_t seed0,
                      int seeds, const struct fleet_sim_config *base, struct fleet_compare *out);

/* ---- 3. output ----------------------------------------------------------- */

/* The table: policy, paper name, unallocated GPUs at 100% and at the end (mean ± sd), ... */
struct table *fleet_compare_table(const struct fleet_compare *cmp);
/* Everything as JSON (new reference); curves when with_curves. */
json_t *fleet_compare_json(const struct fleet_compare *cmp, bool with_curves);

#endif
