#!/usr/bin/env bash
# test_tune.sh — `gpuops tune` end to end, against the real `gpuops serve`
# and against fake_kserve.
# gpuops serve runs the "sleep" test model (2 ms per batch + 20 us per row):
# at max_batch_size 1 it serves about 1 / 2.02 ms = 495 req/s, at 8 up to
# 8 / 2.16 ms = 3700 req/s, so with a closed loop up to 64 in flight the
# tuner must pick b=8.
# fake_kserve (tests/fakes/fake_kserve.c) takes serve's flags and its
# capacity is known from them: instances workers,
# each busy service_us * (1 + 1/max_batch_size) / 2 per request (10 ms at
# batch 1, 6.25 ms at batch 4: long, so the fake needs little CPU on a shared
# machine). On the grid batch {1,4} x instances {1,2} the capacities are
# 100, 160, 200 and 320 req/s, so the tuner must pick b=4 i=2 (the margin,
# 1.6x, is far above this machine's noise).
# The SLAs are on p90, not p99: a single descheduling of this shared machine
# in a short window must not make a configuration miss.
# Also: bad input exits 2, a server that never gets ready exits 3, an SLA
# no configuration meets exits 1; servers are stopped (no process left).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

fake=${GPUOPS_FAKE_KSERVE:?GPUOPS_FAKE_KSERVE not set: run through ctest}
tmp=$(mktemp -d /tmp/gpuops-tune-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/mlp"
export FAKE_KSERVE_SERVICE_US=10000
quick=(--window 0.3 --duration 1.5 --log-dir "$tmp/logs")

expect() { # expect RC PATTERN ARGS...
  local want=$1 pat=$2; shift 2
  local err rc
  err=$(gpuops tune "$@" 2>&1 >/dev/null); rc=$?
  [ $rc = "$want" ] || fail "tune $*: exit $rc, want $want ($err)"
  grep -q -- "$pat" <<<"$err" || fail "tune $*: message lacks '$pat': $err"
}
expect 2 "--sla is required" "$tmp/mlp"
expect 2 "is not a directory" "$tmp/none" --sla p99=5ms
expect 2 "--batch-sizes '1,x'" "$tmp/mlp" --sla p99=5ms --batch-sizes 1,x
expect 2 "--cpu-list" "$tmp/mlp" --sla p99=5ms --cpu-list 0
expect 2 "cannot create it" "$tmp/mlp" --sla p99=5ms --log-dir "$tmp/no/such/dir"
expect 2 "cannot start" "$tmp/mlp" --sla p99=5ms --serve-cmd "$tmp/no-such-binary" "${quick[@]}"
expect 3 "exited before it was ready" "$tmp/mlp" --sla p99=5ms --serve-cmd /bin/true \
  --batch-sizes 1 --delays-us 0 --instances 1 "${quick[@]}"

# The grid: the tuner must find b=4 i=2.
gpuops tune "$tmp/mlp" --sla p90=100ms --serve-cmd "$fake" --batch-sizes 1,4 --delays-us 0 \
  --instances 1,2 --local-steps 0 --concurrency-range 1:40 "${quick[@]}" --format csv \
  -o "$tmp/t.csv" --chart "$tmp/t.svg" 2>"$tmp/err" || fail "tune: exit $? $(tail -5 "$tmp/err")"
[ "$(wc -l <"$tmp/t.csv")" = 5 ] || fail "CSV: want header + 4 configurations: $(cat "$tmp/t.csv")"
tr -d "\r" <"$tmp/t.csv" | grep -q "^b=4 d=0us i=2,4,0,2,grid,.*,best$" || fail "best is not b=4 i=2: $(cat "$tmp/t.csv")"
grep -q "best: b=4 d=0us i=2" "$tmp/err" || fail "no verdict line: $(tail -3 "$tmp/err")"
[ "$(grep -c "<polyline" "$tmp/t.svg")" = 4 ] || fail "chart: want one curve per configuration"
ls "$tmp"/logs/serve-*.log >/dev/null || fail "no server logs in --log-dir (created when missing)"
pgrep -f "$tmp/mlp" >/dev/null && fail "a server is still running"

# The real server: batching must win.
gpuops model create --type sleep --width 16 --service-us 2000 --per-row-us 20 -o "$tmp/sleepy" \
  >/dev/null || fail "model create: exit $?"
gpuops tune "$tmp/sleepy" --sla p90=50ms --device cpu --batch-sizes 1,8 --delays-us 0 --instances 1 \
  --local-steps 0 --concurrency-range 1:64 "${quick[@]}" --format json -o "$tmp/real.json" \
  2>"$tmp/err" || fail "tune against gpuops serve: exit $? $(tail -5 "$tmp/err")"
grep -q "best: b=8 d=0us i=1" "$tmp/err" || fail "gpuops serve: b=8 should win: $(grep -E "^(best|tune)" "$tmp/err")"
grep -q '"best": 1' "$tmp/real.json" || fail "JSON best is not the second trial"
grep -q "server exit 0" "$tmp/err" || fail "gpuops serve did not drain and exit 0 on SIGTERM"
pgrep -f "$tmp/sleepy" >/dev/null && fail "a gpuops serve is still running"

# An SLA below the service time: no configuration meets it.
out=$(gpuops tune "$tmp/mlp" --sla p50=5ms --serve-cmd "$fake" --batch-sizes 4 --delays-us 0 \
  --instances 2 --local-steps 0 --concurrency-range 1:4 "${quick[@]}" 2>/dev/null); rc=$?
[ $rc = 1 ] || fail "unmeetable SLA: exit $rc, want 1: $out"
grep -q "no configuration meets p50<=5ms" <<<"$out" || fail "unmeetable SLA: $out"
echo "PASS"
