#!/usr/bin/env bash
# run.sh — gpuops against a real Slurm on loopback (docs/maintenance.md, "Slurm").
#
# Usage: GPUOPS_BIN=build/gpuops tests/slurm/run.sh [SCENARIO...]
#   (as root; default: every scenario). Exit 0 all passed, 1 one failed,
#   77 Slurm/munge/root missing. Each scenario prints "ok: ..." with its time.
#
# Scenarios:
#   health   XID 79 injected on n2's GPU 0 (simulated fleet) -> the health
#            check drains n2 within two HealthCheckIntervals with a reason
#            naming the check and the action; jobs on n1 and n3 keep running;
#            a human's drain of n1 is never resumed; the fault cleared -> n2
#            resumed by the health check.
#   remediate `gpuops remediate --executor slurm`: a person's drain of n1
#            fills max-unavailable 1, so n2's reboot_node verdict is held
#            (alert, exit 1); a dry run changes nothing.
#   migplan  `gpuops fleet mig-plan --format slurm` output loaded into a real
#            slurmctld: n3's GRES are the plan's MIG profiles, a job runs on one.
#   jobsubmit (when the plugin is built) a job asking --comment=gpuops:mem=20G
#            is rewritten to the smallest fitting MIG GRES and runs there; one
#            no profile fits is rejected with the plugin's message.
#   rollout  (when `gpuops rollout` exists) a driver rollout over every node
#            with max-unavailable 1 while jobs run: every node upgraded, never
#            two drained at once (sinfo sampled throughout); then the same
#            killed with SIGKILL mid-way and resumed.
#
# Everything started is stopped by pid on exit (trap), pass or fail.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/cluster.sh"

: "${GPUOPS_BIN:?set GPUOPS_BIN to the gpuops binary}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (munged, slurmd, mknod)" >&2; exit 77; }
for t in munged mungekey slurmctld slurmd scontrol sinfo squeue sbatch srun ss; do
  command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed (scripts/install-deps)" >&2; exit 77; }
done

