#!/usr/bin/env bash
# test_slurm.sh — gpuops against a real Slurm on loopback: tests/slurm/run.sh
# starts munged, slurmctld and three slurmd nodes with fake GPUs, runs every
# scenario (health-check drain/resume, MIG plan GRES, job_submit rewrite,
# rollouts) and stops all it started. Skips (a failure under CI=true) when
# Slurm, munge or root is missing: scripts/install-deps installs them.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

: "${GPUOPS_BIN:?GPUOPS_BIN not set: run through ctest}"
[ "$(id -u)" = 0 ] || skip "the Slurm harness needs root (munged, slurmd, mknod)"
for t in munged mungekey slurmctld slurmd scontrol sinfo squeue sbatch srun; do
  command -v "$t" >/dev/null 2>&1 || skip "$t is not installed (scripts/install-deps installs Slurm)"
done
bash "${GPUOPS_SOURCE_DIR:?}/tests/slurm/run.sh"
rc=$?
[ $rc -eq 77 ] && skip "tests/slurm/run.sh skipped"
exit $rc
