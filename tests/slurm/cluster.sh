# cluster.sh — a real Slurm cluster on loopback for tests (sourced).
#
# cluster_start DIR: munged, slurmctld and SLURM_TEST_NODES virtual slurmd
# nodes (default 3: n1 n2 n3), each with two fake GPUs (character devices made
# with mknod) typed h200, on free loopback ports; every daemon runs as a child
# of this shell and its pid is kept in CLUSTER_PIDS. Clients find the cluster
# through SLURM_CONF (exported). The HealthCheckProgram is DIR/healthcheck.sh
# (interval CLUSTER_HC_INTERVAL s, default 5), which runs
# `gpuops health --slurm --backend sim` for the node that calls it, against
# the simulated fleet DIR/fleet.yaml and the fault state DIR/sim-state.json.
#
# cluster_stop: SIGTERM to every pid started, SIGKILL after 5 s; idempotent.
# Callers set `trap cluster_stop EXIT` before cluster_start.
#
# Extra slurm.conf lines: CLUSTER_EXTRA_CONF (before the nodes);
# CLUSTER_GRES_N3: node n3's Gres= (default gpu:h200:2) with CLUSTER_GRESCONF_N3
# its gres.conf lines (given together).
#
# Needs root (munged, slurmd and mknod). Every wait has a timeout.

CLUSTER_PIDS=()
CLUSTER_DIR=""
CLUSTER_HC_INTERVAL=${CLUSTER_HC_INTERVAL:-5}

cluster_log() { echo "slurm-harness: $*" >&2; }

# A free TCP port on 127.0.0.1 with the next N-1 also free (probe with ss).
cluster_free_ports() { # N
  local n=$1 base p ok used
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 200); do
    base=$((20000 + RANDOM % 30000))
    ok=1
    for ((p = base; p < base + n; p++)); do
      if grep -qx "$p" <<<"$used"; then ok=0; break; fi
    done
    [ $ok = 1 ] && { echo "$base"; return 0; }
  done
  return 1
}

