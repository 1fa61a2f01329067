/*
 * sim_exec.h — the `sim` executor: a simulated fleet built from an inventory,
 * kept in a small JSON state file so that separate processes (a rollout
 * killed with SIGKILL and the one that resumes it, remediation, a test)
 * share one fleet. Every call takes an exclusive flock on "<file>.lock",
 * lets simulated time advance (jobs end, upgrades finish), applies its change
 * and replaces the file by rename.
 *
 * Per node the file holds: admin state (drained by whom, why), down,
 * rebooting-until, installed driver/firmware, running jobs and when they end,
 * injected failures, and counters the tests check: upgrades issued per node
 * and the most nodes ever seen out of service at once.
 *
 * What a node does is set by inventory labels, read when the state file is
 * created (timings in milliseconds, so tests run fast):
 *   sim.jobs: N           jobs running at the start (default 0)
 *   sim.drain_ms: T       jobs end T ms after the node is cordoned; -1 never (default 0)
 *   sim.upgrade_ms: T     an upgrade/reboot takes T ms (default options.upgrade_ms)
 *   sim.upgrade: fail     the upgrade fails: the node comes back DOWN, old version
 *   sim.validate: fail    the health check never passes on this node
 * A node whose inventory state is "drain" starts drained by a person
 * (reason "maintenance (set by a person)"); "down" starts down.
 * Faults injected with `gpuops sim inject` (gpu/simstate.h) make a node unhealthy.
 */
#ifndef GPUOPS_MAINT_SIM_EXEC_H
#define GPUOPS_MAINT_SIM_EXEC_H

#include <jansson.h>

#include "inventory/inventory.h"
#include "maint/executor.h"

struct sim_exec_options {
  const char *state_path; /* NULL: $GPUOPS_SIM_FLEET, else ~/.local/state/gpuops/sim-fleet.json */
  int upgrade_ms;         /* default time an upgrade takes (label sim.upgrade_ms wins); <0 = 20 */
};

/* The state file used when options give none (static storage). */
const char *sim_exec_default_path(void);

/*
 * Open the sim executor over inv. Creates the state file from inv when it
 * does not exist (nodes added to inv later are added to the file). inv is
 * only read during the call. Returns 0, ERR_IO/ERR_PARSE naming the file, or
 * ERR_INVALID for bad sim.* labels. Close with e->ops->close(e).
 */
int sim_exec_open(struct executor *e, const struct inventory *inv,
                  const struct sim_exec_options *o);

/* Drain a node as a person would (reason without the gpuops prefix). Tests and demos. */
int sim_exec_human_drain(struct executor *e, const char *node, const char *reason);

/*
 * The whole state file as JSON (new reference in *out, caller decrefs):
 * {"max_out_of_service": N, "nodes": {name: {..., "upgrades": N}}}.
 */
int sim_exec_report(const char *state_path, json_t **out);

#endif
