# migplan.sh — the mig-plan scenario (sourced by run.sh).
#
# migplan_prepare DIR: plans a small H200 demand for node n3
# (`gpuops fleet mig-plan --format slurm`) and hands its slurm.conf Gres= to the
# cluster (CLUSTER_GRES_N3). The plan's gres.conf is AutoDetect=nvml, which
# needs NVML; with no GPU here the harness turns the counts the plan says NVML
# will find into File= lines on fake devices (@DEV@/nvidia4 onwards), one
# type per profile, the plain profile name as type — the same GRES slurmctld
# would see on a real node.
# scenario_migplan: slurmctld took the plan (n3's Gres are the plan's, by type
# and count) and a job asking for a MIG GRES of each type runs on n3.

migplan_prepare() { # DIR
  local T=$1 dev=4 line type count
  cat >"$T/demand.yaml" <<EOD
model: H200
demand:
  1g.18gb: 7
  3g.71gb: 2
gpus_per_node: 2
nodes: [n3]
EOD
  "$GPUOPS_BIN" fleet mig-plan --demand "$T/demand.yaml" --format slurm -o "$T/migplan.txt" 2>"$T/migplan.err" || return 1
  CLUSTER_GRES_N3=$(sed -n 's/^NodeName=n3 Gres=\(.*\)$/\1/p' "$T/migplan.txt")
  [ -n "$CLUSTER_GRES_N3" ] || { echo "no 'NodeName=n3 Gres=' line in the plan" >"$T/migplan.err"; return 1; }
  CLUSTER_GRESCONF_N3=""
  while read -r line; do
    type=$(sed -n 's/.* Type=\([^ ]*\) .*/\1/p' <<<"$line")
    count=$(sed -n 's/.* Count=\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$type" ] && [ -n "$count" ] || continue
    CLUSTER_GRESCONF_N3+="NodeName=n3 Name=gpu Type=$type File=@DEV@/nvidia[$dev-$((dev + count - 1))]"$'\n'
    dev=$((dev + count))
  done < <(grep '^#   NodeName=n3 Name=gpu Type=' "$T/migplan.txt")
  [ -n "$CLUSTER_GRESCONF_N3" ] || { echo "the plan lists no GRES for n3" >"$T/migplan.err"; return 1; }
  export CLUSTER_GRES_N3 CLUSTER_GRESCONF_N3
}

scenario_migplan() {
  local gres want t
  gres=$(scontrol show node -o n3 | grep -o ' Gres=[^ ]*' | cut -d= -f2-)
  for want in $(tr ',' ' ' <<<"$CLUSTER_GRES_N3"); do
    [[ ",$gres," == *",$want,"* || ",$gres," == *",$want(S:"* ]] || fail "n3's Gres '$gres' lacks the plan's $want"
  done
  for t in $(tr ',' '\n' <<<"$CLUSTER_GRES_N3" | cut -d: -f2); do
    out=$(GPUOPS_TEST_JOB=$CLUSTER_DIR timeout 30 srun --immediate=20 -n1 --gres="gpu:$t:1" \
      bash -c 'echo "$SLURMD_NODENAME $SLURM_STEP_GPUS"') || fail "a job asking gpu:$t:1 did not run"
    [[ $out == n3\ * ]] || fail "gpu:$t:1 ran on '$out', not n3"
  done
  echo "ok: migplan — slurmctld loaded the plan's GRES for n3 ($CLUSTER_GRES_N3); a job per type ran there"
}
