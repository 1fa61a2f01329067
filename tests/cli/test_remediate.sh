#!/usr/bin/env bash
# test_remediate.sh — `gpuops remediate` end to end on the sim executor:
#   a verdict from `gpuops health --format json` (XID 79 injected) -> dry run
#   changes nothing; --apply reboots and validates the node (back in service),
#   with an audit record; bad input (unknown node, duplicate node, impossible
#   --max-unavailable) -> exit 2 and no state or audit file written.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
: "${GPUOPS_BIN:?GPUOPS_BIN not set: run through ctest}"
work=$(mktemp -d /tmp/gpuops-remediate-XXXXXX)
trap 'rm -rf "$work"' EXIT
export GPUOPS_SIM_STATE=$work/faults.json GPUOPS_SIM_FLEET=$work/fleet.json
unset GPUOPS_SIM_TIME_NS GPUOPS_SIM_NODE
printf 'nodes:\n  - name: n[1-4]\n    gpus: {model: H200, count: 2}\n' >"$work/spec.yaml"

gpuops sim inject --spec "$work/spec.yaml" --node n2 --gpu 0 --xid 79 >/dev/null || fail "sim inject"
gpuops health --backend sim --spec "$work/spec.yaml" --node n2 --interval 0 --format json >"$work/v.json"
[ $? -eq 1 ] || fail "health should report n2 unhealthy"
# The verdict's host is this machine's name: name it n2 as an exporter on n2 would.
sed -i 's/"host": *"[^"]*"/"host": "n2"/' "$work/v.json"

out=$(gpuops remediate --spec "$work/spec.yaml" --audit "$work/audit.jsonl" "$work/v.json" 2>&1) || fail "dry run: $out"
[[ $out == *"n2"*"reboot_node"*"repaired"*"would cordon"* ]] || fail "dry run said: $out"
[ ! -e "$work/audit.jsonl" ] || fail "a dry run wrote the audit log"

out=$(gpuops remediate --spec "$work/spec.yaml" --audit "$work/audit.jsonl" --apply "$work/v.json" 2>&1) || fail "apply: $out"
[[ $out == *"n2"*"repaired"*"rebooted, validated healthy"* ]] || fail "apply said: $out"
grep -q '"decision":"repaired"' "$work/audit.jsonl" || fail "no audit record: $(cat "$work/audit.jsonl")"

rm -f "$work/fleet.json" "$work/audit.jsonl"
sed 's/"host": "n2"/"host": "n9"/' "$work/v.json" >"$work/unknown.json"
out=$(gpuops remediate --spec "$work/spec.yaml" --audit "$work/audit.jsonl" --apply "$work/unknown.json" 2>&1)
[ $? -eq 2 ] || fail "unknown node: exit not 2: $out"
[[ $out == *"'n9' is not in the fleet"* ]] || fail "unknown node message: $out"
out=$(gpuops remediate --spec "$work/spec.yaml" --apply "$work/v.json" "$work/v.json" 2>&1)
[ $? -eq 2 ] && [[ $out == *"appears twice"* ]] || fail "duplicate node: $out"
out=$(gpuops remediate --spec "$work/spec.yaml" --max-unavailable 9 --apply "$work/v.json" 2>&1)
[ $? -eq 2 ] && [[ $out == *"more than the fleet"* ]] || fail "impossible limit: $out"
out=$(gpuops remediate --spec "$work/spec.yaml" --max-unavailable 150% --apply "$work/v.json" 2>&1)
[ $? -eq 2 ] || fail "150%: $out"
[ ! -e "$work/fleet.json" ] && [ ! -e "$work/audit.jsonl" ] || fail "bad input wrote state"
echo "ok: dry run, apply (repaired + audit), bad input refused with nothing written"
