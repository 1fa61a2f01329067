#!/usr/bin/env bash
# test_slurm_healthcheck.sh — deploy/slurm/gpuops-healthcheck.sh, the example
# Slurm HealthCheckProgram, against a real `gpuops exporter --backend sim` on
# loopback and a stand-in `scontrol` that records how it was called:
#   healthy node          -> exit 0, no drain
#   injected ECC error    -> exit 1, the verdict logged; drained only with
#                            GPUOPS_HEALTHCHECK_DRAIN=1, with gpuops' reason
#   exporter unreachable  -> falls back to `gpuops health --backend nvml`; with
#                            no NVML that is "unknown": exit 0, never a drain
set -uo pipefail
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null 2>&1 || skip "curl is not installed"
: "${GPUOPS_BIN:?GPUOPS_BIN not set: run through ctest}"
SCRIPT=${GPUOPS_SOURCE_DIR:?GPUOPS_SOURCE_DIR not set: run through ctest}/deploy/slurm/gpuops-healthcheck.sh
work=$(mktemp -d /tmp/gpuops-slurmhc-XXXXXX)
exporter_pid=""
cleanup() {
  [ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null && wait "$exporter_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export GPUOPS_SIM_STATE=$work/sim-state.json GPUOPS_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1
unset GPUOPS_SIM_TIME_NS GPUOPS_SIM_NODE

# A stand-in scontrol first on PATH: it records its arguments.
mkdir -p "$work/bin"
cat >"$work/bin/scontrol" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >>"$work/scontrol.calls"
EOF
chmod +x "$work/bin/scontrol"

# Started directly, not through lib.sh's gpuops function: $! must be the exporter itself.
"$GPUOPS_BIN" exporter --backend sim --listen 127.0.0.1:0 --interval 200 >/dev/null 2>"$work/exporter.err" &
exporter_pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/exporter.err" | head -1)
  [ -n "$url" ] && break
  kill -0 "$exporter_pid" 2>/dev/null || fail "the exporter exited: $(cat "$work/exporter.err")"
  sleep 0.1
done
[ -n "$url" ] || fail "the exporter did not say where it listens"

hc() { # hc DRAIN URL: run the health check; sets rc and out
  out=$(env PATH="$work/bin:$PATH" GPUOPS="$GPUOPS_BIN" GPUOPS_EXPORTER_URL="$2" GPUOPS_HEALTHCHECK_DRAIN="$1" \
    GPUOPS_HEALTHCHECK_WATCH=0 SLURMD_NODENAME=node-a bash "$SCRIPT" 2>&1)
  rc=$?
}

hc 1 "$url/health"
[ $rc -eq 0 ] || fail "healthy node: exit $rc: $out"
[ ! -e "$work/scontrol.calls" ] || fail "healthy node drained: $(cat "$work/scontrol.calls")"

gpuops sim inject --gpu 2 --ecc-uncorrectable >/dev/null || fail "sim inject"
for _ in $(seq 50); do # the exporter sees the fault on its next sample
  curl -s "$url/health" | grep -q '"verdict": *"failed"' && break
  sleep 0.1
done
hc 0 "$url/health"
[ $rc -eq 1 ] || fail "unhealthy node: exit $rc: $out"
[[ $out == *"node node-a unhealthy"*"reset_gpu"* ]] || fail "the verdict is not logged: $out"
[ ! -e "$work/scontrol.calls" ] || fail "drained although GPUOPS_HEALTHCHECK_DRAIN=0"

hc 1 "$url/health"
[ $rc -eq 1 ] || fail "unhealthy node, drain on: exit $rc: $out"
calls=$(cat "$work/scontrol.calls" 2>/dev/null)
[[ $calls == *"NodeName=node-a"*"State=DRAIN"*"Reason=gpuops: "*"reset_gpu"* ]] || fail "scontrol was called with: $calls"

rm -f "$work/scontrol.calls"
hc 1 "http://127.0.0.1:1/health"
[ $rc -eq 0 ] || fail "unknown health must not fail the node: exit $rc: $out"
[[ $out == *"health unknown"* ]] || fail "unknown health is not logged: $out"
[ ! -e "$work/scontrol.calls" ] || fail "drained on an unknown verdict"
echo "ok: healthy, unhealthy (logged; drained only when asked), unknown (never drained)"
