# rollout.sh — the rollout scenario (sourced by run.sh when `gpuops rollout`
# is built).
#
# A driver rollout (ROLLOUT_FROM -> ROLLOUT_TO) over every node with
# `--executor slurm --max-unavailable 1 --apply` while jobs run, twice:
#   1. uninterrupted;
#   2. killed with SIGKILL (GPUOPS_ROLLOUT_CRASH_AT) half-way through its
#      committed transitions, then `gpuops rollout resume`.
# Each time: every node upgraded exactly once and back in service on the new
# version, every job that was running ended on its own (COMPLETED, never
# killed for the upgrade), a job submitted mid-rollout ran elsewhere, and
# never two nodes out of service at once (`sinfo` sampled every 0.2 s in the
# background throughout).
#
# The upgrade is the slurm executor's own: `scontrol reboot` runs the
# RebootProgram, which here only records the request (ROLLOUT_DIR/requests);
# this shell plays the machine rebooting into the new driver: it stops that
# node's slurmd, sets its features to driver=ROLLOUT_TO (what the slurm
# executor observes as the installed version) and starts slurmd with -b
# ("reboot done"). Every process started is added to CLUSTER_PIDS, so
# cluster_stop ends it whatever happens.

ROLLOUT_FROM=550.54.15
ROLLOUT_TO=580.105.08

rollout_prepare() {
  ROLLOUT_DIR=$CLUSTER_DIR/rollout
  rm -rf "$ROLLOUT_DIR"
  mkdir -p "$ROLLOUT_DIR"
  : >"$ROLLOUT_DIR/requests"
  ROLLOUT_SERVED=0
  # RebootProgram: slurmd runs it (through sh -c) with no arguments and no
  # node name; the node is the ancestor slurmd's -N.
  cat >"$CLUSTER_DIR/reboot.sh" <<EOR
#!/bin/bash
p=\$PPID
for _ in 1 2 3 4; do
  node=\$(tr '\\0' '\\n' </proc/\$p/cmdline 2>/dev/null | sed -n '/^-N\$/{n;p;q}')
  [ -n "\$node" ] && break
  p=\$(awk '{print \$4}' /proc/\$p/stat 2>/dev/null) || break
done
echo "reboot \${node:-unknown}" >>"$CLUSTER_DIR/log/reboots.log"
echo "\${node:-unknown}" >>"$ROLLOUT_DIR/requests"
EOR
  chmod +x "$CLUSTER_DIR/reboot.sh"
  local n
  for n in $CLUSTER_NODES; do
    scontrol update nodename="$n" AvailableFeatures="driver=$ROLLOUT_FROM" ActiveFeatures="driver=$ROLLOUT_FROM" ||
      fail "cannot set $n's features"
  done
}

# Reboot into the new driver every node whose RebootProgram ran since last time.
rollout_serve_reboots() {
  local n
  while read -r n; do
    [ "$n" = unknown ] && fail "the RebootProgram could not tell its node"
    cluster_stop_slurmd "$n"
    # slurmctld counts a reboot as done when the node's boot time (now - uptime, whole
    # seconds; -b reports an uptime of about 1 s) is later than the reboot request. A
    # restart within a second of the request can look older than it, and the node then
    # stays in REBOOT until the upgrade times out (seen twice under load): let a full
    # second or two pass, as a real reboot would.
    sleep 2
    scontrol update nodename="$n" AvailableFeatures="driver=$ROLLOUT_TO" ActiveFeatures="driver=$ROLLOUT_TO" ||
      fail "cannot set $n's features after its reboot"
    cluster_start_slurmd "$n" -b
    echo "$n" >>"$ROLLOUT_DIR/upgraded"
    ROLLOUT_SERVED=$((ROLLOUT_SERVED + 1))
    # Work goes on elsewhere while a node upgrades.
    [ -s "$ROLLOUT_DIR/midjob" ] ||
      GPUOPS_TEST_JOB=$CLUSTER_DIR sbatch --parsable -o /dev/null --wrap 'sleep 1' >"$ROLLOUT_DIR/midjob"
  done < <(tail -n +$((ROLLOUT_SERVED + 1)) "$ROLLOUT_DIR/requests")
}

