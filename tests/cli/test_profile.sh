#!/usr/bin/env bash
# test_profile.sh — `gpuops profile` end to end without a GPU: a command that
# does not exist (exit 3, clear message), a program without CUDA (an empty
# profile with a note, exit 0), the program's own exit status passed through,
# usage errors (exit 2), saved records rendered (--records) and a truncated
# record file refused (exit 2, naming line and byte), and the dossier's
# profile section. Needs libgpuops_inject.so (built when the CUDA toolkit's
# CUPTI headers are there; CI has them, so a missing library fails there).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d /tmp/gpuops-profile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fix=${GPUOPS_FIXTURES:?}/profile
[ -f "${GPUOPS_BUILD_DIR:?}/libgpuops_inject.so" ] ||
  skip "libgpuops_inject.so not built (no CUPTI headers): install the CUDA toolkit"

err=$(gpuops profile -o "$tmp/x" -- no-such-command-gpuops 2>&1); rc=$?
[ $rc = 3 ] || fail "missing command: exit $rc, want 3 ($err)"
grep -q "cannot run 'no-such-command-gpuops': No such file or directory" <<<"$err" || fail "missing command: $err"

out=$(gpuops profile -o "$tmp/true" -- true 2>&1); rc=$?
[ $rc = 0 ] || fail "true: exit $rc, want 0 ($out)"
for f in trace.json summary.json summary.txt flamegraph.svg findings.json findings.txt; do
  [ -s "$tmp/true/$f" ] || fail "true: $f missing or empty"
done
[ -f "$tmp/true/stacks.folded" ] && [ ! -s "$tmp/true/stacks.folded" ] || fail "true: stacks.folded not empty"
grep -q "no CUDA activity recorded" "$tmp/true/summary.json" || fail "true: no note in summary.json"
grep -q '"launches": 0' "$tmp/true/summary.json" || fail "true: launches not 0"
grep -q "no kernel ran" "$tmp/true/flamegraph.svg" || fail "true: flamegraph does not say it is empty"
[ "$(cat "$tmp/true/findings.json")" = "[]" ] || fail "true: findings not empty"

gpuops profile -q -o "$tmp/seven" -- sh -c 'exit 7' >/dev/null 2>&1; rc=$?
[ $rc = 7 ] || fail "exit status not passed through: $rc, want 7"
gpuops profile -q -o "$tmp/killed" -- sh -c 'kill -SEGV $$' >/dev/null 2>&1; rc=$?
[ $rc = 139 ] || fail "a program killed by SIGSEGV: exit $rc, want 139"
grep -q "killed by signal 11" "$tmp/killed/summary.json" || fail "the signal is not noted"

err=$(gpuops profile 2>&1); rc=$?
[ $rc = 2 ] || fail "no command: exit $rc, want 2"
grep -q "missing the command" <<<"$err" || fail "no command: $err"
err=$(gpuops profile --sample-ms x -- true 2>&1); rc=$?
[ $rc = 2 ] || fail "--sample-ms x: exit $rc, want 2"

out=$(gpuops profile --records "$fix/streams" -o "$tmp/streams" 2>&1) || fail "--records streams: $out"
grep -q "matmul(float\*, float\*, int) *2 " <<<"$out" || fail "--records: summary table: $out"
grep -q "train_step;forward;relu 100000" "$tmp/streams/stacks.folded" || fail "--records: folded stacks"
err=$(gpuops profile --records "$fix/truncated" -o "$tmp/t" 2>&1); rc=$?
[ $rc = 2 ] || fail "truncated records: exit $rc, want 2"
grep -q "rec.300.jsonl:3 (byte 288): truncated record" <<<"$err" || fail "truncated: $err"

# NVML counters through the simulated backend (asked for: never a silent fallback), saved with the records.
export GPUOPS_SIM_STATE=$tmp/sim-state.json
gpuops profile -q --backend sim --sample-ms 20 -o "$tmp/sim" -- sleep 0.2 >/dev/null || fail "--backend sim run"
[ -s "$tmp/sim/records/nvml-samples.json" ] || fail "samples not saved beside the records"
grep -q '"name":"SM clock MHz","ph":"C"' "$tmp/sim/trace.json" || fail "no SM clock counter track"
grep -q "SIMULATED" "$tmp/sim/summary.json" || fail "simulated samples not labelled"
gpuops profile -q --records "$tmp/sim/records" -o "$tmp/sim2" >/dev/null || fail "--records of the sim run"
grep -q '"name":"SM clock MHz","ph":"C"' "$tmp/sim2/trace.json" || fail "--records lost the counter tracks"

gpuops dossier --backend sim -o "$tmp/dossier" --profile "$tmp/streams" >"$tmp/dossier.log" 2>&1 ||
  fail "dossier --profile DIR: $(tail -5 "$tmp/dossier.log")"
grep -q "Profile: (records of" "$tmp/dossier.log" || fail "dossier: no profile section in the text"
grep -q "<figure" "$tmp/dossier/dossier.html" || fail "dossier: no flamegraph in the HTML"
gpuops dossier --backend sim -o "$tmp/dossier2" --profile -- sh -c 'exit 0' >"$tmp/dossier2.log" 2>&1 ||
  fail "dossier --profile -- CMD: $(tail -5 "$tmp/dossier2.log")"
[ -s "$tmp/dossier2/profile/summary.json" ] || fail "dossier --profile -- CMD: no profile folder"
grep -q "Profile: sh -c exit 0: 0 launches" "$tmp/dossier2.log" || fail "dossier --profile -- CMD: no section"
err=$(gpuops dossier --backend sim -o "$tmp/dossier3" --profile -- no-such-command-gpuops 2>&1); rc=$?
[ $rc = 3 ] || fail "dossier --profile -- missing command: exit $rc, want 3 ($err)"
echo "ok"
