/*
 * test_simstate.c — gpu/simstate: the simulated fleet's fault state file.
 *
 * Sections: helpers; names; default path; load/add/clear; bad files; writers
 * running at once.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <ftw.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "testutil.h"
#include "gpu/simstate.h"

/* ---- helpers ---- */

/* The temp folder of this test, removed after each test (the suite's fini). */
static char temp_dir[256];

static void remove_temp_dir(void) { testutil_rmrf(temp_dir); }

TestSuite(simstate, .fini = remove_temp_dir);

static const char *make_temp_dir(void) {
  testutil_tmpdir(temp_dir, sizeof temp_dir, "simstate");
  return temp_dir;
}

/* A fresh state path in a folder that does not exist yet: "<tmpdir>/state/sim.json". */
static char *fresh_path(char *dir, size_t len) {
  snprintf(dir, len, "%s", make_temp_dir());
  static char path[512];
  snprintf(path, sizeof path, "%s/state/sim.json", dir);
  return path;
}

static struct sim_fault fault(const char *node, int gpu, enum sim_fault_kind k, int64_t value) {
  struct sim_fault f = {.gpu = gpu, .kind = k, .value = value};
  snprintf(f.node, sizeof f.node, "%s", node);
  return f;
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static int count_faults(const char *path) {
  struct sim_fault *f = NULL;
  int n = -1;
  cr_assert_eq(simstate_load(path, &f, &n), 0, "%s", err_msg());
  free(f);
  return n;
}

/* ---- names ---- */

Test(simstate, fault_names_round_trip_and_unknown_lists_names) {
  for (int k = 0; k < SIM_FAULT_COUNT; k++) {
    enum sim_fault_kind got;
    cr_assert_eq(sim_fault_parse(sim_fault_name((enum sim_fault_kind)k), &got), 0);
    cr_assert_eq(got, (enum sim_fault_kind)k);
  }
  enum sim_fault_kind got;
  cr_assert_eq(sim_fault_parse("melted", &got), ERR_INVALID);
  cr_assert(strstr(err_msg(), "melted") && strstr(err_msg(), "fall-off-bus") &&
                strstr(err_msg(), "recovery-action"),
            "%s", err_msg());
  cr_assert_eq(sim_fault_parse(NULL, &got), ERR_INVALID);
}

/* ---- default path ---- */

Test(simstate, default_path_precedence) {
  setenv("GPUOPS_SIM_STATE", "/x/given.json", 1);
  setenv("XDG_STATE_HOME", "/xdg", 1);
  setenv("HOME", "/home/u", 1);
  cr_assert_str_eq(simstate_default_path(), "/x/given.json");
  unsetenv("GPUOPS_SIM_STATE");
  cr_assert_str_eq(simstate_default_path(), "/xdg/gpuops/sim-state.json");
  unsetenv("XDG_STATE_HOME");
  cr_assert_str_eq(simstate_default_path(), "/home/u/.local/state/gpuops/sim-state.json");
  unsetenv("HOME");
  char want[64];
  snprintf(want, sizeof want, "/tmp/gpuops-sim-state-%u.json", (unsigned)getuid());
  cr_assert_str_eq(simstate_default_path(), want);
}

/* ---- load / add / clear ---- */

Test(simstate, missing_file_is_empty_and_add_creates_folder) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  cr_assert_eq(count_faults(path), 0);
  struct sim_fault f = fault("node-a", 3, SIM_FAULT_XID, 79);
  f.t_ns = 1764382639000000000LL;
  cr_assert_eq(simstate_add(path, &f), 0, "%s", err_msg());
  struct sim_fault *got = NULL;
  int n = 0;
  cr_assert_eq(simstate_load(path, &got, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(got[0].node, "node-a");
  cr_assert_eq(got[0].gpu, 3);
  cr_assert_eq(got[0].kind, SIM_FAULT_XID);
  cr_assert_eq(got[0].value, 79);
  cr_assert_eq(got[0].t_ns, 1764382639000000000LL, "a given time is kept");
  free(got);
}

Test(simstate, add_stamps_distinct_increasing_times) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  for (int i = 0; i < 5; i++) {
    struct sim_fault f = fault("node-a", i, SIM_FAULT_THERMAL, 0);
    cr_assert_eq(simstate_add(path, &f), 0, "%s", err_msg());
  }
  struct sim_fault *got = NULL;
  int n = 0;
  cr_assert_eq(simstate_load(path, &got, &n), 0);
  cr_assert_eq(n, 5);
  for (int i = 1; i < n; i++) cr_assert_gt(got[i].t_ns, got[i - 1].t_ns);
  cr_assert_gt(got[0].t_ns, 0);
  free(got);
}

Test(simstate, writes_leave_no_temporary_files) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  for (int i = 0; i < 3; i++) {
    struct sim_fault f = fault("n", i, SIM_FAULT_XID, 13);
    cr_assert_eq(simstate_add(path, &f), 0);
  }
  cr_assert_eq(simstate_clear(path, "n", 1, NULL), 0);
  char sub[300];
  snprintf(sub, sizeof sub, "%s/state", dir);
  DIR *d = opendir(sub);
  cr_assert_not_null(d);
  struct dirent *e;
  while ((e = readdir(d))) cr_assert_null(strstr(e->d_name, ".tmp"), "left behind: %s", e->d_name);
  closedir(d);
}

