#!/usr/bin/env bash
# test_serve.sh — `gpuops serve` end to end on loopback: the KServe v2
# endpoints driven by curl (JSON and binary requests, numbers checked against
# `gpuops model run --input`, the double-precision reference), by
# `gpuops load`, and abused (malformed JSON, wrong shapes and datatypes,
# oversized bodies, a slow client, 10x overload): clear 4xx/503 answers, the
# server alive, its RSS bounded; then SIGTERM drains with requests in flight.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl is not installed (scripts/install-deps)"
command -v jq >/dev/null || skip "jq is not installed (scripts/install-deps)"

T=$(mktemp -d /tmp/gpuops-serve-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# start NAME DIR ARGS...: serve DIR on a free port; sets URL and PID.
start() {
  local name=$1 dir=$2
  shift 2
  "${GPUOPS_BIN:?}" serve "$dir" --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do
    URL=$(grep -o 'http://[^ ]*' "$T/$name.out" 2>/dev/null || true)
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || fail "serve $name died: $(cat "$T/$name.err")"
    sleep 0.05
  done
  fail "serve $name printed no ready line"
}

# code METHOD URL [curl args...]: the HTTP status; the body goes to $T/body.
code() {
  local m=$1 u=$2
  shift 2
  curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$u" "$@"
}

# close A B: |a - b| <= 1e-5 * max(1, |b|), elementwise over two JSON arrays.
close() {
  jq -n --argjson a "$1" --argjson b "$2" \
    '[$a, $b] | transpose | all(((.[0] - .[1]) | fabs) <= 1e-5 * ([1, (.[1] | fabs)] | max))' | grep -qx true
}

# --- models ---
gpuops model create --layers 4,8,3 --dtype f32 --seed 3 --max-batch-size 8 -o "$T/tiny" >/dev/null
gpuops model create --type identity --width 3 --datatype FP16 -o "$T/half" >/dev/null
gpuops model create --type sleep --width 2 --service-us 2000 -o "$T/slow" >/dev/null

# --- bad settings: usage errors, exit 2 ---
set +e
gpuops serve "$T/tiny" --timeout-action later >/dev/null 2>"$T/e"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "reject or delay" "$T/e" || fail "--timeout-action later: exit $rc, $(cat "$T/e")"
set +e
gpuops serve "$T/tiny" --preferred-batch-size 99 >/dev/null 2>"$T/e"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "preferred batch size 99" "$T/e" || fail "preferred above max: exit $rc, $(cat "$T/e")"
set +e
gpuops serve "$T/half" --device gpu >/dev/null 2>"$T/e"; rc=$?
set -e
[ $rc -eq 3 ] || fail "--device gpu for a test model: exit $rc (want 3), $(cat "$T/e")"

# --- the MLP: endpoints, JSON numbers against the reference ---
start tiny "$T/tiny" --max-queue-delay-us 1000 --instances 2 --max-body-bytes 4096 --client-timeout 1
TINY=$URL
[ "$(code GET "$URL/v2/health/live")" = 200 ] || fail "live"
[ "$(code GET "$URL/v2/health/ready")" = 200 ] || fail "ready"
[ "$(code GET "$URL/v2")" = 200 ] && jq -e '.extensions | index("binary_tensor_data")' "$T/body" >/dev/null || fail "/v2: $(cat "$T/body")"
[ "$(code GET "$URL/v2/models/tiny")" = 200 ] || fail "metadata"
jq -e '.inputs[0].name == "INPUT0" and .inputs[0].shape == [-1, 4] and .outputs[0].shape == [-1, 3]' "$T/body" >/dev/null ||
  fail "metadata: $(cat "$T/body")"
[ "$(code GET "$URL/v2/models/tiny/ready")" = 200 ] || fail "model ready"
[ "$(code GET "$URL/v2/models/nope/ready")" = 404 ] && jq -e '.error | test("unknown model")' "$T/body" >/dev/null || fail "unknown model"

REQ='{"id":"r1","inputs":[{"name":"INPUT0","shape":[3,4],"datatype":"FP32","data":[0.5,-1,2,0.25,1,1,1,1,-0.3,0.7,0.1,-2]}]}'
echo "$REQ" >"$T/req.json"
[ "$(code POST "$URL/v2/models/tiny/infer" --data-binary @"$T/req.json")" = 200 ] || fail "infer: $(cat "$T/body")"
got=$(jq -c '.outputs[0].data' "$T/body")
jq -e '.id == "r1" and .outputs[0].shape == [3, 3] and .outputs[0].datatype == "FP32"' "$T/body" >/dev/null || fail "response: $(cat "$T/body")"
want=$(gpuops model run "$T/tiny" --input "$T/req.json" | jq -c '.outputs[0].data')
close "$got" "$want" || fail "server $got vs reference $want"
echo "JSON infer matches the reference: $got"

# binary: the same input as little-endian FP32 after the JSON header, output asked as binary
H='{"inputs":[{"name":"INPUT0","shape":[3,4],"datatype":"FP32","parameters":{"binary_data_size":48}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}'
# the FP32 bytes of the input: ask the server for them as binary output of a JSON request
# to an FP32 identity model (JSON in, binary out), then send them back in as binary input.
gpuops model create --type identity --width 4 -o "$T/echo" >/dev/null
start echo "$T/echo"
ECHO=$URL
curl -s -D "$T/h" -o "$T/echo.bin" -X POST "$ECHO/v2/models/echo/infer" \
  --data-binary "$(jq -c '.parameters = {"binary_data_output": true}' "$T/req.json")"
hl=$(tr -d '\r' <"$T/h" | awk -F': ' 'tolower($1) == "inference-header-content-length" {print $2}')
[ -n "$hl" ] || fail "binary response without Inference-Header-Content-Length"
[ "$(($(stat -c %s "$T/echo.bin") - hl))" = 48 ] || fail "binary output is not 48 bytes"
{ printf '%s' "$H"; tail -c 48 "$T/echo.bin"; } >"$T/bin.req"
curl -s -D "$T/h2" -o "$T/bin.resp" -X POST "$TINY/v2/models/tiny/infer" --data-binary @"$T/bin.req" \
  -H "Inference-Header-Content-Length: ${#H}" -H "Content-Type: application/octet-stream"
hl2=$(tr -d '\r' <"$T/h2" | awk -F': ' 'tolower($1) == "inference-header-content-length" {print $2}')
[ -n "$hl2" ] || fail "binary infer: $(cat "$T/bin.resp")"
head -c "$hl2" "$T/bin.resp" | jq -e '.outputs[0].parameters.binary_data_size == 36' >/dev/null || fail "binary header"
# read the 9 output floats back through the FP32 echo model (binary in, JSON out)
H3='{"inputs":[{"name":"INPUT0","shape":[3,4],"datatype":"FP32","parameters":{"binary_data_size":48}}]}'
{ printf '%s' "$H3"; tail -c 36 "$T/bin.resp"; head -c 12 /dev/zero; } >"$T/back.req"
curl -s -o "$T/back.json" -X POST "$ECHO/v2/models/echo/infer" --data-binary @"$T/back.req" \
  -H "Inference-Header-Content-Length: ${#H3}"
gotb=$(jq -c '.outputs[0].data[0:9]' "$T/back.json")
close "$gotb" "$want" || fail "binary infer $gotb vs reference $want"
echo "binary infer matches the reference"

# FP16 only travels as binary: bytes in = bytes out through the FP16 identity model
start half "$T/half"
HF='{"inputs":[{"name":"INPUT0","shape":[2,3],"datatype":"FP16","parameters":{"binary_data_size":12}}],"parameters":{"binary_data_output":true}}'
printf '\x00\x3c\x00\xc0\x01\x00\x00\x7e\xff\x7b\x00\x80' >"$T/f16"
{ printf '%s' "$HF"; cat "$T/f16"; } >"$T/f16.req"
curl -s -o "$T/f16.resp" -X POST "$URL/v2/models/half/infer" --data-binary @"$T/f16.req" -H "Inference-Header-Content-Length: ${#HF}"
cmp -s <(tail -c 12 "$T/f16.resp") "$T/f16" || fail "FP16 bytes changed on the way"
[ "$(code POST "$URL/v2/models/half/infer" -d '{"inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"FP16","data":[1,2,3]}]}')" = 400 ] &&
  jq -e '.error | test("binary")' "$T/body" >/dev/null || fail "FP16 as JSON: $(cat "$T/body")"

