/*
 * testutil.h — what several test files need: the CI skip policy and private
 * temporary folders.
 *
 * Skip policy (DESIGN.md, Tests): a test whose engine or data is missing may
 * skip on a developer's machine, but under CI=true the skip is a failure, so
 * CI can never pass by skipping. Tests that need a GPU are different: CI has
 * none by design, so they skip with cr_skip_test() everywhere.
 */
#ifndef GPUOPS_TESTS_TESTUTIL_H
#define GPUOPS_TESTS_TESTUTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include of a file that uses testutil.h (nftw)"
#endif

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline bool testutil_ci(void) {
  const char *ci = getenv("CI");
  return ci && !strcmp(ci, "true");
}

/* Skip (developer machine) or fail (CI=true) with a printf-style reason. */
#define TEST_SKIP_OR_FAIL(...)                                 \
  do {                                                         \
    if (testutil_ci()) cr_assert_fail("CI=true: " __VA_ARGS__); \
    cr_skip_test(__VA_ARGS__);                                 \
  } while (0)

/* A fresh folder /tmp/gpuops-<tag>-XXXXXX written into buf; fails the test if it can't. */
static inline void testutil_tmpdir(char *buf, size_t len, const char *tag) {
  snprintf(buf, len, "/tmp/gpuops-%s-XXXXXX", tag);
  cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

static inline int testutil_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* Remove a folder made by testutil_tmpdir and everything in it (only /tmp/gpuops-* folders). */
static inline void testutil_rmrf(const char *dir) {
  if (!dir[0] || strncmp(dir, "/tmp/gpuops-", 12) != 0) return; /* never anything else */
  nftw(dir, testutil_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Path of a file in tests/fixtures ($GPUOPS_FIXTURES, set by ctest). Four
 * rotating buffers, so a call may use up to four paths at once. */
static inline const char *testutil_fixture(const char *name) {
  static char path[4][1024];
  static int k;
  const char *dir = getenv("GPUOPS_FIXTURES");
  cr_assert_not_null(dir, "GPUOPS_FIXTURES is not set (run through ctest)");
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  return path[k];
}

/* Path of a file of the Alibaba GPU trace in $GPUOPS_SHARED_DIR, or NULL
 * when it is not there (callers skip, or fail under CI=true). */
static inline const char *testutil_trace_file(const char *name) {
  static char path[4][1024];
  static int k;
  const char *dir = getenv("GPUOPS_SHARED_DIR");
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/data/alibaba-gpu-2023/%s", dir ? dir : "../shared", name);
  FILE *f = fopen(path[k], "r");
  if (!f) return NULL;
  fclose(f);
  return path[k];
}

#endif
