# lib.sh — sourced by the script tests in tests/cli/.
# skip REASON: exit 77 (CTest's SKIP_RETURN_CODE) on a developer's machine;
# under CI=true a skipped integration test is a failure (exit 1).
# fail MESSAGE: exit 1 with the message. gpuops: the binary under test.

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL (CI=true forbids skipping): $*" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

gpuops() { "${GPUOPS_BIN:?GPUOPS_BIN not set: run through ctest}" "$@"; }