WORK=$(mktemp -d /tmp/gpuops-slurm-XXXXXX)
KEEP=${GPUOPS_SLURM_KEEP:-0}
finish() {
  local rc=$?
  cluster_stop
  if [ $rc -ne 0 ] || [ "$KEEP" = 1 ]; then
    echo "slurm-harness: logs in $WORK/log" >&2
    tail -n 20 "$WORK"/log/*.log 2>/dev/null | tail -n 80 >&2
    # Failed runs keep the logs for CI's output above; the folder goes anyway
    # unless GPUOPS_SLURM_KEEP=1.
  fi
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
  exit $rc
}
trap finish EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
gpuops() { "$GPUOPS_BIN" "$@"; }

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(health remediate migplan jobsubmit rollout)
want() { local s; for s in "${scenarios[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# ---- the cluster: n3 carries the MIG plan's GRES when that scenario runs ----
t0=$SECONDS
if want migplan || want jobsubmit; then
  gpuops fleet mig-plan --help >/dev/null 2>&1 || fail "gpuops fleet mig-plan is missing"
  . "$HERE/migplan.sh"
  migplan_prepare "$WORK" || fail "mig-plan --format slurm: $(cat "$WORK/migplan.err")"
fi
# The job_submit plugin is built beside the binary when libslurm-dev is there.
JOBSUBMIT_SO=${GPUOPS_JOBSUBMIT_PLUGIN:-$(dirname "$GPUOPS_BIN")/contrib/slurm/job_submit_gpuops/job_submit_gpuops.so}
if want jobsubmit && [ -r "$HERE/jobsubmit.sh" ] && [ -r "$JOBSUBMIT_SO" ]; then
  . "$HERE/jobsubmit.sh"
  jobsubmit_prepare "$WORK" "$JOBSUBMIT_SO" || fail "job_submit plugin setup"
else
  scenario_jobsubmit() { echo "note: jobsubmit scenario not run ($JOBSUBMIT_SO is not built)"; }
fi
cluster_start "$WORK" || fail "the cluster did not start"
echo "ok: cluster up (munged, slurmctld, $(echo $CLUSTER_NODES | wc -w) slurmd) in $((SECONDS - t0)) s"

# ---- health ----
scenario_health() {
  local t jn1 jn3 end s r drained_after
  jn1=$(cluster_job n1 120) || fail "sbatch on n1"
  jn3=$(cluster_job n3 120) || fail "sbatch on n3"
  cluster_wait 20 bash -c "squeue -h -j $jn1,$jn3 -t R | wc -l | grep -qx 2" || fail "jobs did not start: $(squeue 2>&1)"
  # A person drains n1 for maintenance: the health check must leave it drained.
  scontrol update nodename=n1 state=drain reason="maintenance by bob" || fail "human drain"
  gpuops sim inject --spec "$WORK/fleet.yaml" --node n2 --gpu 0 --xid 79 >/dev/null || fail "sim inject"
  t=$SECONDS
  end=$((SECONDS + 2 * CLUSTER_HC_INTERVAL + 3)) # two intervals (+3 s: process start)
  while ((SECONDS < end)); do
    s=$(node_state n2)
    [[ $s == *DRAIN* ]] && break
    sleep 0.2
  done
  drained_after=$((SECONDS - t))
  [[ $s == *DRAIN* ]] || fail "n2 not drained within two intervals: state $s; $(tail -3 "$WORK/log/hc-n2.log" 2>/dev/null)"
  r=$(node_reason n2)
  [[ $r == "gpuops: health: failed (reboot_node)"*xid* ]] || fail "n2's reason: '$r'"
  squeue -h -j "$jn1,$jn3" -t R | wc -l | grep -qx 2 || fail "jobs elsewhere stopped: $(squeue 2>&1)"
  timeout 20 srun --immediate=10 -w n3 -n1 true || fail "a new job on n3 did not run"
  if timeout 10 srun --immediate=3 -w n2 -n1 true 2>/dev/null; then fail "a job ran on drained n2"; fi
  # Healed: the health check resumes its own drain, never bob's.
  gpuops sim clear --node n2 >/dev/null || fail "sim clear"
  cluster_wait $((2 * CLUSTER_HC_INTERVAL + 3)) bash -c "[[ \$(scontrol show node -o n2) == *' State=IDLE '* || \$(scontrol show node -o n2) == *' State=MIXED '* ]]" ||
    fail "n2 not resumed after the fault cleared: $(node_state n2) $(node_reason n2)"
  s=$(node_state n1)
  [[ $s == *DRAIN* && $(node_reason n1) == "maintenance by bob" ]] || fail "bob's drain of n1 was undone: $s $(node_reason n1)"
  scontrol update nodename=n1 state=resume || fail "resume n1"
  scancel "$jn1" "$jn3"
  echo "ok: health — XID 79 on n2 drained it in ${drained_after} s (interval ${CLUSTER_HC_INTERVAL} s) with '$r'; jobs elsewhere kept running; healed -> resumed; a human's drain left alone"
}

# ---- remediate: the slurm executor's observations count a person's drain ----
scenario_remediate() {
  local out rc
  gpuops sim inject --spec "$WORK/fleet.yaml" --node n2 --gpu 0 --xid 79 >/dev/null || fail "sim inject"
  GPUOPS_SIM_NODE=n2 gpuops health --backend sim --spec "$WORK/fleet.yaml" --interval 0 --format json >"$WORK/v.json"
  gpuops sim clear --node n2 >/dev/null
  sed -i 's/"host": *"[^"]*"/"host": "n2"/' "$WORK/v.json"
  scontrol update nodename=n1 state=drain reason="maintenance by bob" || fail "human drain"
  out=$(gpuops remediate --executor slurm --max-unavailable 1 --apply "$WORK/v.json" 2>&1)
  rc=$?
  [ $rc -eq 1 ] && [[ $out == *"n2"*"held_budget"*"ALERT"* ]] || fail "remediate with bob's drain (exit $rc): $out"
  [[ $(node_state n2) != *DRAIN* ]] || fail "n2 drained beyond the budget"
  scontrol update nodename=n1 state=resume || fail "resume n1"
  cluster_wait 30 nodes_idle || fail "nodes not back: $(sinfo -N -h -o '%N %T %E')"
  out=$(gpuops remediate --executor slurm --max-unavailable 1 "$WORK/v.json" 2>&1) || fail "dry run (exit $?): $out; $(sinfo -N -h -o "%N %T %E")"
  [[ $out == *"n2"*"would cordon"* ]] || fail "dry run said: $out"
  [[ $(node_state n2) != *DRAIN* ]] || fail "a dry run drained n2"
  echo "ok: remediate — the slurm executor counted a person's drain (held + alert, exit 1); dry run changed nothing"
}

for s in "${scenarios[@]}"; do
  ts=$SECONDS
  case $s in
  health) scenario_health ;;
  remediate) scenario_remediate ;;
  migplan) scenario_migplan ;;
  jobsubmit) scenario_jobsubmit ;;
  rollout)
    if [ -r "$HERE/rollout.sh" ] && gpuops rollout --help >/dev/null 2>&1; then
      . "$HERE/rollout.sh"
      scenario_rollout
    else
      echo "note: rollout scenario not run (gpuops rollout --executor slurm is not built yet)"
    fi
    ;;
  *) fail "unknown scenario '$s' (health, remediate, migplan, jobsubmit, rollout)" ;;
  esac
  echo "   ($s: $((SECONDS - ts)) s)"
done
echo "ok: all scenarios in $((SECONDS - t0)) s"
