#!/usr/bin/env bash
# test_promtool_rules.sh — the Prometheus files of deploy/ pass promtool:
#   promtool check rules  deploy/prometheus/gpuops-rules.yml
#   promtool test rules   deploy/prometheus/gpuops-rules.test.yml (each alert
#                         firing and not firing, the SLO recording rules' values)
#   promtool check config deploy/prometheus/prometheus.yml (the example scrape
#                         configuration, with the rules file it names)
# Needs promtool (Debian package prometheus): skips without it (a failure under CI=true).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null 2>&1 || skip "promtool is not installed (Debian package prometheus: scripts/install-deps)"
DEPLOY=${GPUOPS_SOURCE_DIR:?GPUOPS_SOURCE_DIR not set: run through ctest}/deploy/prometheus

out=$(promtool check rules "$DEPLOY/gpuops-rules.yml" 2>&1) || fail "promtool check rules: $out"
echo "$out"
[[ $out == *"SUCCESS"* ]] || fail "promtool check rules did not say SUCCESS: $out"

# promtool resolves rule_files relative to the test file, so run it in place.
out=$(cd "$DEPLOY" && promtool test rules gpuops-rules.test.yml 2>&1) || fail "promtool test rules: $out"
echo "$out"
[[ $out == *"SUCCESS"* ]] || fail "promtool test rules did not say SUCCESS: $out"

# The example configuration names /etc/prometheus/rules/gpuops-rules.yml (where
# docs/deploy.md installs it); check it against this tree's copy instead.
work=$(mktemp -d /tmp/gpuops-promtool-XXXXXX)
trap 'rm -rf "$work"' EXIT
sed "s|/etc/prometheus/rules/gpuops-rules.yml|$DEPLOY/gpuops-rules.yml|" "$DEPLOY/prometheus.yml" >"$work/prometheus.yml"
grep -q "$DEPLOY/gpuops-rules.yml" "$work/prometheus.yml" || fail "prometheus.yml does not load the gpuops rules"
out=$(promtool check config "$work/prometheus.yml" 2>&1) || fail "promtool check config: $out"
echo "$out"
