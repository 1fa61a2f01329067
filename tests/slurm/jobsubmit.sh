# jobsubmit.sh — the job_submit plugin scenario (sourced by run.sh).
#
# jobsubmit_prepare DIR SO: writes the plugin's config (model H200, the MIG
# types migplan_prepare gave n3) as DIR/job_submit_gpuops.conf, beside
# slurm.conf where the plugin looks, and has slurmctld load SO
# (PluginDir=<Slurm's plugin dir>:<SO's dir>, JobSubmitPlugins=gpuops).
# scenario_jobsubmit: --comment=gpuops:mem=20G becomes gres:gpu:3g.71gb:1
# (1g.18gb holds 16 GiB only) and runs on n3; mem=10G becomes 1g.18gb;
# mem=200G fits no profile and is rejected with the plugin's message.

jobsubmit_prepare() { # DIR SO
  local T=$1 so=$2 slurmdir types
  slurmdir=$(dirname "$(ls /usr/lib/*/slurm-wlm/job_submit_lua.so /usr/lib/slurm/job_submit_lua.so \
    /usr/lib64/slurm/job_submit_lua.so 2>/dev/null | head -1)")
  [ -n "$slurmdir" ] && [ "$slurmdir" != . ] || { echo "Slurm's plugin folder not found" >&2; return 1; }
  types=$(tr ',' '\n' <<<"$CLUSTER_GRES_N3" | cut -d: -f2 | paste -sd, -)
  [ -n "$types" ] || return 1
  printf '# written by tests/slurm/jobsubmit.sh\nmodel = H200\ntypes = %s\n' "$types" >"$T/job_submit_gpuops.conf"
  mkdir -p "$T/plugins"
  cp "$so" "$T/plugins/job_submit_gpuops.so" || return 1
  CLUSTER_EXTRA_CONF="${CLUSTER_EXTRA_CONF:+$CLUSTER_EXTRA_CONF
}PluginDir=$slurmdir:$T/plugins
JobSubmitPlugins=gpuops"
  export CLUSTER_EXTRA_CONF
}

# Submit a short job with COMMENT; prints the job id.
jobsubmit_job() { # COMMENT OUTFILE
  GPUOPS_TEST_JOB=$CLUSTER_DIR sbatch --parsable --comment="$1" -o "$2" \
    --wrap 'echo "$SLURMD_NODENAME $SLURM_JOB_GPUS"'
}

# The job's TresPerNode once it has ended well (COMPLETED, exit 0:0).
jobsubmit_check() { # JOBID WANT-TYPE OUTFILE
  local id=$1 want=$2 out=$3 line
  cluster_wait 30 bash -c "scontrol show job -o $id | grep -q 'JobState=COMPLETED'" ||
    fail "job $id did not complete: $(scontrol show job -o "$id" | grep -o 'JobState=[^ ]*\|Reason=[^ ]*')"
  line=$(scontrol show job -o "$id")
  [[ $line == *"TresPerNode=gres:gpu:$want:1"* ]] ||
    fail "job $id was not given gpu:$want: $(grep -o 'TresPerNode=[^ ]*' <<<"$line")"
  [[ $line == *" ExitCode=0:0"* ]] || fail "job $id failed: $(grep -o 'ExitCode=[^ ]*' <<<"$line")"
  [[ $(cat "$out") == n3\ * ]] || fail "job $id ran on '$(cat "$out")', not n3 (the MIG node)"
}

scenario_jobsubmit() {
  local id out
  id=$(jobsubmit_job "gpuops:mem=20G" "$CLUSTER_DIR/js20.out") || fail "sbatch gpuops:mem=20G"
  jobsubmit_check "$id" 3g.71gb "$CLUSTER_DIR/js20.out"
  id=$(jobsubmit_job "small gpuops:mem=10G" "$CLUSTER_DIR/js10.out") || fail "sbatch gpuops:mem=10G"
  jobsubmit_check "$id" 1g.18gb "$CLUSTER_DIR/js10.out"
  if out=$(jobsubmit_job "gpuops:mem=200G" /dev/null 2>&1); then fail "a 200G request was accepted (job $out)"; fi
  [[ $out == *"no MIG profile configured on this cluster holds 204800 MiB"*"largest is 3g.71gb"* ]] ||
    fail "the 200G rejection said: $out"
  echo "ok: jobsubmit — gpuops:mem=20G ran as gres:gpu:3g.71gb:1 on n3, 10G as 1g.18gb; 200G rejected: $(grep -o "gpuops: no MIG[^(]*" <<<"$out" | head -1)"
}
