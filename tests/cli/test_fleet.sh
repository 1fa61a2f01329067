#!/usr/bin/env bash
# gpuops fleet sim|compare|scenario|capacity|policies|mig-plan through the
# binary: exit codes (0 ok, 1 a failed check, 2 bad input naming file, line
# and column), JSON and SVG outputs, the dispatcher. The real Alibaba trace is
# used when ../shared has it (skip, or fail under CI=true, when it does not).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fx="${GPUOPS_FIXTURES:?GPUOPS_FIXTURES not set: run through ctest}"
tmp=$(mktemp -d /tmp/gpuops-fleet-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

expect_rc() { # expect_rc RC DESCRIPTION -- command...
  local want=$1 what=$2
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$what: exit $got, wanted $want; stderr: $(cat "$tmp/err")"
}

expect_rc 0 "fleet --help" -- gpuops fleet --help
expect_rc 2 "fleet with no subcommand" -- gpuops fleet
expect_rc 2 "a typo'd subcommand" -- gpuops fleet smi
grep -q "did you mean 'sim'" "$tmp/err" || fail "no suggestion for 'smi': $(cat "$tmp/err")"

# Bad input: exit 2, the message names the file, the line and the column.
expect_rc 2 "a malformed task list" -- gpuops fleet sim --nodes "$fx/fleet-nodes-good.csv" \
  --tasks "$fx/fleet-tasks-bad-milli.csv"
grep -q "fleet-tasks-bad-milli.csv:3: column 5 (gpu_milli)" "$tmp/err" ||
  fail "the error does not name file:line:column: $(cat "$tmp/err")"
expect_rc 2 "a malformed node list" -- gpuops fleet sim --nodes "$fx/fleet-nodes-bad-number.csv" \
  --tasks "$fx/fleet-tasks-good.csv"
grep -q "fleet-nodes-bad-number.csv:3: column 4 (gpu)" "$tmp/err" || fail "node error: $(cat "$tmp/err")"
expect_rc 2 "an unknown policy" -- gpuops fleet sim --gen-nodes 10 --gen-tasks 10 --policy fdg
grep -q "unknown policy 'fdg'" "$tmp/err" || fail "policy error: $(cat "$tmp/err")"
expect_rc 2 "replay without times" -- gpuops fleet sim --nodes "$fx/fleet-nodes-good.csv" \
  --tasks "$fx/fleet-tasks-multigpu.csv" --mode replay
grep -q "no arrival times" "$tmp/err" || fail "replay error: $(cat "$tmp/err")"

# sim: table and JSON, paper and replay.
expect_rc 0 "sim, paper mode" -- gpuops fleet sim --nodes "$fx/fleet-nodes-good.csv" \
  --tasks "$fx/fleet-tasks-good.csv" --policy fgd-cpu --svg "$tmp/one.svg"
grep -q "unallocated_gpus_at_end" "$tmp/out" || fail "sim table: $(cat "$tmp/out")"
grep -q "<polyline" "$tmp/one.svg" || fail "sim --svg wrote no curve"
expect_rc 0 "sim, replay, JSON" -- gpuops fleet sim --gen-nodes 40 --gen-tasks 400 --gen-rate 2000 \
  --gen-tenants 2 --mode replay --preempt --fair-share --quota t0=40 --fail gen-node-00001@600 \
  --recover gen-node-00001@1200 --latency --format json
grep -q '"mode": "replay"' "$tmp/out" || fail "replay JSON: $(head -c 400 "$tmp/out")"
grep -q '"queue_delay_p99_s"' "$tmp/out" || fail "no queueing delay in the JSON"
expect_rc 2 "an unknown node in --fail" -- gpuops fleet sim --gen-nodes 4 --gen-tasks 10 \
  --gen-rate 10 --mode replay --fail nosuch@10
grep -q "no node 'nosuch'" "$tmp/err" || fail "event error: $(cat "$tmp/err")"

# compare: the table, JSON with curves, the chart.
expect_rc 0 "compare" -- gpuops fleet compare --gen-nodes 60 --gen-tasks 400 --seeds 2 \
  --policies random,best-fit,fgd,fgd-cpu --svg "$tmp/cmp.svg"
for p in random best-fit fgd fgd-cpu; do grep -q "^$p " "$tmp/out" || fail "compare lacks $p"; done
[ "$(grep -c "<polyline" "$tmp/cmp.svg")" -eq 4 ] || fail "the chart should have 4 curves"
expect_rc 0 "compare, JSON" -- gpuops fleet compare --gen-nodes 30 --gen-tasks 200 --seeds 2 \
  --policies fgd --format json
grep -q '"curve"' "$tmp/out" || fail "compare JSON has no curves"
expect_rc 2 "compare with a bad policy" -- gpuops fleet compare --gen-nodes 10 --gen-tasks 10 \
  --policies fgd,nope

# scenarios: all pass (exit 0); an unknown one is a usage error.
expect_rc 0 "scenarios" -- gpuops fleet scenario
[ "$(grep -c " ok$" "$tmp/out")" -ge 20 ] || fail "scenario checks: $(cat "$tmp/out")"
expect_rc 0 "one scenario, JSON" -- gpuops fleet scenario gang --format json
grep -q '"passed": true' "$tmp/out" || fail "gang scenario JSON: $(cat "$tmp/out")"
expect_rc 2 "an unknown scenario" -- gpuops fleet scenario gnag
grep -q "did you mean 'gang'" "$tmp/err" || fail "scenario suggestion: $(cat "$tmp/err")"

# capacity: found (exit 0); an impossible target is a failed check (exit 1).
expect_rc 0 "capacity" -- gpuops fleet capacity --gen-tasks 300 --gen-rate 300 --gen-run 900 \
  --model H200 --cpu-milli 112000 --memory-mib 2097152 --target-p99 60
grep -q "keep the p99 queueing delay" "$tmp/out" || fail "capacity: $(cat "$tmp/out")"
expect_rc 1 "capacity under a ceiling too low" -- gpuops fleet capacity --gen-tasks 300 \
  --gen-rate 3000 --gen-run 3600 --model H200 --target-p99 0 --max-nodes 1
expect_rc 2 "capacity without a model" -- gpuops fleet capacity --gen-tasks 10 --target-p99 5

expect_rc 0 "policies" -- gpuops fleet policies
grep -q "^fgd-cpu" "$tmp/out" || fail "policies: $(cat "$tmp/out")"
expect_rc 0 "mig-plan is dispatched" -- gpuops fleet mig-plan --help

# The real trace, when ../shared has it.
data="${GPUOPS_SHARED_DIR:-../shared}/data/alibaba-gpu-2023"
[ -f "$data/openb_pod_list_multigpu30.csv" ] || skip "the Alibaba trace is not in $data"
expect_rc 0 "the 5-column multigpu list in paper mode" -- gpuops fleet sim \
  --nodes "$data/openb_node_list_gpu_node.csv" --tasks "$data/openb_pod_list_multigpu30.csv" \
  --policy fgd --format json
grep -q '"capacity_gpus": 6212' "$tmp/out" || fail "multigpu30: $(head -c 400 "$tmp/out")"
echo "ok: fleet sim, compare, scenario, capacity, policies, mig-plan"
