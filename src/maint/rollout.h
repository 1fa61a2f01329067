/*
 * rollout.h — rolling driver/firmware upgrades over a fleet: the plan (a
 * canary wave, then batches by percentage, under max-unavailable and
 * max-parallel), the per-node state machine of the NVIDIA GPU Operator, and
 * the loop that drives it through an executor with its state in the store.
 *
 * Node states (the GPU Operator's names):
 *   upgrade-required -> cordon-required -> wait-for-jobs-required (timeout)
 *   -> drain-required -> upgrade -> validation-required (health within a
 *   timeout) -> uncordon-required -> upgrade-done | upgrade-failed
 * A node leaves upgrade-required only when the disruption budget (observed
 * state, budget.h) and max-parallel allow; a wave starts when the one before
 * it is finished. More failures in a wave than its failure budget halt the
 * rollout: in-flight nodes finish, the rest stay untouched, failed nodes stay
 * drained with the reason.
 *
 * Crash safety: each transition is one store transaction; each step first
 * observes the node, so a step that was in flight when the process died is
 * resolved from what the node shows (installed version, state). The upgrade
 * action is issued only to a node that is drained, not rebooting and still on
 * the old version, so no node is upgraded twice and none is skipped.
 *
 * Fault injection for the crash test (environment): GPUOPS_ROLLOUT_CRASH_AT=N
 * kills the process with SIGKILL right after its Nth committed transition;
 * GPUOPS_ROLLOUT_CRASH_AFTER_ACTION=N right after its Nth node-changing
 * executor call returns (before the transition that follows it is committed).
 */
#ifndef GPUOPS_MAINT_ROLLOUT_H
#define GPUOPS_MAINT_ROLLOUT_H

#include <stdint.h>
#include <stdio.h>

#include "inventory/inventory.h"
#include "maint/executor.h"
#include "maint/store.h"

#define ROLLOUT_STATES(X)                             \
  X(UPGRADE_REQUIRED, "upgrade-required")             \
  X(CORDON_REQUIRED, "cordon-required")               \
  X(WAIT_FOR_JOBS_REQUIRED, "wait-for-jobs-required") \
  X(DRAIN_REQUIRED, "drain-required")                 \
  X(UPGRADE, "upgrade")                               \
  X(VALIDATION_REQUIRED, "validation-required")       \
  X(UNCORDON_REQUIRED, "uncordon-required")           \
  X(UPGRADE_DONE, "upgrade-done")                     \
  X(UPGRADE_FAILED, "upgrade-failed")

enum rollout_state {
#define ROLLOUT_STATE_ENUM(e, name) RS_##e,
  ROLLOUT_STATES(ROLLOUT_STATE_ENUM)
#undef ROLLOUT_STATE_ENUM
      RS_COUNT
};
const char *rollout_state_name(enum rollout_state s);
/* Name -> state; ERR_INVALID for an unknown name. */
int rollout_state_parse(const char *name, enum rollout_state *out);

/* What the user asks for. Strings are borrowed. */
struct rollout_options {
  enum upgrade_kind kind;
  const char *target;          /* version to install (required) */
  const char *nodes;           /* comma-separated subset of the fleet; NULL = every node */
  const char *max_unavailable; /* "1" or "25%" (default "1") */
  int max_parallel;            /* 0 = as many as max-unavailable allows (default 1) */
  int canary;                  /* nodes in the canary wave (default 1) */
  int batch_pct;               /* later waves: % of the plan's nodes, rounded up (default 25) */
  int failure_budget;          /* failures allowed per wave (default 0) */
  int64_t wait_timeout_ms, drain_timeout_ms, upgrade_timeout_ms, validate_timeout_ms;
  const char *executor; /* recorded with the rollout: "sim" | "slurm" */
};
/* Defaults for every field but target. */
void rollout_options_default(struct rollout_options *o);

/* A resolved plan: the rollout row and its nodes, ready for the store. */
struct rollout_plan {
  struct store_rollout r;
  int n_nodes;
  struct store_node *nodes; /* owned */
  int n_waves;
};
/*
 * Check options against inv and resolve them into a plan. ERR_INVALID with a
 * message naming the option for unknown or duplicate nodes, impossible limits
 * (max-unavailable 0 or more than the fleet, a canary larger than the plan, a
 * batch outside 1-100%), a missing target. Writes nothing anywhere.
 */
int rollout_plan_make(const struct inventory *inv, const struct rollout_options *o,
                      struct rollout_plan *out);
void rollout_plan_free(struct rollout_plan *p);

struct rollout_drive_options {
  int poll_ms;                /* pause between steps (default 20) */
  int lease_ms;               /* lease time-to-live (default 30000) */
  int64_t blocked_timeout_ms; /* stop (status stays running) when nothing can move this long
                                 (default 600000) */
  FILE *log;                  /* one line per transition; NULL = silent */
};
void rollout_drive_options_default(struct rollout_drive_options *o);

/* What a drive ended with. */
struct rollout_summary {
  int done, failed, in_flight, pending;
  char status[16];
  bool blocked; /* stopped because nothing could move for blocked_timeout_ms */
};

/*
 * Drive rollout `id` until it is finished, halted or aborted (in-flight nodes
 * are finished first), or blocked. Takes the lease (ERR_STATE when another
 * process holds it). Returns 0 when every node is upgrade-done; ERR_CHECK
 * when some failed, the rollout halted, was aborted or is blocked (summary
 * says which); other codes for store/executor errors. db_path is the store's
 * file (the lease renews on its own connection).
 */
int rollout_drive(struct store *st, const char *db_path, struct executor *e,
                  const struct inventory *inv, int64_t id, const struct rollout_drive_options *o,
                  struct rollout_summary *sum);

/* Count a rollout's nodes by outcome (no executor calls). */
int rollout_summarize(struct store *st, int64_t id, struct rollout_summary *sum);

/*
 * A person resumes a halted rollout: the failures so far are accepted (the
 * waves that have them are no longer checked against the failure budget) and
 * the status is running again. ERR_STATE when it is not halted.
 */
int rollout_resume_halted(struct store *st, int64_t id);

/* Mark a running or halted rollout aborted: nothing new starts; a driver finishes in-flight nodes.
 */
int rollout_abort(struct store *st, int64_t id, const char *reason);

#endif
