/*
 * executor.h — how maintenance acts on nodes: one interface, several engines
 * (sim: the simulated fleet; slurm: scontrol/squeue/sinfo; Kubernetes is the
 * documented next one). Rollouts and remediation only ever touch nodes
 * through this table, and every decision starts from observe(): the node's
 * state as the engine sees it, never gpuops' own bookkeeping alone.
 *
 * All calls return 0 or a negative code from base/err.h with err_msg() set.
 * Calls that change a node are idempotent (cordoning a cordoned node is 0), so
 * a resumed rollout may repeat the step that was in flight.
 */
#ifndef GPUOPS_MAINT_EXECUTOR_H
#define GPUOPS_MAINT_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "inventory/inventory.h"

enum node_state {
  NODE_STATE_UP = 0,    /* schedulable, in service */
  NODE_STATE_CORDONED,  /* no new work (Slurm: DRAINING with jobs / DRAIN set) */
  NODE_STATE_DRAINED,   /* no new work and no running work (Slurm: DRAINED) */
  NODE_STATE_REBOOTING, /* reboot or upgrade in progress */
  NODE_STATE_DOWN,      /* not responding / failed */
  NODE_STATE_UNKNOWN,
};
const char *node_state_name(enum node_state s);

/* What the engine reports about one node right now. */
struct node_observation {
  char name[INV_NAME_MAX];
  enum node_state state;
  bool out_of_service;   /* counts against max-unavailable (cordoned, drained, rebooting, down) */
  char reason[256];      /* drain/down reason as the engine holds it; "" if none */
  bool reason_is_gpuops; /* the reason was set by gpuops (prefix "gpuops:"), not a human */
  char driver_version[INV_VERSION_MAX];   /* installed now; "" unknown */
  char firmware_version[INV_VERSION_MAX]; /* installed now; "" unknown */
  int running_jobs;                       /* jobs/pods running on it; -1 unknown */
  bool healthy; /* last health verdict the engine can see (sim: faults; slurm: gpuops health) */
};

enum upgrade_kind { UPGRADE_DRIVER = 0, UPGRADE_FIRMWARE = 1 };

struct executor;
struct executor_ops {
  const char *name; /* "sim", "slurm" */
  int (*observe)(struct executor *e, const char *node, struct node_observation *out);
  /* Stop new work; reason is stored with the "gpuops: " prefix. */
  int (*cordon)(struct executor *e, const char *node, const char *reason);
  /* Return to service (only ever undoes a gpuops reason unless force). */
  int (*uncordon)(struct executor *e, const char *node, bool force);
  /* The executor's upgrade action: install `version` of `kind` (may reboot). */
  int (*upgrade)(struct executor *e, const char *node, enum upgrade_kind kind, const char *version);
  int (*reset_gpu)(struct executor *e, const char *node, int gpu);
  int (*reboot)(struct executor *e, const char *node);
  /* Run gpuops' health check on the node: 0 and *healthy set, or an error (unknown). */
  int (*validate)(struct executor *e, const char *node, bool *healthy);
  void (*close)(struct executor *e);
  /* Added by the rollout (optional, NULL = not supported): end or requeue the
   * work still running on a cordoned node (Slurm: scontrol requeue/cancel; the
   * GPU Operator's pod eviction). Called only after wait-for-jobs timed out. */
  int (*evict)(struct executor *e, const char *node);
};

struct executor {
  const struct executor_ops *ops;
  void *priv;
  bool dry_run; /* log what would change, change nothing */
};

#endif
