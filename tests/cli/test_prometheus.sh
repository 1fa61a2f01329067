#!/usr/bin/env bash
# test_prometheus.sh — a real Prometheus (the Debian package) scrapes
# `gpuops exporter --backend sim` on loopback every second, with the rules of
# deploy/prometheus/gpuops-rules.yml loaded, and:
#   1. every PromQL query of the shipped dashboard
#      (deploy/grafana/dashboard-queries.txt, Grafana variables replaced by
#      concrete values) returns a non-empty result through /api/v1/query,
#      and the dashboard's variables (label_values) find the node and GPUs;
#   2. `promtool check metrics` on the exporter's text output finds no parse
#      error, and lint findings only on the DCGM_* families (dcgm-exporter's
#      names), none on gpuops_*;
#   3. both exposition formats: text 0.0.4 by default and OpenMetrics when
#      Accept asks for it (the header Prometheus sends), each with its
#      Content-Type; Prometheus parses what it negotiates (the target is up
#      with no scrape error and ingests every sample of the OpenMetrics body);
#   4. the rules work on the exporter's real series and labels: injected
#      faults fire GpuUncorrectableEccErrors and GpuXidErrors, and the SLO's
#      recorded counts say 3 of 4 GPUs are healthy.
# The simulated node has 4 H200s; GPU 1 runs MIG (the MIG panels), GPU 0 gets
# an XID 13 and an uncorrectable ECC error (the XID panels; the alerts).
# Needs prometheus, promtool and curl: skips without them (a failure under CI=true).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

for tool in prometheus promtool curl; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (Debian packages prometheus, curl: scripts/install-deps)"
done
SRC=${GPUOPS_SOURCE_DIR:?GPUOPS_SOURCE_DIR not set: run through ctest}
: "${GPUOPS_BIN:?GPUOPS_BIN not set: run through ctest}"
QUERIES=$SRC/deploy/grafana/dashboard-queries.txt
RULES=$SRC/deploy/prometheus/gpuops-rules.yml
HOST='prom-node'          # the exporter's Hostname label (--hostname)
GPU_RE='(0|1)'            # Grafana renders a multi-value $gpu as (a|b)
DEADLINE=$((SECONDS + 120)) # for everything that waits on scrapes and rule evaluations

