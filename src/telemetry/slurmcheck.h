/*
 * slurmcheck.h — gpuops health as Slurm's HealthCheckProgram
 * (`gpuops health --slurm`), and the few Slurm client calls gpuops makes.
 *
 * Slurm does not act on a health check's exit status: the program drains the
 * node itself. The policy here: an unhealthy node that is in service is
 * drained with the reason "gpuops: health: <summary>" (the summary names the
 * failed check and its action); a healthy node drained with a reason that
 * starts "gpuops: health:" is resumed. A drain anyone else set (a person, a
 * rollout, remediation) is never undone here, and an unknown verdict (no GPU
 * library, an error) changes nothing.
 *
 * Sections: running commands (fork/exec, no shell); reading a node
 * (`scontrol show node -o`); the health-check policy.
 *
 * Threads: every function works on caller-owned data; running commands forks.
 */
#ifndef GPUOPS_TELEMETRY_SLURMCHECK_H
#define GPUOPS_TELEMETRY_SLURMCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "telemetry/health.h"

/* Reasons gpuops' health check sets begin with this. */
#define SLURMCHECK_REASON_PREFIX "gpuops: health: "

/* ---- running commands ---- */

/*
 * Run argv (argv[0] looked up on PATH; NULL-terminated) with fork/exec, never
 * a shell. Its stdout and stderr go into out (NUL-terminated, truncated to
 * out_len-1; out may be NULL). Killed after timeout_ms. Returns its exit
 * status (0..255), or ERR_TIMEOUT, or ERR_NOTFOUND when argv[0] cannot be run
 * (message names it), or ERR_IO.
 */
int slurmcheck_run(const char *const argv[], char *out, size_t out_len, int timeout_ms);

/* ---- reading a node ---- */

struct slurmcheck_node {
  char name[64];
  char state[128];  /* State= as Slurm prints it: "IDLE+DRAIN", "MIXED", "DOWN+REBOOT_ISSUED" */
  char reason[256]; /* Reason= without the trailing "[user@time]"; "" when none */
  bool drain;       /* DRAIN flag set (drained or draining) */
  bool down;        /* DOWN, FAIL, NOT_RESPONDING or INVAL */
  bool reboot;      /* a reboot issued or requested */
  bool allocated;   /* ALLOCATED or MIXED (jobs running) */
};

/*
 * Parse one line of `scontrol show node -o` into *out. Returns 0, or
 * ERR_PARSE when the line has no NodeName=/State=.
 */
int slurmcheck_node_parse(const char *line, struct slurmcheck_node *out);

/* Run `scontrol show node -o NAME` and parse it. 0, or an error naming the node. */
int slurmcheck_node_show(const char *node, struct slurmcheck_node *out);

/*
 * `scontrol update nodename=NODE state=drain reason=REASON` (drain true) or
 * `state=resume` (drain false). 0, or ERR_STATE with scontrol's message.
 */
int slurmcheck_node_update(const char *node, bool drain, const char *reason);

/* ---- the health-check policy ---- */

enum slurmcheck_action {
  SLURMCHECK_NOTHING = 0, /* in the state it should be */
  SLURMCHECK_DRAINED,     /* was in service, is unhealthy: drained now */
  SLURMCHECK_RESUMED,     /* gpuops' health drain healed: resumed now */
  SLURMCHECK_LEFT_DRAINED /* unhealthy, already out of service for another reason: left alone */
};
const char *slurmcheck_action_name(enum slurmcheck_action a);

/*
 * Decide from the node's Slurm state and a health report (verdict unhealthy
 * means: failed, or degraded when fail_on_warn) and act. reason_out (may be
 * NULL) receives the reason set. Returns 0 with *done set, or an error from
 * scontrol.
 */
int slurmcheck_apply(const char *node, const struct health_report *r, bool fail_on_warn,
                     enum slurmcheck_action *done, char *reason_out, size_t reason_len);

#endif