Test(simstate, clear_by_node_gpu_and_all) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  const char *nodes[] = {"a", "a", "a", "b", "b"};
  const int gpus[] = {0, 1, 1, 0, 1};
  for (int i = 0; i < 5; i++) {
    struct sim_fault f = fault(nodes[i], gpus[i], SIM_FAULT_ECC_UNCORRECTABLE, 1);
    cr_assert_eq(simstate_add(path, &f), 0);
  }
  int removed = -1;
  cr_assert_eq(simstate_clear(path, "a", 1, &removed), 0);
  cr_assert_eq(removed, 2);
  cr_assert_eq(count_faults(path), 3);
  cr_assert_eq(simstate_clear(path, "zzz", -1, &removed), 0);
  cr_assert_eq(removed, 0);
  cr_assert_eq(simstate_clear(path, NULL, 0, &removed), 0, "gpu 0 of every node");
  cr_assert_eq(removed, 2);
  struct sim_fault *got = NULL;
  int n = 0;
  cr_assert_eq(simstate_load(path, &got, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(got[0].node, "b");
  cr_assert_eq(got[0].gpu, 1);
  free(got);
  cr_assert_eq(simstate_clear(path, NULL, -1, &removed), 0);
  cr_assert_eq(removed, 1);
  cr_assert_eq(count_faults(path), 0);
}

Test(simstate, add_rejects_bad_faults) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  struct sim_fault f = fault("", 0, SIM_FAULT_THERMAL, 0);
  cr_assert_eq(simstate_add(path, &f), ERR_INVALID);
  f = fault("n", -1, SIM_FAULT_THERMAL, 0);
  cr_assert_eq(simstate_add(path, &f), ERR_INVALID);
  f = fault("n", 0, SIM_FAULT_XID, 0);
  cr_assert_eq(simstate_add(path, &f), ERR_INVALID);
  cr_assert(strstr(err_msg(), "XID"), "%s", err_msg());
  f = fault("n", 0, SIM_FAULT_RECOVERY_ACTION, 9);
  cr_assert_eq(simstate_add(path, &f), ERR_INVALID);
  cr_assert(strstr(err_msg(), "drain_and_reset"), "%s", err_msg());
  f = fault("n", 0, (enum sim_fault_kind)42, 0);
  cr_assert_eq(simstate_add(path, &f), ERR_INVALID);
  cr_assert_eq(simstate_add(path, NULL), ERR_INVALID);
  cr_assert_eq(count_faults(path), 0, "nothing bad was written");
}

/* ---- bad files ---- */

Test(simstate, corrupt_file_is_a_parse_error_with_the_fix) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  struct sim_fault f = fault("n", 0, SIM_FAULT_THERMAL, 0);
  cr_assert_eq(simstate_add(path, &f), 0); /* creates the folder */
  write_file(path, "{\"version\": 1, \"faults\": [ {\"node\": ");
  struct sim_fault *got = (struct sim_fault *)1;
  int n = -1;
  cr_assert_eq(simstate_load(path, &got, &n), ERR_PARSE);
  cr_assert_null(got);
  cr_assert_eq(n, 0);
  cr_assert(strstr(err_msg(), path) && strstr(err_msg(), "gpuops sim clear") &&
                strstr(err_msg(), "delete"),
            "%s", err_msg());
  cr_assert_eq(simstate_add(path, &f), ERR_PARSE, "adding must not overwrite a corrupt file");
  cr_assert_eq(simstate_clear(path, "n", 0, NULL), ERR_PARSE, "a partial clear cannot repair it");
  cr_assert_eq(simstate_clear(path, NULL, -1, NULL), 0, "%s", err_msg());
  cr_assert_eq(count_faults(path), 0);
  cr_assert_eq(simstate_add(path, &f), 0, "usable again");
  cr_assert_eq(count_faults(path), 1);
}

