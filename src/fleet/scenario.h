/*
 * scenario.h — contention scenarios: small hand-built fleets and workloads
 * replayed with the simulator's invariant checks on, each asserting an
 * invariant rather than only reporting a number.
 *
 *   priority-burst   a burst of high-priority tasks on a full cluster: each
 *                    starts at once (no priority inversion), only lower
 *                    priorities are evicted, exactly as many evictions as
 *                    GPUs needed, every evicted task restarts and finishes
 *   tenant-quota     two tenants asking for more than their caps: neither
 *                    ever holds more than its cap; with fair share the GPU
 *                    time splits by weight once both queue (and without it
 *                    it does not)
 *   node-failure     a node fails mid-replay and comes back: its tasks are
 *                    requeued and finish exactly once, the down node runs
 *                    nothing, a drained node takes nothing new, nothing is
 *                    lost or placed twice
 *   gang             gangs are placed all or nothing: one that cannot fit
 *                    never runs in part, one that fits starts whole, one hit
 *                    by a node failure stops and restarts whole
 *   mig-fragmentation  a MIG mix that fits only if slots are chosen well:
 *                    the lowest-free-start rule strands it, the MIG planner's
 *                    chooser (fleet/migplan.h) places all of it, every layout
 *                    stays valid
 *
 * Sections: results; running.
 */
#ifndef GPUOPS_FLEET_SCENARIO_H
#define GPUOPS_FLEET_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>

#define FLEET_SCENARIO_CHECKS 16

/* ---- 1. results ---------------------------------------------------------- */

struct fleet_scenario_check {
  bool ok;
  char what[200]; /* the invariant, with the numbers that decided it */
};

struct fleet_scenario_result {
  char name[32];
  char about[160];
  bool passed; /* every check ok */
  int n_checks;
  struct fleet_scenario_check checks[FLEET_SCENARIO_CHECKS];
  double wall_s;
};

/* The result as JSON (new reference). */
json_t *fleet_scenario_json(const struct fleet_scenario_result *r);

/* ---- 2. running ---------------------------------------------------------- */

/* The scenario names, in the order above; *n gets their number. */
const char *const *fleet_scenario_names(int *n);

/*
 * Run scenario `name` with `policy` (NULL: fgd-cpu; the MIG scenario's
 * verdict does not depend on it). Returns 0 with *out filled (passed or
 * not), or ERR_NOTFOUND (unknown name, the message lists them) / another
 * negative code when the scenario could not run (a broken invariant inside
 * the simulator is reported as a failed check, not an error).
 */
int fleet_scenario_run(const char *name, const char *policy, struct fleet_scenario_result *out);

#endif