# Run gpuops in the background, serving reboots until it ends; its exit status.
# A subshell with its stderr closed runs it, so that a SIGKILL (the crash
# case) does not print bash's "Killed" notice; it hands the status back in a file.
rollout_drive() { # ARGS...
  local pid end c
  rm -f "$ROLLOUT_DIR/rc"
  ("$GPUOPS_BIN" "$@" >>"$ROLLOUT_DIR/out.log" 2>&1; echo $? >"$ROLLOUT_DIR/rc") 2>/dev/null &
  pid=$!
  CLUSTER_PIDS+=("$pid")
  end=$((SECONDS + 150))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do
    rollout_serve_reboots
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do kill -9 "$c"; done
    fail "the rollout did not end within 150 s: $(tail -5 "$ROLLOUT_DIR/out.log")"
  fi
  wait "$pid"
  return "$(cat "$ROLLOUT_DIR/rc" 2>/dev/null || echo 1)"
}

rollout_sampler_start() {
  (while :; do
    echo "--- sample"
    sinfo -h -N -o '%N %T'
    sleep 0.2
  done) >"$ROLLOUT_DIR/samples" 2>&1 &
  ROLLOUT_SAMPLER=$!
  CLUSTER_PIDS+=("$ROLLOUT_SAMPLER")
}

rollout_sampler_stop() {
  kill "$ROLLOUT_SAMPLER" 2>/dev/null
  wait "$ROLLOUT_SAMPLER" 2>/dev/null
}

