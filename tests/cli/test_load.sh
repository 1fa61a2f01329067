#!/usr/bin/env bash
# test_load.sh — `gpuops load` end to end against fake_kserve (a KServe v2
# server on loopback with a fixed service time, tests/fakes/fake_kserve.c):
# bad input (ranges, SLA strings, schedules with file:line, option clashes)
# exits 2 with the reason; an unreachable server exits 3; --model bodies
# (JSON and binary) are accepted by the server, which checks their shape;
# an unknown model is a clear error; the real gpuops serve accepts both
# encodings too; a sweep gives one row per load and a
# chart; a fixed schedule sends its count; an SLA no load can meet exits 1,
# and one every load meets reports the top of the range.
# No timing is asserted beyond the server's 2 ms service time vs a 1 ms SLA.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

fake=${GPUOPS_FAKE_KSERVE:?GPUOPS_FAKE_KSERVE not set: run through ctest}
tmp=$(mktemp -d /tmp/gpuops-load-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# --- bad input: exit 2 with the reason --------------------------------------
expect2() { # expect2 PATTERN ARGS...: exit 2 and PATTERN in stderr
  local pat=$1; shift
  local err rc
  err=$(gpuops load "$@" 2>&1 >/dev/null); rc=$?
  [ $rc = 2 ] || fail "load $*: exit $rc, want 2 ($err)"
  grep -q -- "$pat" <<<"$err" || fail "load $*: message lacks '$pat': $err"
}
u=http://127.0.0.1:1/
expect2 "the start 10 is above the end 5" $u --rate-range 10:5
expect2 "the step 0 is out of range" $u --concurrency-range 1:8:0
expect2 "is not a whole number" $u --concurrency-range 1.5:8
expect2 "not one of p50, p90, p95, p99, p99.9" $u --rate-range 1:10 --sla p42=5ms
expect2 "is not a latency with a unit" $u --rate-range 1:10 --sla p99=5
expect2 "give --rate-range" $u --sla p99=5ms
expect2 "give one of --rate, --rate-range, --schedule" $u --rate 5 --rate-range 1:10
expect2 "not both" $u --rate 5 --concurrency 2
expect2 "--chart draws a sweep" $u --rate 5 --chart "$tmp/x.svg"
printf '1000\n2000\nfast\n' >"$tmp/bad.sched"
expect2 "bad.sched:3:" $u --schedule "$tmp/bad.sched"
expect2 "cannot open\|No such file" $u --schedule "$tmp/none.sched"

# --- unreachable: exit 3 ------------------------------------------------------
err=$(gpuops load $u --duration 0.2 2>&1); rc=$?
[ $rc = 3 ] || fail "unreachable single run: exit $rc, want 3 ($err)"
grep -q "nothing answers there" <<<"$err" || fail "unreachable: $err"
err=$(gpuops load $u --rate-range 10:100:10 --sla p99=50ms --duration 3 2>&1); rc=$?
[ $rc = 3 ] || fail "unreachable SLA search: exit $rc, want 3 ($err)"
err=$(gpuops load $u --model m --duration 1 2>&1); rc=$?
[ $rc = 3 ] || fail "unreachable metadata: exit $rc, want 3 ($err)"

# --- a server ---------------------------------------------------------------
"$fake" serve "$tmp/md" --listen 127.0.0.1:0 --service-us 2000 >"$tmp/fake.out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$tmp/fake.out" && break; sleep 0.1; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/fake.out")
[ -n "$base" ] || fail "fake_kserve did not start: $(cat "$tmp/fake.out")"

# KServe bodies, JSON and binary: the server checks shapes and sizes (400 otherwise).
for enc in "" --binary; do
  gpuops load "$base" --model md --batch 4 $enc --concurrency 2 --duration 0.5 --format json \
    -o "$tmp/m.json" 2>"$tmp/err" || fail "--model $enc: exit $? $(cat "$tmp/err")"
  grep -q '"http_4xx": 0' "$tmp/m.json" || fail "--model $enc: rejected bodies: $(cat "$tmp/m.json")"
  grep -q '"ok": 0,' "$tmp/m.json" && fail "--model $enc: no answer"
done
err=$(gpuops load "$base" --model nope --duration 0.5 2>&1); rc=$?
[ $rc = 2 ] || fail "unknown model: exit $rc, want 2 ($err)"
grep -q "no model 'nope'" <<<"$err" || fail "unknown model: $err"

# The real server (a sleep model, 100 us per batch) takes both encodings.
gpuops model create --type sleep --width 16 --service-us 100 -o "$tmp/sl" >/dev/null || fail "model create"
gpuops serve "$tmp/sl" --listen 127.0.0.1:0 --device cpu >"$tmp/serve.out" 2>&1 &
spid=$!
for _ in $(seq 100); do grep -q "ready at" "$tmp/serve.out" && break; sleep 0.1; done
sbase=$(sed -n 's/.*ready at \(http[^ ]*\).*/\1/p' "$tmp/serve.out")
[ -n "$sbase" ] || { kill $spid; fail "gpuops serve did not start: $(cat "$tmp/serve.out")"; }
for enc in "" --binary; do
  gpuops load "$sbase" --model sl --batch 3 $enc --concurrency 4 --duration 0.5 --format json \
    -o "$tmp/m.json" 2>"$tmp/err" || { kill $spid; fail "serve --model $enc: exit $? $(cat "$tmp/err")"; }
  grep -q '"http_4xx": 0' "$tmp/m.json" || { kill $spid; fail "serve rejected $enc bodies"; }
  grep -q '"ok": 0,' "$tmp/m.json" && { kill $spid; fail "serve --model $enc: no answer"; }
done
kill $spid; wait $spid 2>/dev/null

# A sweep: one CSV row per concurrency (perf_analyzer's columns), and a chart.
gpuops load "$base/v2/health/ready" --concurrency-range 1:3 --window 0.2 --duration 0.6 \
  --format csv -o "$tmp/sweep.csv" --chart "$tmp/sweep.svg" 2>"$tmp/err" ||
  fail "sweep: exit $? $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/sweep.csv")" = 4 ] || fail "sweep CSV: want header + 3 rows: $(cat "$tmp/sweep.csv")"
