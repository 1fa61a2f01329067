#!/usr/bin/env bash
# The skip policy itself: a script that calls skip exits 77 on a developer's
# machine (CTest reports it skipped) and 1 under CI=true (a failure).
set -u
here=$(cd "$(dirname "$0")" && pwd)
probe='. "'"$here"'/lib.sh"; skip "engine missing"'

CI= bash -c "$probe" 2>/dev/null
[ $? -eq 77 ] || { echo "FAIL: skip without CI should exit 77"; exit 1; }
CI=false bash -c "$probe" 2>/dev/null
[ $? -eq 77 ] || { echo "FAIL: skip with CI=false should exit 77"; exit 1; }
CI=true bash -c "$probe" 2>/dev/null
[ $? -eq 1 ] || { echo "FAIL: skip under CI=true must fail (exit 1)"; exit 1; }
msg=$(CI=true bash -c "$probe" 2>&1)
case "$msg" in *"engine missing"*) ;; *) echo "FAIL: the reason is not shown: $msg"; exit 1 ;; esac
echo "ok: skip exits 77, or 1 under CI=true"