# Wait up to SECONDS for the command to succeed.
cluster_wait() { # SECONDS CMD...
  local limit=$1 end
  shift
  end=$((SECONDS + limit))
  while ((SECONDS < end)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

cluster_write_conf() {
  local T=$CLUSTER_DIR base=$1 i n port
  {
    echo "ClusterName=gpuopstest"
    echo "GresTypes=gpu"
    echo "MailProg=/bin/true"
    echo "SlurmctldHost=localhost"
    echo "SlurmctldPort=$base"
    echo "SlurmdPort=$((base + 1))"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=$T/munge/munge.socket.2"
    echo "StateSaveLocation=$T/state"
    echo "SlurmdSpoolDir=$T/spool/%n"
    echo "SlurmctldPidFile=$T/slurmctld.pid"
    echo "SlurmdPidFile=$T/slurmd-%n.pid"
    echo "SlurmctldLogFile=$T/log/slurmctld.log"
    echo "SlurmdLogFile=$T/log/slurmd-%n.log"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "MpiDefault=none"
    echo "ReturnToService=2"
    echo "SlurmdTimeout=30"
    echo "HealthCheckProgram=$T/healthcheck.sh"
    echo "HealthCheckInterval=$CLUSTER_HC_INTERVAL"
    echo "HealthCheckNodeState=ANY"
    echo "RebootProgram=$T/reboot.sh"
    echo "ResumeTimeout=60"
    [ -n "${CLUSTER_EXTRA_CONF:-}" ] && echo "$CLUSTER_EXTRA_CONF"
    i=0
    for n in $CLUSTER_NODES; do
      port=$((base + 2 + i))
      gres=gpu:h200:2
      [ "$n" = n3 ] && [ -n "${CLUSTER_GRES_N3:-}" ] && gres=$CLUSTER_GRES_N3
      echo "NodeName=$n NodeHostname=localhost NodeAddr=127.0.0.1 Port=$port CPUs=2 RealMemory=1000 Gres=$gres"
      i=$((i + 1))
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } >"$T/slurm.conf"
  {
    echo "AutoDetect=off"
    i=0
    for n in $CLUSTER_NODES; do
      if [ "$n" = n3 ] && [ -n "${CLUSTER_GRESCONF_N3:-}" ]; then
        echo "$CLUSTER_GRESCONF_N3" | sed "s#@DEV@#$T/dev#g"
      else
        echo "NodeName=$n Name=gpu Type=h200 File=$T/dev/nvidia[$((2 * i))-$((2 * i + 1))]"
      fi
      i=$((i + 1))
    done
  } >"$T/gres.conf"
}

# The simulated fleet (one entry per Slurm node, same names) and the health
# check wrapper slurmd runs (it has only SLURMD_NODENAME and PWD set).
cluster_write_health() {
  local T=$CLUSTER_DIR
  {
    echo "fleet: gpuopstest"
    echo "defaults: {driver: \"550.54.15\", firmware: \"96.00.A5.00.1A\"}"
    echo "nodes:"
    echo "  - name: $(echo "$CLUSTER_NODES" | tr ' ' ',')"
    echo "    gpus: {model: H200, count: 2}"
  } >"$T/fleet.yaml"
  cat >"$T/healthcheck.sh" <<EOF
#!/bin/sh
export SLURM_CONF=$T/slurm.conf GPUOPS_SIM_STATE=$T/sim-state.json GPUOPS_SIM_NODE=\$SLURMD_NODENAME
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
exec "$GPUOPS_BIN" health --slurm --backend sim --spec $T/fleet.yaml --interval 0 >>$T/log/hc-\$SLURMD_NODENAME.log 2>&1
EOF
  printf '#!/bin/sh\necho "reboot $*" >>%s/log/reboots.log\n' "$T" >"$T/reboot.sh"
  chmod +x "$T/healthcheck.sh" "$T/reboot.sh"
}

cluster_start_munge() {
  local T=$CLUSTER_DIR
  mkdir -p "$T/munge"
  chmod 755 "$T/munge"
  mungekey -c -k "$T/munge/munge.key" >/dev/null 2>&1 || return 1
  munged -F --key-file="$T/munge/munge.key" --socket="$T/munge/munge.socket.2" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" \
    --seed-file="$T/munge/munged.seed" 2>>"$T/log/munged.err" &
  CLUSTER_PIDS+=($!)
  cluster_wait 10 test -S "$T/munge/munge.socket.2"
}

# Start (or restart) one node's slurmd; extra args (-b: reboot done) follow.
cluster_start_slurmd() { # NODE [ARGS...]
  local n=$1
  shift
  slurmd -D -N "$n" -f "$CLUSTER_DIR/slurm.conf" "$@" 2>>"$CLUSTER_DIR/log/slurmd-$n.err" &
  CLUSTER_PIDS+=($!)
  eval "CLUSTER_SLURMD_PID_$n=$!"
}

# Stop one node's slurmd (the pid this shell started).
cluster_stop_slurmd() { # NODE
  local pid
  eval "pid=\${CLUSTER_SLURMD_PID_$1:-}"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# A batch job of SECONDS on NODE (a sleep); prints the job id.
cluster_job() { # NODE SECONDS
  GPUOPS_TEST_JOB=$CLUSTER_DIR sbatch --parsable -w "$1" -o /dev/null --wrap "sleep $2"
}

node_state() { scontrol show node -o "$1" 2>/dev/null | grep -o ' State=[^ ]*' | cut -d= -f2; }
node_reason() { scontrol show node -o "$1" 2>/dev/null | sed -n 's/.* Reason=\(.*\) \[.*/\1/p'; }
nodes_idle() {
  local n s
  for n in $CLUSTER_NODES; do
    s=$(node_state "$n")
    [[ $s == IDLE || $s == MIXED || $s == ALLOCATED ]] || return 1
  done
}

cluster_start() { # DIR
  CLUSTER_DIR=$1
  CLUSTER_NODES=${SLURM_TEST_NODES:-n1 n2 n3}
  local T=$CLUSTER_DIR base i n
  mkdir -p "$T/log" "$T/state" "$T/dev"
  chmod 755 "$T"
  i=0
  for n in $CLUSTER_NODES; do
    mkdir -p "$T/spool/$n"
    i=$((i + 1))
  done
  for ((d = 0; d < 2 * i + 32; d++)); do
    mknod "$T/dev/nvidia$d" c 195 "$d" || { cluster_log "mknod failed (root needed)"; return 1; }
  done
  base=$(cluster_free_ports $((2 + i))) || { cluster_log "no free ports"; return 1; }
  cluster_write_conf "$base"
  cluster_write_health
  export SLURM_CONF=$T/slurm.conf GPUOPS_SIM_STATE=$T/sim-state.json
  cluster_start_munge || { cluster_log "munged did not start: $(cat "$T/log/munged.err" "$T/munge/munged.log" 2>/dev/null)"; return 1; }
  slurmctld -D -i -f "$T/slurm.conf" 2>>"$T/log/slurmctld.err" &
  CLUSTER_PIDS+=($!)
  cluster_wait 20 scontrol ping || { cluster_log "slurmctld did not answer: $(tail -5 "$T/log/slurmctld.log")"; return 1; }
  for n in $CLUSTER_NODES; do cluster_start_slurmd "$n"; done
  cluster_wait 30 nodes_idle || { cluster_log "nodes not up: $(sinfo -N 2>&1)"; return 1; }
  return 0
}

cluster_stop() {
  local pid
  # Jobs first, so slurmd has nothing left to wait for.
  if [ -n "${SLURM_CONF:-}" ] && [ ${#CLUSTER_PIDS[@]} -gt 0 ]; then
    timeout 5 scancel --full --quiet -u root >/dev/null 2>&1
    cluster_wait 15 bash -c '[ -z "$(squeue -h 2>/dev/null)" ]'
  fi
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${CLUSTER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${CLUSTER_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  CLUSTER_PIDS=()
  cluster_sweep
  return 0
}

# Job processes slurmd left behind (slurmstepd re-parents them): jobs are
# submitted with GPUOPS_TEST_JOB=DIR in their environment (cluster_job), and
# whatever still carries it, or works in DIR (slurmstepd), is killed by pid.
cluster_sweep() {
  [ -n "$CLUSTER_DIR" ] || return 0
  local f pid
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}
    pid=${pid%/environ}
    [ "$pid" = $$ ] && continue
    [ "$pid" = "${BASHPID:-}" ] && continue
    if { tr "\\0" "\\n" <"$f"; } 2>/dev/null | grep -qx "GPUOPS_TEST_JOB=$CLUSTER_DIR"; then
      kill -9 "$pid" 2>/dev/null
    elif [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$CLUSTER_DIR"/* ]]; then
      kill -9 "$pid" 2>/dev/null # slurmstepd (no environment; it works in our spool)
    fi
  done
  return 0
}
