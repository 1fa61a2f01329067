/*
 * remediate.h — guarded remediation of health verdicts (`gpuops remediate`).
 *
 * Input: one verdict per node (telemetry/health.h's /health documents). Per
 * node the action decides: none/investigate/restart_app/drain_p2p are
 * reported only; reset_gpu, drain_and_reset and reboot_node are repaired
 * through the executor (cordon, wait for no jobs, reset or reboot, validate,
 * uncordon); drain_and_repair is drained for a human.
 *
 * Guardrails, checked in this order for every node that needs to leave
 * service:
 *   flap      failing again within flap_window_s of a repair: drained for a
 *             human ("gpuops: remediate: flapping ...") and never repaired;
 *   cooldown  no new action within cooldown_s of the last one on that node;
 *   budget    never more than max_unavailable nodes of the fleet out of
 *             service, counted from the executor's observations (drains by
 *             people, rollouts and remediation alike), plus this run's;
 *   rate      at most rate_per_hour actions in any rolling hour (this run
 *             plus the audit log's history).
 * A mass failure — more nodes to take out at once than max_unavailable —
 * drains only up to the limit, repairs none of them, and raises an alert
 * (result.alert, an "alert" record in the audit log). A node held by the
 * rate limit raises the alert too.
 *
 * Audit log: JSON lines, append-only (one object per decision, plus alerts),
 * read back at the start for the rate limit, cooldowns and flaps. In dry-run
 * nothing is written and nothing changes; decisions say what would happen.
 *
 * Sections: verdicts; the policy; running; the audit log.
 * Threads: one run at a time per audit log (not locked across processes).
 */
#ifndef GPUOPS_MAINT_REMEDIATE_H
#define GPUOPS_MAINT_REMEDIATE_H

#include <stdbool.h>
#include <stdint.h>

#include "maint/executor.h"
#include "telemetry/health.h"

#define REMEDIATE_REASON_PREFIX "gpuops: remediate: "

/* ---- verdicts ---- */

struct remediate_verdict {
  char node[INV_NAME_MAX];
  enum health_verdict verdict;
  enum verdict_action action;
  int gpu; /* the GPU the action is for (first failing one), -1 none */
  char summary[256];
};

/* From a /health report: node = r->host. Never fails. */
void remediate_verdict_from_report(const struct health_report *r, struct remediate_verdict *out);

/* ---- the policy ---- */

struct remediate_policy {
  int max_unavailable;   /* nodes (count, already resolved from N or N%) */
  int rate_per_hour;     /* actions per rolling hour */
  int cooldown_s;        /* per node, between actions */
  int flap_window_s;     /* a failure this soon after a repair: drained for a human */
  int repair_timeout_ms; /* wait for jobs to end / a reboot to finish; then left drained */
  bool dry_run;
  const char *audit_path; /* JSON lines; NULL: no history, no log */
  int64_t now_ms;         /* wall clock ms of "now"; 0: the real clock (tests inject time) */
};

/* Defaults: budget 1, rate 10/h, cooldown 600 s, flap window 3600 s, repair timeout 600 s, dry-run.
 */
void remediate_policy_default(struct remediate_policy *p);


/*
 * Check the input before anything changes: every verdict's node in the
 * fleet, no node twice, limits possible (max_unavailable 1..fleet_n,
 * rate_per_hour >= 1, cooldown/flap >= 0). 0, or ERR_INVALID naming the node
 * or limit.
 */
int remediate_check(const struct remediate_policy *p, const char *const *fleet, int fleet_n,
                    const struct remediate_verdict *v, int n);

/* ---- running ---- */

enum remediate_outcome {
  REMEDIATE_OK = 0,        /* healthy, nothing to do */
  REMEDIATE_REPORT,        /* reported only (restart_app, investigate, drain_p2p) */
  REMEDIATE_REPAIRED,      /* cordoned, reset/rebooted, validated, back in service */
  REMEDIATE_REPAIR_FAILED, /* the repair or its validation failed: left drained */
  REMEDIATE_WAITING,       /* cordoned; jobs still running or reboot in flight (next run goes on) */
  REMEDIATE_DRAINED,       /* drained for a human (drain_and_repair) */
  REMEDIATE_FLAP_HOLD,     /* failing again soon after a repair: drained for a human */
  REMEDIATE_MASS_HOLD,     /* mass failure: drained, not repaired */
  REMEDIATE_ALREADY_OUT,   /* out of service for another reason (a person, a rollout) */
  REMEDIATE_HELD_BUDGET,   /* needed to leave service; max-unavailable reached */
  REMEDIATE_HELD_RATE,     /* rate limit reached */
  REMEDIATE_HELD_COOLDOWN, /* acted on too recently */
  REMEDIATE_ERROR,         /* the executor failed (detail says why) */
};
const char *remediate_outcome_name(enum remediate_outcome o);

struct remediate_decision {
  char node[INV_NAME_MAX];
  enum verdict_action action;
  enum remediate_outcome outcome;
  char detail[256];
};

struct remediate_result {
  int n;
  struct remediate_decision *decisions; /* owned: remediate_result_free() */
  int out_before;                       /* nodes out of service (observed) before this run */
  int out_after; /* ... after it (observed at the start plus this run's changes) */
  int out_max;   /* the most out of service at once during the run (observed + counted) */
  int actions;   /* actions taken (would be taken, in dry-run) */
  bool alert;    /* held back: mass failure or rate limit */
  char alert_msg[256];
};

void remediate_result_free(struct remediate_result *r);

/*
 * Decide and act for each verdict (remediate_check first: on error nothing
 * changes). fleet: every node the budget counts (observed through e).
 * Returns 0 with *res filled (caller frees), or an error for the run as a
 * whole (bad input, the audit log unreadable/unwritable). Per-node executor
 * failures are REMEDIATE_ERROR decisions, not a failed run.
 */
int remediate_run(struct executor *e, const struct remediate_policy *p, const char *const *fleet,
                  int fleet_n, const struct remediate_verdict *v, int n,
                  struct remediate_result *res);

#endif