work=$(mktemp -d /tmp/gpuops-prom-XXXXXX)
exporter_pid="" prom_pid=""
cleanup() {
  [ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null && wait "$exporter_pid" 2>/dev/null
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export GPUOPS_SIM_STATE=$work/sim-state.json
unset GPUOPS_SIM_TIME_NS GPUOPS_SIM_NODE

cat >"$work/fleet.yaml" <<'EOF'
fleet: prometheus-test
seed: 11
nodes:
  - name: prom-node
    gpus:
      model: H200
      count: 4
      mig:
        - gpus: [1]
          instances: ["3g.71gb@0", "2g.35gb@4"]
EOF
SIM=(--spec "$work/fleet.yaml" --node prom-node)

# ---- the exporter, on a free port it picks itself ----------------------------
# Started directly, not through lib.sh's gpuops function: $! must be the exporter itself.
"$GPUOPS_BIN" exporter --backend sim "${SIM[@]}" --hostname "$HOST" --listen 127.0.0.1:0 --interval 1000 \
  >"$work/exporter.out" 2>"$work/exporter.err" &
exporter_pid=$!
exporter=""
for _ in $(seq 100); do
  exporter=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/exporter.err" | head -1)
  [ -n "$exporter" ] && break
  kill -0 "$exporter_pid" 2>/dev/null || fail "the exporter exited: $(cat "$work/exporter.err")"
  sleep 0.1
done
[ -n "$exporter" ] || fail "the exporter did not say where it listens: $(cat "$work/exporter.err")"
echo "exporter: $exporter"

# ---- Prometheus, on a free port (probed; retried if taken meanwhile) ---------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: gpuops
    static_configs:
      - targets: ['${exporter#http://}']
EOF
prom=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  port_free "$port" || continue
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 300); do
    if curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then prom="http://127.0.0.1:$port"; break; fi
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$prom" ] && break
  kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; prom_pid=""
  grep -q "address already in use" "$work/prometheus.log" || fail "prometheus did not start: $(tail -5 "$work/prometheus.log")"
done
[ -n "$prom" ] || fail "no free port for prometheus after 5 tries"
echo "prometheus: $prom"

# ---- helpers -------------------------------------------------------------------
# query EXPR: the /api/v1/query answer (JSON) on stdout.
query() { curl -s -G --max-time 10 "$prom/api/v1/query" --data-urlencode "query=$1"; }
# nonempty EXPR: true when the query succeeds with at least one result.
nonempty() {
  local out
  out=$(query "$1")
  [[ $out == *'"status":"success"'* && $out != *'"result":[]'* ]]
}
# wait_for DESCRIPTION EXPR: poll until EXPR has a result, or fail at the deadline.
wait_for() {
  until nonempty "$2"; do
    [ $SECONDS -lt $DEADLINE ] || fail "$1: no result for $2 (last answer: $(query "$2"))"
    sleep 0.5
  done
}
# expand EXPR: the query with Grafana's variables replaced by concrete values.
# shellcheck disable=SC2016 # the $ names are Grafana's, matched literally
expand() {
  local q=$1
  q=${q//'$__rate_interval'/30s}
  q=${q//'$__range'/5m}
  q=${q//'$Hostname'/$HOST}
  q=${q//'$gpu'/$GPU_RE}
  printf '%s' "$q"
}

# ---- the target is up; faults go in ----------------------------------------------
wait_for "the exporter target is up" 'up{job="gpuops"} == 1'
gpuops sim inject "${SIM[@]}" --gpu 0 --xid 13 >/dev/null || fail "sim inject --xid"
gpuops sim inject "${SIM[@]}" --gpu 0 --ecc-uncorrectable >/dev/null || fail "sim inject --ecc-uncorrectable"

# ---- 4. the rules on the real series ---------------------------------------------
wait_for "XID 13 counted" "gpuops_xid_errors_total{hostname=\"$HOST\",gpu=\"0\",xid=\"13\"} >= 1"
wait_for "GpuXidErrors fires" \
  "ALERTS{alertname=\"GpuXidErrors\",alertstate=\"firing\",hostname=\"$HOST\",gpu=\"0\",xid=\"13\"}"
wait_for "GpuUncorrectableEccErrors fires" \
  "ALERTS{alertname=\"GpuUncorrectableEccErrors\",alertstate=\"firing\",Hostname=\"$HOST\",gpu=\"0\"}"
wait_for "the SLO counts 4 GPUs" 'gpuops:gpu:count == 4'
wait_for "the SLO counts 3 healthy GPUs" 'gpuops:gpu_healthy:sum == 3'
nonempty 'ALERTS{alertname="GpuUncorrectableEccErrors",gpu!="0"}' && fail "GpuUncorrectableEccErrors fires on a GPU without errors"
echo "ok: rules fire on the exporter's series"

# ---- 1. every dashboard query returns something -----------------------------------
mapfile -t exprs < <(grep -v '^#' "$QUERIES" | grep -v '^[[:space:]]*$')
[ "${#exprs[@]}" -ge 20 ] || fail "$QUERIES holds only ${#exprs[@]} queries"
pending=("${exprs[@]}")
while [ "${#pending[@]}" -gt 0 ]; do
  still=()
  for e in "${pending[@]}"; do nonempty "$(expand "$e")" || still+=("$e"); done
  pending=("${still[@]}")
  [ "${#pending[@]}" -eq 0 ] && break
  if [ $SECONDS -ge $DEADLINE ]; then
    for e in "${pending[@]}"; do echo "empty: $(expand "$e")" >&2; echo "  answer: $(query "$(expand "$e")")" >&2; done
    fail "${#pending[@]} of ${#exprs[@]} dashboard queries return nothing"
  fi
  sleep 1
done
echo "ok: all ${#exprs[@]} dashboard queries return data"

# The dashboard's variables: label_values(DCGM_FI_DEV_GPU_TEMP, Hostname) and
# label_values(DCGM_FI_DEV_GPU_TEMP{Hostname=~"$Hostname"}, gpu).
labels=$(curl -s -G "$prom/api/v1/label/Hostname/values" --data-urlencode 'match[]=DCGM_FI_DEV_GPU_TEMP')
[[ $labels == *"\"$HOST\""* ]] || fail "\$Hostname would not offer $HOST: $labels"
labels=$(curl -s -G "$prom/api/v1/label/gpu/values" --data-urlencode "match[]=DCGM_FI_DEV_GPU_TEMP{Hostname=~\"$HOST\"}")
[[ $labels == *'"0","1","2","3"'* ]] || fail "\$gpu would not offer GPUs 0..3: $labels"

# ---- 2. promtool check metrics on the text format ---------------------------------
curl -s -D "$work/text.headers" -o "$work/text.prom" "$exporter/metrics" || fail "GET /metrics"
promtool check metrics <"$work/text.prom" >"$work/lint.txt" 2>&1
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "promtool check metrics: exit $rc (a parse error): $(head -5 "$work/lint.txt")"
grep -q . "$work/lint.txt" || echo "note: promtool found nothing to lint"
if grep -v '^DCGM_' "$work/lint.txt" | grep -q .; then
  fail "lint findings outside the DCGM_* families: $(grep -v '^DCGM_' "$work/lint.txt" | sort -u | head -5)"
fi
echo "ok: promtool: $(wc -l <"$work/lint.txt") lint finding(s), all on DCGM_* families"

# ---- 3. both exposition formats --------------------------------------------------
grep -qi '^content-type: text/plain; version=0.0.4' "$work/text.headers" ||
  fail "text format: Content-Type is $(grep -i '^content-type' "$work/text.headers")"
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -s -D "$work/om.headers" -o "$work/om.txt" -H "Accept: $PROM_ACCEPT" "$exporter/metrics" || fail "GET /metrics (OpenMetrics)"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$work/om.headers" ||
  fail "OpenMetrics: Content-Type is $(grep -i '^content-type' "$work/om.headers")"
[ "$(tail -n 1 "$work/om.txt")" = "# EOF" ] || fail "OpenMetrics: the body does not end with # EOF"
targets=$(curl -s "$prom/api/v1/targets")
[[ $targets == *'"health":"up"'* && $targets == *'"lastError":""'* ]] || fail "the target is not cleanly up: $targets"
# Prometheus ingested every sample of the OpenMetrics body (the series set is stable now).
om_samples=$(grep -vc '^#' "$work/om.txt")
text_samples=$(grep -vc '^#' "$work/text.prom")
[ "$om_samples" -eq "$text_samples" ] || fail "OpenMetrics has $om_samples samples, text $text_samples"
wait_for "Prometheus ingests all $om_samples samples" "scrape_samples_scraped{job=\"gpuops\"} == $om_samples"
echo "ok: text 0.0.4 and OpenMetrics ($om_samples samples each)"
