/*
 * simstate.h — the simulated fleet's injected faults, kept in a small JSON
 * state file so that every process (a Slurm health check started every few
 * seconds, the exporter, `gpuops devices`) sees the same fleet.
 *
 * `gpuops sim inject` appends a fault; `gpuops sim clear` removes faults.
 * Writers take an exclusive flock on "<path>.lock" and replace the file by
 * rename, so readers never see a half-written file.
 */
#ifndef GPUOPS_GPU_SIMSTATE_H
#define GPUOPS_GPU_SIMSTATE_H

#include <stdint.h>

/* X(ENUM, name used on the command line and in the file) */
#define SIM_FAULTS(X)                        \
  X(XID, "xid")                              \
  X(ECC_UNCORRECTABLE, "ecc-uncorrectable")  \
  X(ROW_REMAP_FAILURE, "row-remap-failure")  \
  X(THERMAL, "thermal")                      \
  X(FALLEN_OFF_BUS, "fall-off-bus")          \
  X(RECOVERY_ACTION, "recovery-action")

enum sim_fault_kind {
#define SIM_FAULT_ENUM(e, name) SIM_FAULT_##e,
  SIM_FAULTS(SIM_FAULT_ENUM)
#undef SIM_FAULT_ENUM
      SIM_FAULT_COUNT
};

struct sim_fault {
  char node[64];            /* node name in the inventory */
  int gpu;                  /* GPU index on that node */
  enum sim_fault_kind kind;
  int64_t value;            /* XID number; ECC error count; recovery action (enum gpu_recovery_action); else 0 */
  int64_t t_ns;             /* wall time it was injected */
};

const char *sim_fault_name(enum sim_fault_kind k);
/* "xid" -> SIM_FAULT_XID; returns 0 or ERR_INVALID (message lists the names). */
int sim_fault_parse(const char *name, enum sim_fault_kind *out);

/*
 * The state file: $GPUOPS_SIM_STATE if set, else $XDG_STATE_HOME/gpuops/sim-state.json,
 * else $HOME/.local/state/gpuops/sim-state.json, else /tmp/gpuops-sim-state-<uid>.json.
 * Returns a pointer to static storage.
 */
const char *simstate_default_path(void);

/*
 * Read every fault from path. A missing file is an empty state (0 faults).
 * Caller frees *out with free(). ERR_PARSE (naming the file) when corrupt.
 */
int simstate_load(const char *path, struct sim_fault **out, int *n);
/* Append one fault (creating the file and its folder when needed). */
int simstate_add(const char *path, const struct sim_fault *f);
/* Remove faults: node NULL = every node; gpu < 0 = every GPU of the matched nodes. *removed gets the count (may be NULL). */
int simstate_clear(const char *path, const char *node, int gpu, int *removed);

#endif
