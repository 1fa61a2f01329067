#!/usr/bin/env bash
# gpuops-healthcheck.sh — a Slurm HealthCheckProgram that asks gpuops whether
# this node's GPUs are healthy (docs/deploy.md, "Slurm").
#
# slurmd runs it as root every HealthCheckInterval seconds (slurm.conf.example).
# Slurm does not act on its exit status: a health check program drains the
# node itself. This example logs the verdict and drains only when
# GPUOPS_HEALTHCHECK_DRAIN=1 (set it in /etc/default/gpuops-healthcheck); the
# Slurm integration of gpuops wires draining and resuming properly.
#
# Where the verdict comes from, first that answers:
#   1. the node's exporter, http://127.0.0.1:9400/health (cheap, and it has been
#      watching XID events, which NVML reports only to a process waiting for them);
#   2. `gpuops health` itself (samples the GPUs for a second and watches XIDs
#      for GPUOPS_HEALTHCHECK_WATCH seconds).
# `--npd` prints one line and exits 0 healthy, 1 a problem, 2 unknown.
#
# Exit status: 0 healthy or unknown (a broken check must not drain a fleet),
# 1 unhealthy.
set -u

# shellcheck source=/dev/null
[ -r /etc/default/gpuops-healthcheck ] && . /etc/default/gpuops-healthcheck
GPUOPS=${GPUOPS:-/usr/local/bin/gpuops}
EXPORTER_URL=${GPUOPS_EXPORTER_URL:-http://127.0.0.1:9400/health}
WATCH=${GPUOPS_HEALTHCHECK_WATCH:-2}
DRAIN=${GPUOPS_HEALTHCHECK_DRAIN:-0}
FAIL_ON=${GPUOPS_HEALTHCHECK_FAIL_ON:-fail} # "warn" to act on warnings too
NODE=${SLURMD_NODENAME:-$(hostname -s)}

# To syslog and stderr (slurmd keeps neither; journalctl -t gpuops-healthcheck shows them).
log() { logger -s -t gpuops-healthcheck -- "$*" 2>/dev/null || echo "gpuops-healthcheck: $*" >&2; }

verdict=$("$GPUOPS" health --npd --fail-on "$FAIL_ON" --from "$EXPORTER_URL" 2>&1)
rc=$?
if [ $rc -eq 2 ]; then # the exporter is not there: check the GPUs directly
  verdict=$("$GPUOPS" health --npd --fail-on "$FAIL_ON" --backend nvml --watch "$WATCH" 2>&1)
  rc=$?
fi

case $rc in
0) exit 0 ;;
1)
  log "node $NODE unhealthy: $verdict"
  if [ "$DRAIN" = 1 ]; then
    # Slurm keeps the reason short; gpuops' line starts with the verdict and the action.
    scontrol update NodeName="$NODE" State=DRAIN Reason="gpuops: ${verdict:0:200}" ||
      log "scontrol could not drain $NODE"
  fi
  exit 1
  ;;
*)
  log "node $NODE: health unknown (gpuops exit $rc): $verdict"
  exit 0
  ;;
esac