# --- abuse: clear errors, server alive ---
infer() { code POST "$TINY/v2/models/tiny/infer" "$@"; }
[ "$(infer -d '{"inputs":[{"name":"INPUT0",')" = 400 ] && jq -e '.error | test("malformed JSON")' "$T/body" >/dev/null || fail "malformed: $(cat "$T/body")"
[ "$(infer -d '{"inputs":[{"name":"INPUT0","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}')" = 400 ] &&
  jq -e '.error | test("unexpected shape")' "$T/body" >/dev/null || fail "shape: $(cat "$T/body")"
[ "$(infer -d '{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"INT32","data":[1,2,3,4]}]}')" = 400 ] &&
  jq -e '.error | test("data-type")' "$T/body" >/dev/null || fail "datatype: $(cat "$T/body")"
[ "$(infer -d '{"inputs":[{"name":"INPUT0","shape":[9,4],"datatype":"FP32","data":[]}]}')" = 400 ] || fail "batch above max"
[ "$(infer -d '{"inputs":[{"name":"X","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}')" = 400 ] || fail "input name"
head -c 5000 /dev/zero | tr '\0' ' ' >"$T/big"
[ "$(infer --data-binary @"$T/big")" = 413 ] && jq -e '.error | test("limit of 4096")' "$T/body" >/dev/null || fail "oversized: $(cat "$T/body")"
[ "$(code GET "$TINY/v2/models/tiny/infer")" = 405 ] || fail "GET infer"
[ "$(code GET "$TINY/nowhere")" = 404 ] || fail "404"
# a slow client (half a request line, then silence) is dropped after --client-timeout 1
port=${TINY##*:}
exec 9<>/dev/tcp/127.0.0.1/"$port"
printf 'POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"in' >&9
start_s=$(date +%s)
timeout 10 cat <&9 >/dev/null || fail "the slow connection was not closed within 10 s"
exec 9<&-
[ $(($(date +%s) - start_s)) -le 5 ] || fail "slow client held more than 5 s"
[ "$(infer --data-binary @"$T/req.json")" = 200 ] || fail "server not answering after abuse"

# --- gpuops load, closed loop ---
gpuops load "$TINY/v2/models/tiny/infer" --body "$T/req.json" --concurrency 4 --duration 1 --format json >"$T/load.json"
jq -e '.summary.ok > 20 and ([.summary.errors[]] | add) == 0' "$T/load.json" >/dev/null || fail "load: $(cat "$T/load.json")"
curl -s "$TINY/metrics" >"$T/metrics"
grep -q '^nv_inference_request_success{model="tiny",version="1"} [1-9]' "$T/metrics" || fail "metrics: success"
grep -q '^nv_inference_request_failure{model="tiny",reason="OTHER",version="1"} [1-9]' "$T/metrics" || fail "metrics: failures"
for m in nv_inference_count nv_inference_exec_count nv_inference_request_duration_us nv_inference_queue_duration_us \
  nv_inference_compute_input_duration_us nv_inference_compute_infer_duration_us nv_inference_compute_output_duration_us \
  nv_inference_pending_request_count; do
  grep -q "^$m{model=\"tiny\",version=\"1\"} " "$T/metrics" || fail "metrics: no $m"
done
[ "$(code GET "$TINY/v2/models/tiny/stats")" = 200 ] || fail "stats"
jq -e '.model_stats[0] | .name == "tiny" and .inference_stats.success.count > 20 and (.batch_stats | length) > 0' "$T/body" >/dev/null ||
  fail "stats: $(cat "$T/body")"
# batching happened: fewer executions than rows
jq -e '.model_stats[0] | .execution_count < .inference_count' "$T/body" >/dev/null || fail "no batching: $(cat "$T/body")"

# --- 10x overload: a 2 ms model (<= 500 batches/s), queue of 8 ---
echo '{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP32","data":[1,2]}]}' >"$T/slow.json"
start slow "$T/slow" --max-batch-size 1 --max-queue-size 8
SLOW=$URL
SLOW_PID=$PID
gpuops load "$SLOW/v2/models/slow/infer" --body "$T/slow.json" --rate 5000 --duration 2 --connections 64 --timeout 5 \
  --format json >"$T/over.json" || true
jq -e '.summary.ok > 100 and .summary.errors.http_5xx > 1000' "$T/over.json" >/dev/null || fail "overload: $(jq -c .summary "$T/over.json")"
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$SLOW_PID/status")
[ "$rss_kb" -lt 204800 ] || fail "RSS under overload $rss_kb kB"
curl -s "$SLOW/metrics" | grep -q '^nv_inference_request_failure{model="slow",reason="REJECTED",version="1"} [1-9]' || fail "rejections not counted"
[ "$(code POST "$SLOW/v2/models/slow/infer" --data-binary @"$T/slow.json")" = 200 ] || fail "slow server dead after overload"
echo "overload: $(jq -c '{ok: .summary.ok, rejected: .summary.errors.http_5xx}' "$T/over.json"), RSS ${rss_kb} kB"

# timeouts: a 50 ms model, 10 ms queue timeout: the requests behind the first -> 503
gpuops model create --type sleep --width 2 --service-us 50000 -o "$T/late" >/dev/null
start late "$T/late" --max-batch-size 1 --default-timeout-us 10000
LATE=$URL
for i in 1 2 3 4; do curl -s -o "$T/late$i" -w '%{http_code}\n' -X POST "$LATE/v2/models/late/infer" --data-binary @"$T/slow.json" & done >"$T/late.codes"
wait_codes() { for _ in $(seq 100); do [ "$(wc -l <"$T/late.codes")" -ge 4 ] && return; sleep 0.05; done; }
wait_codes
grep -q 503 "$T/late.codes" || fail "no request timed out: $(cat "$T/late.codes")"
grep -l "timeout expired" "$T"/late? >/dev/null || fail "timeout message"

# --- SIGTERM drains: requests in flight all answered, exit 0 ---
gpuops model create --type sleep --width 2 --service-us 300000 -o "$T/drain" >/dev/null
start drain "$T/drain" --max-batch-size 1
DRAIN=$URL
DRAIN_PID=$PID
for i in 1 2 3; do
  curl -s -o "$T/d$i" -w '%{http_code}\n' -X POST "$DRAIN/v2/models/drain/infer" --data-binary @"$T/slow.json" >>"$T/drain.codes" &
done
sleep 0.2
kill -TERM "$DRAIN_PID"
set +e
wait "$DRAIN_PID"
rc=$?
set -e
[ $rc -eq 0 ] || fail "serve exited $rc after SIGTERM: $(cat "$T/drain.err")"
for _ in $(seq 50); do [ "$(wc -l <"$T/drain.codes")" -ge 3 ] && break; sleep 0.05; done
[ "$(grep -c '^200$' "$T/drain.codes")" = 3 ] || fail "drain lost requests: $(cat "$T/drain.codes")"
curl -s -m 2 "$DRAIN/v2/health/live" >/dev/null && fail "still accepting after the drain"
grep -q draining "$T/drain.err" || fail "no drain message"
echo "PASS test_serve"
