/*
 * slurm_exec.h — the `slurm` executor: nodes of a real Slurm cluster through
 * its client commands (fork/exec, never a shell).
 *
 *   observe   `scontrol show node -o NAME` (state, reason) and
 *             `squeue -h -w NAME -t R` (running jobs)
 *   cordon    `scontrol update nodename=N state=drain reason="gpuops: ..."`
 *   uncordon  `scontrol update nodename=N state=resume`, only when the reason
 *             starts with "gpuops:" (unless force)
 *   upgrade   the command template from slurm_exec_options (argv words with
 *             {node}, {kind}, {version} replaced), else `scontrol reboot
 *             reason=... NODE` (needs RebootProgram=; the node comes back drained)
 *   reset_gpu the reset template, else ERR_UNSUPPORTED
 *   reboot    `scontrol reboot ASAP NODE`
 *   validate  the validate template (default: `scontrol show node` reports no
 *             drain set by gpuops' health check — `gpuops health --slurm` runs
 *             on the node as HealthCheckProgram)
 * Installed driver/firmware versions are read from the node's
 * ActiveFeatures `driver=VERSION` / `firmware=VERSION` when present.
 *
 * Clients find the cluster through SLURM_CONF (set from slurm_conf when given).
 */
#ifndef GPUOPS_MAINT_SLURM_EXEC_H
#define GPUOPS_MAINT_SLURM_EXEC_H

#include "maint/executor.h"

struct slurm_exec_options {
  const char *upgrade_cmd;  /* "ssh {node} /opt/upgrade {kind} {version}"; NULL: scontrol reboot */
  const char *reset_cmd;    /* "ssh {node} nvidia-smi -r -i {gpu}"; NULL: unsupported */
  const char *validate_cmd; /* exit 0 healthy, 1 unhealthy, else unknown; NULL: the default */
};

/*
 * Open the executor. slurm_conf: the slurm.conf clients use (exported as
 * SLURM_CONF), or NULL for the environment's. o may be NULL. Checks that
 * scontrol answers (`scontrol ping`): ERR_NOTFOUND/ERR_STATE otherwise.
 * Close with e->ops->close(e).
 */
int slurm_executor_open(struct executor *e, const char *slurm_conf);
int slurm_executor_open_opts(struct executor *e, const char *slurm_conf,
                             const struct slurm_exec_options *o);

/* Every node Slurm knows (`sinfo -h -N -o %N`), deduplicated, in order. *names owned by caller
 * (free each, then the array). */
int slurm_exec_nodes(char ***names, int *n);

#endif