# Never two nodes out of service (drained, draining, rebooting, down) in one
# sample; at least one seen out (the sampler saw it). sinfo's state suffixes
# are dropped first: "idle*" (not responding) is a node back in service whose
# restarted slurmd slurmctld has not pinged yet, a lag of this harness.
rollout_check_samples() { # LABEL
  local label=$1 res
  res=$(awk '
    /^--- sample/ { if (n > worst) worst = n; n = 0; samples++; next }
    NF == 2 { st = $2; sub(/[*~#!%$@^-]+$/, "", st) }
    NF == 2 && st !~ /^(idle|mixed|allocated|completing)$/ { n++; seen++; if (n > 1) bad = bad " " $0 }
    END { if (n > worst) worst = n; print samples + 0, worst + 0, seen + 0, bad }' "$ROLLOUT_DIR/samples")
  set -- $res
  [ "$2" -le 1 ] || fail "$label: $2 nodes out of service at once in a sinfo sample:${*:4}"
  [ "$3" -gt 0 ] || fail "$label: no sample saw a node out of service ($1 samples)"
  ROLLOUT_SAMPLES=$1
}

# The outcome every run must reach.
rollout_check() { # LABEL JOBS...
  local label=$1 n s c j line
  shift
  # A node whose slurmd just came back may read NOT_RESPONDING until slurmctld pings it.
  cluster_wait 20 nodes_idle
  for n in $CLUSTER_NODES; do
    s=$(node_state "$n")
    [[ $s == IDLE || $s == MIXED || $s == ALLOCATED ]] || fail "$label: $n is $s ($(node_reason "$n")), not back in service"
    scontrol show node -o "$n" | grep -q " ActiveFeatures=driver=$ROLLOUT_TO " || fail "$label: $n not on $ROLLOUT_TO"
    c=$(grep -cx "$n" "$ROLLOUT_DIR/upgraded" 2>/dev/null)
    [ "$c" = 1 ] || fail "$label: $n rebooted into the new driver ${c:-0} times (want exactly 1)"
  done
  for j in "$@" $(cat "$ROLLOUT_DIR/midjob" 2>/dev/null); do
    cluster_wait 30 bash -c "scontrol show job -o $j | grep -q 'JobState=COMPLETED'" ||
      fail "$label: job $j did not complete on its own: $(scontrol show job -o "$j" | grep -o 'JobState=[^ ]*')"
  done
  [ -s "$ROLLOUT_DIR/midjob" ] || fail "$label: no job was submitted mid-rollout"
  line=$("$GPUOPS_BIN" rollout status --db "$ROLLOUT_DIR/r.db" --format csv | tr -d '\r' | awk -F, 'NR > 1 {print $1 "=" $3}' | sort | paste -sd' ')
  [ "$line" = "$(for n in $CLUSTER_NODES; do echo "$n=upgrade-done"; done | sort | paste -sd' ')" ] ||
    fail "$label: rollout status says $line"
  rollout_check_samples "$label"
}

# Jobs on every node before the rollout starts (3 s: the rollout waits for them).
rollout_jobs() {
  local n ids=""
  for n in $CLUSTER_NODES; do ids+=" $(cluster_job "$n" 3)" || fail "sbatch on $n"; done
  cluster_wait 20 bash -c "[ \$(squeue -h -t R | wc -l) -ge $(echo $CLUSTER_NODES | wc -w) ]" ||
    fail "jobs did not start: $(squeue 2>&1)"
  echo "$ids"
}

rollout_args() {
  echo rollout run --executor slurm --scontrol "$ROLLOUT_DIR/nodes.txt" --driver "$ROLLOUT_TO" \
    --max-unavailable 1 --db "$ROLLOUT_DIR/r.db" --poll-ms 200 --lease-ms 2000 \
    --upgrade-timeout-ms 60000 --validate-timeout-ms 30000 --blocked-timeout-ms 60000 -q --apply
}

scenario_rollout() {
  local jobs rc commits half t1 t2
  cluster_wait 30 nodes_idle || fail "nodes not idle before the rollout: $(sinfo -N -h -o '%N %T %E')"
  # 1. uninterrupted
  t1=$SECONDS
  rollout_prepare
  scontrol show node -o >"$ROLLOUT_DIR/nodes.txt"
  jobs=$(rollout_jobs)
  rollout_sampler_start
  rollout_drive $(rollout_args)
  rc=$?
  rollout_sampler_stop
  [ $rc = 0 ] || fail "rollout exited $rc: $(tail -5 "$ROLLOUT_DIR/out.log")"
  rollout_check "rollout" $jobs
  commits=$("$GPUOPS_BIN" rollout status --db "$ROLLOUT_DIR/r.db" --audit --format csv | tr -d '\r' |
    awk -F, 'NR > 1 && $3 ~ /^(transition|status)$/' | wc -l)
  t1=$((SECONDS - t1))
  echo "ok: rollout — 3 nodes upgraded one at a time while jobs ran ($commits transitions, ${t1} s); at most 1 out of service in $ROLLOUT_SAMPLES sinfo samples"
  # 2. killed half-way, resumed
  t2=$SECONDS
  half=$((commits / 2))
  rollout_prepare
  scontrol show node -o >"$ROLLOUT_DIR/nodes.txt"
  jobs=$(rollout_jobs)
  rollout_sampler_start
  GPUOPS_ROLLOUT_CRASH_AT=$half rollout_drive $(rollout_args)
  rc=$?
  [ $rc = 137 ] || { rollout_sampler_stop; fail "the rollout with GPUOPS_ROLLOUT_CRASH_AT=$half exited $rc, not killed (137)"; }
  [ "$("$GPUOPS_BIN" rollout status --db "$ROLLOUT_DIR/r.db" --format csv | tr -d '\r' | awk -F, 'NR > 1 && $3 == "upgrade-done"' | wc -l)" -lt 3 ] ||
    { rollout_sampler_stop; fail "the rollout was killed only after it finished"; }
  rollout_drive rollout resume --db "$ROLLOUT_DIR/r.db" --executor slurm --poll-ms 200 --blocked-timeout-ms 60000 -q --apply
  rc=$?
  rollout_sampler_stop
  [ $rc = 0 ] || fail "rollout resume exited $rc: $(tail -5 "$ROLLOUT_DIR/out.log")"
  rollout_check "rollout killed at transition $half, resumed" $jobs
  echo "ok: rollout — killed with SIGKILL after transition $half of $commits, resumed: same outcome ($((SECONDS - t2)) s); at most 1 out of service in $ROLLOUT_SAMPLES samples"
}
