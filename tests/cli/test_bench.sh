#!/usr/bin/env bash
# test_bench.sh — `gpuops bench` end to end on the CPU (--cpu: the CI machine
# has no GPU, and a developer's GPU would make it slow): listing, bad input
# (exit 2 naming the valid choices), a CPU run saved as a baseline and gated
# against itself, and a GPU baseline (bench/h200.json) refused for a CPU run.
# No timing is asserted: the gate's threshold is set far above any noise.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d /tmp/gpuops-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
src=${GPUOPS_SOURCE_DIR:?}

out=$(gpuops bench --list) || fail "--list exit $?"
grep -q "^softmax .*2-regs" <<<"$out" || fail "--list lacks softmax 2-regs: $out"

err=$(gpuops bench --kernel nope 2>&1); rc=$?
[ $rc = 2 ] || fail "unknown kernel: exit $rc, want 2"
grep -q "valid kernels: reduce, transpose, softmax, layernorm, rmsnorm" <<<"$err" || fail "unknown kernel: $err"
err=$(gpuops bench --kernel softmax --variant 42 2>&1); rc=$?
[ $rc = 2 ] || fail "unknown variant: exit $rc, want 2"
grep -q "0-naive, 1-block, 2-regs" <<<"$err" || fail "unknown variant: $err"
err=$(gpuops bench --kernel reduce --size 3x3 2>&1); rc=$?
[ $rc = 2 ] || fail "unknown size: exit $rc, want 2"
grep -q "valid sizes: 2^28, 2^22, 1000003" <<<"$err" || fail "unknown size: $err"
err=$(gpuops bench --format xml 2>&1); rc=$?
[ $rc = 2 ] || fail "--format xml: exit $rc, want 2"

# A CPU run of two kernels, saved as a baseline, as JSON.
gpuops bench --cpu --kernel reduce --max-time 0.2 --format json -o "$tmp/run.json" \
  --save-baseline "$tmp/base.json" 2>"$tmp/err" || fail "CPU run: exit $? $(cat "$tmp/err")"
grep -q '"mode": "cpu"' "$tmp/run.json" || fail "run.json: no cpu mode"
grep -q '"gpu": "CPU"' "$tmp/run.json" || fail "run.json: not labelled CPU"
grep -q '"variant": "cpu-ref"' "$tmp/base.json" || fail "base.json: no cpu-ref row"
grep -q "labelled CPU" "$tmp/err" || fail "no notice of the CPU fallback: $(cat "$tmp/err")"

# The gate against that baseline: same model, nothing can regress by 900 %.
gpuops bench --cpu --kernel reduce --max-time 0.2 --baseline "$tmp/base.json" --threshold 900 \
  >"$tmp/table" 2>"$tmp/err" || fail "gate against itself: exit $? $(cat "$tmp/err")"
grep -q "1 compared, 0 regressions" "$tmp/err" || fail "gate summary: $(cat "$tmp/err")"

# The H200 baseline is refused for a CPU run, naming both.
err=$(gpuops bench --cpu --kernel reduce --max-time 0.2 --baseline "$src/bench/h200.json" 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] || fail "H200 baseline on CPU: exit $rc, want 2 ($err)"
grep -q "refused" <<<"$err" && grep -q "NVIDIA H200" <<<"$err" || fail "refusal message: $err"

# A file that is not a bench file: exit 2 naming it.
echo '{"schema": "x"}' >"$tmp/bad.json"
err=$(gpuops bench --cpu --kernel reduce --baseline "$tmp/bad.json" 2>&1); rc=$?
[ $rc = 2 ] || fail "bad baseline: exit $rc, want 2"
grep -q "bad.json" <<<"$err" || fail "bad baseline message: $err"

# Markdown output.
gpuops bench --cpu --kernel rmsnorm --max-time 0.1 --format markdown 2>/dev/null | grep -q "^| kernel | size |" ||
  fail "markdown table"
echo ok
