/*
 * capacity.h — capacity planning by simulation: the fewest nodes of one
 * shape (GPU model, GPUs, CPU, memory) on which a workload's p99 queueing
 * delay stays under a target, found by bisection on the node count with a
 * replay at each probe.
 *
 * A probe passes when every task started and the p99 of the queueing delays
 * (start - arrival) is at most the target. The search assumes more nodes
 * never hurt (true of the delays up to the policy's noise); every probe is
 * reported so a reader can see the curve. Tasks that may not run on the
 * model (a gpu_spec without it) are left out and counted.
 *
 * Sections: spec and result; planning.
 */
#ifndef GPUOPS_FLEET_CAPACITY_H
#define GPUOPS_FLEET_CAPACITY_H

#include <jansson.h>
#include <stdbool.h>

#include "fleet/task.h"

#define FLEET_CAPACITY_PROBES 64

/* ---- 1. spec and result -------------------------------------------------- */

struct fleet_capacity_spec {
  const char *model;   /* GPU model of the nodes ("H200", "G2") */
  int gpus_per_node;   /* default 8 */
  uint32_t cpu_milli;  /* per node; default 96000 */
  uint64_t memory_mib; /* per node; default 393216 */
  bool whole_gpus;     /* GPUs not shared (fractions then cannot run) */
  double target_p99_s; /* the queueing-delay target */
  const char *policy;  /* default fgd-cpu */
  uint64_t seed;
  int max_nodes; /* search ceiling (default: enough to run everything at once) */
};

struct fleet_capacity_probe {
  int nodes;
  double p50_s, p99_s; /* queueing delay */
  int never_started;
  double mean_alloc; /* time-weighted GPU allocation */
  bool ok;           /* meets the target */
};

struct fleet_capacity_result {
  bool found;      /* some probed size met the target */
  int nodes, gpus; /* the smallest passing size */
  double target_p99_s;
  int tasks, dropped; /* tasks planned for; left out for the model */
  int n_probes;
  struct fleet_capacity_probe probes[FLEET_CAPACITY_PROBES]; /* in probing order */
  double wall_s;
};

/* ---- 2. planning --------------------------------------------------------- */

/*
 * Plan for task set ts (it needs arrival and run times). Returns 0 with *out
 * filled (found or not), or ERR_INVALID (no times, a bad spec, a task larger
 * than one node) / another negative code.
 */
int fleet_capacity_plan(const struct fleet_taskset *ts, const struct fleet_capacity_spec *spec,
                        struct fleet_capacity_result *out);

/* The result as JSON (new reference). */
json_t *fleet_capacity_json(const struct fleet_capacity_result *r,
                            const struct fleet_capacity_spec *spec);

#endif
