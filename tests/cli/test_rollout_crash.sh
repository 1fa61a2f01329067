#!/bin/bash
# test_rollout_crash.sh — crash safety of `gpuops rollout`: kill the rollout
# with SIGKILL right after EACH committed state transition in turn
# (GPUOPS_ROLLOUT_CRASH_AT=N), and right after EACH node-changing executor
# call before its transition is committed (GPUOPS_ROLLOUT_CRASH_AFTER_ACTION=N),
# resume it, and check the invariants every time:
#   every node upgraded exactly once (the sim executor counts upgrades issued),
#   none skipped, never more than max-unavailable out of service at once (the
#   sim executor records the most it ever saw), failed nodes stay drained with
#   the reason, and the final states equal those of an uninterrupted run.
set -u
. "$(dirname "$0")/lib.sh"
F=${GPUOPS_FIXTURES:?}
T=$(mktemp -d /tmp/gpuops-rollout-crash-XXXXXX)
trap 'rm -rf "$T"' EXIT
TARGET=580.105.08

# run_case NAME FIXTURE MAXUNAVAIL EXTRA...: defines the rollout of one case.
rollout_args() {
  echo --spec "$F/$2" --driver $TARGET --max-unavailable "$3" --poll-ms 1 --lease-ms 5000 \
    --wait-timeout-ms 10 --validate-timeout-ms 10 --blocked-timeout-ms 3000 -q
}

csv() { gpuops "$@" --format csv | tr -d '\r'; } # CSV is RFC 4180 (CRLF)

count_audit() { # DIR ACTIONS-REGEX: audit rows whose action matches
  csv rollout status --db "$1/r.db" --audit | awk -F, -v re="$2" 'NR>1 && $3 ~ re' | wc -l
}

final_states() { csv rollout status --db "$1/r.db" | awk -F, 'NR>1 {print $1, $3}'; }

check_invariants() { # DIR MAXUNAVAIL LABEL
  local d=$1 max=$2 label=$3
  local rep
  rep=$(csv rollout sim-report --sim-state "$d/s.json") || fail "$label: sim-report"
  # columns: node,drained,down,reason,driver,firmware,jobs,upgrades,max_out_of_service
  echo "$rep" | awk -F, -v max="$max" -v label="$label" '
    NR > 1 {
      if ($8 != 1) { print label ": node " $1 " upgraded " $8 " times (want exactly 1)"; bad = 1 }
      if ($9 > max) { print label ": " $9 " nodes were out of service at once (max-unavailable " max ")"; bad = 1 }
    }
    END { exit bad }' >&2 || fail "$label: invariants broken"
  local want got
  want=$(cat "$T/expected-states") got=$(final_states "$d")
  [ "$want" = "$got" ] || fail "$label: final states differ from an uninterrupted run:
$got
-- expected --
$want"
  # failed nodes stay drained with the reason; done nodes are back in service on the target version
  while read -r node state; do
    local row
    row=$(echo "$rep" | awk -F, -v n="$node" '$1 == n')
    case $state in
      upgrade-failed) echo "$row" | grep -q "^$node,yes,.*upgrade-failed" || fail "$label: failed $node not drained with its reason: $row" ;;
      upgrade-done) echo "$row" | grep -q "^$node,no,no,,$TARGET," || fail "$label: $node done but not in service on $TARGET: $row" ;;
      *) fail "$label: $node ended in $state" ;;
    esac
  done <<<"$got"
}

run_case() { # NAME FIXTURE MAXUNAVAIL EXPECT_RC EXTRA-ARGS...
  local name=$1 fixture=$2 max=$3 expect_rc=$4
  shift 4
  local args
  args="$(rollout_args "$name" "$fixture" "$max") $*"
  # the uninterrupted run: how many transitions and actions there are, and the outcome
  local d=$T/$name-clean
  mkdir -p "$d"
  gpuops rollout run $args --db "$d/r.db" --sim-state "$d/s.json" --apply >/dev/null
  local rc=$?
  [ $rc = "$expect_rc" ] || fail "$name: uninterrupted run exited $rc, expected $expect_rc"
  final_states "$d" >"$T/expected-states"
  local commits actions
  commits=$(count_audit "$d" '^(transition|status)$')
  actions=$(count_audit "$d" '^(cordon|uncordon|upgrade|evict)$')
  [ "$commits" -gt 0 ] && [ "$actions" -gt 0 ] || fail "$name: no transitions recorded"
  check_invariants "$d" "$max" "$name (no crash)"
  local hook n
  for hook in CRASH_AT CRASH_AFTER_ACTION; do
    local total=$commits
    [ $hook = CRASH_AFTER_ACTION ] && total=$actions
    for n in $(seq 1 "$total"); do
      d=$T/$name-$hook-$n
      mkdir -p "$d"
      # in a subshell, so bash does not report the kill on stderr
      rc=$( (env GPUOPS_ROLLOUT_$hook=$n "$GPUOPS_BIN" rollout run $args --db "$d/r.db" --sim-state "$d/s.json" \
        --apply >/dev/null 2>&1); echo $?)
      [ $rc = 137 ] || fail "$name: $hook=$n: expected the process killed (137), got $rc"
      gpuops rollout resume --db "$d/r.db" --sim-state "$d/s.json" --poll-ms 1 --blocked-timeout-ms 3000 -q --apply \
        >/dev/null
      rc=$?
      [ $rc = "$expect_rc" ] || fail "$name: $hook=$n: resume exited $rc, expected $expect_rc"
      check_invariants "$d" "$max" "$name $hook=$n"
      rm -rf "$d"
    done
    echo "$name: killed after each of $total $( [ $hook = CRASH_AT ] && echo transitions || echo actions), resumed: invariants hold"
  done
}

# 4 nodes, two with jobs that drain slowly; one at a time.
run_case serial rollout-fleet.yaml 1 0 --canary 1 --batch 50 --max-parallel 1
# 6 nodes with an upgrade failure, a validation failure and a job that never
# ends (evicted after the wait timeout); two at a time, failures within budget.
# Failed nodes stay out of service and so keep counting against max-unavailable:
# with 3, one slot is left for the rest once both failures have happened.
run_case failures rollout-fail.yaml 3 1 --canary 1 --batch 50 --max-parallel 2 --failure-budget 2
echo "PASS"