head -1 "$tmp/sweep.csv" | grep -q "^Concurrency,Inferences/Second" || fail "CSV header"
cut -d, -f1 "$tmp/sweep.csv" | tail -3 | tr '\n' ' ' | grep -q "^1 2 3 $" || fail "loads: $(cat "$tmp/sweep.csv")"
grep -q "<svg" "$tmp/sweep.svg" && [ "$(grep -c "<polyline" "$tmp/sweep.svg")" = 3 ] ||
  fail "chart: want 3 curves (p50, p99, uncorrected p99)"

# A fixed schedule: gaps of 5 ms and 15 ms cycled = 100 req/s, so 1 s sends about 100.
printf '# gaps\n5ms\n15000\n' >"$tmp/ok.sched"
gpuops load "$base/v2/health/ready" --schedule "$tmp/ok.sched" --duration 1 --format json \
  -o "$tmp/s.json" 2>"$tmp/err" || fail "schedule: exit $? $(cat "$tmp/err")"
sent=$(sed -n 's/^  "sent": \([0-9]*\),/\1/p' "$tmp/s.json")
[ -n "$sent" ] && [ "$sent" -ge 95 ] && [ "$sent" -le 101 ] || fail "schedule sent '$sent', want ~100"
grep -q '"rate_rps": 100' "$tmp/s.json" || fail "schedule rate: $(grep rate "$tmp/s.json")"

# An SLA the 2 ms service time cannot meet: exit 1, said so.
out=$(gpuops load "$base" --model md --concurrency-range 1:4 --sla p50=1ms --window 0.2 \
  --duration 0.6 2>/dev/null); rc=$?
[ $rc = 1 ] || fail "unmeetable SLA: exit $rc, want 1: $out"
grep -q "missed even at the lowest concurrency, 1" <<<"$out" || fail "unmeetable SLA: $out"
# One every load meets: the top of the range, as JSON.
gpuops load "$base" --model md --concurrency-range 1:2 --sla p99=5s --window 0.2 --duration 0.6 \
  --format json -o "$tmp/sla.json" 2>"$tmp/err" || fail "easy SLA: exit $? $(cat "$tmp/err")"
grep -q '"best_load": 2' "$tmp/sla.json" || fail "easy SLA: $(head -12 "$tmp/sla.json")"
grep -q '"meets_sla": true' "$tmp/sla.json" || fail "easy SLA: no point meets"
echo "PASS"