Test(simstate, wrong_shapes_name_the_entry) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  struct sim_fault f = fault("n", 0, SIM_FAULT_THERMAL, 0);
  cr_assert_eq(simstate_add(path, &f), 0);
  const char *bad[] = {
      "[]",
      "{\"version\": 2, \"faults\": []}",
      "{\"version\": 1, \"faults\": {}}",
      "{\"version\": 1, \"faults\": [{\"node\": \"n\", \"gpu\": 0, \"kind\": \"xid\"}, 7]}",
      "{\"version\": 1, \"faults\": [{\"node\": \"n\", \"gpu\": -1, \"kind\": \"xid\"}]}",
      "{\"version\": 1, \"faults\": [{\"node\": \"n\", \"gpu\": 0, \"kind\": \"boom\"}]}",
      "{\"version\": 1, \"faults\": [{\"node\": \"\", \"gpu\": 0, \"kind\": \"xid\"}]}",
      "{\"version\": 1, \"faults\": [{\"node\": \"n\", \"gpu\": 0, \"kind\": \"xid\", \"value\": "
      "\"79\"}]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(path, bad[i]);
    struct sim_fault *got = NULL;
    int n = 0;
    cr_assert_eq(simstate_load(path, &got, &n), ERR_PARSE, "accepted: %s", bad[i]);
    cr_assert(strstr(err_msg(), path), "%s", err_msg());
  }
  write_file(path, bad[3]);
  struct sim_fault *got = NULL;
  int n = 0;
  simstate_load(path, &got, &n);
  cr_assert(strstr(err_msg(), "faults[1]"), "%s", err_msg());
}

Test(simstate, empty_file_and_minimal_entries_are_accepted) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  struct sim_fault f = fault("n", 0, SIM_FAULT_THERMAL, 0);
  cr_assert_eq(simstate_add(path, &f), 0);
  write_file(path, "");
  cr_assert_eq(count_faults(path), 0);
  write_file(path,
             "{\"version\": 1, \"faults\": [{\"node\": \"n\", \"gpu\": 2, \"kind\": "
             "\"thermal\", \"extra\": true}]}");
  struct sim_fault *got = NULL;
  int n = 0;
  cr_assert_eq(simstate_load(path, &got, &n), 0, "%s", err_msg());
  cr_assert_eq(n, 1);
  cr_assert_eq(got[0].kind, SIM_FAULT_THERMAL);
  cr_assert_eq(got[0].value, 0);
  free(got);
}

Test(simstate, unreadable_path_is_an_io_error) {
  struct sim_fault *got = NULL;
  int n = 0;
  /* A folder where the file should be: cannot be read as a file. */
  const char *tmpl = make_temp_dir();
  int rc = simstate_load(tmpl, &got, &n);
  cr_assert(rc == ERR_IO || rc == ERR_PARSE, "rc %d: %s", rc, err_msg());
  cr_assert(strstr(err_msg(), tmpl), "%s", err_msg());
  cr_assert_eq(simstate_load("", &got, &n), ERR_INVALID);
}

/* ---- writers running at once ---- */

Test(simstate, concurrent_writers_lose_nothing) {
  char dir[256];
  const char *path = fresh_path(dir, sizeof dir);
  enum { CHILDREN = 8, EACH = 20 };
  pid_t pids[CHILDREN];
  for (int c = 0; c < CHILDREN; c++) {
    pids[c] = fork();
    cr_assert_neq(pids[c], -1);
    if (pids[c] == 0) {
      for (int i = 0; i < EACH; i++) {
        struct sim_fault f = fault("node-c", c, SIM_FAULT_XID, 1000 * (c + 1) + i);
        if (simstate_add(path, &f) < 0) _exit(1);
      }
      _exit(0);
    }
  }
  for (int c = 0; c < CHILDREN; c++) {
    int status = 0;
    cr_assert_eq(waitpid(pids[c], &status, 0), pids[c]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", c);
  }
  struct sim_fault *got = NULL;
  int n = 0;
  cr_assert_eq(simstate_load(path, &got, &n), 0, "%s", err_msg());
  cr_assert_eq(n, CHILDREN * EACH);
  bool seen[CHILDREN][EACH] = {{false}};
  for (int i = 0; i < n; i++) {
    int c = (int)(got[i].value / 1000) - 1, k = (int)(got[i].value % 1000);
    cr_assert(c >= 0 && c < CHILDREN && k < EACH && got[i].gpu == c);
    cr_assert_not(seen[c][k], "duplicate %lld", (long long)got[i].value);
    seen[c][k] = true;
  }
  for (int i = 1; i < n; i++) cr_assert_gt(got[i].t_ns, got[i - 1].t_ns, "times stay distinct");
  free(got);
}
