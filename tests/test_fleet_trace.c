/*
 * test_fleet_trace.c — fleet/trace.h and fleet/task.h: task lists from the
 * Alibaba trace format (11 columns, the 5-column multigpu variant), the
 * generic CSV columns and JSON; malformed rows name the file, line and
 * column and leave nothing loaded; the CSV writer round-trips; the real
 * trace's four task lists load with the README's counts.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "fleet/trace.h"
#include "inventory/alibaba.h"
#include "fleet/workload.h"
#include "testutil.h"

static void expect_bad(const char *name, const char *where, const char *words) {
  struct fleet_taskset ts;
  const char *path = testutil_fixture(name);
  char prefix[1200];
  int rc = fleet_trace_load(&ts, path);
  snprintf(prefix, sizeof prefix, "%s%s", path, where);
  cr_assert_eq(rc, ERR_PARSE, "%s: got %s: %s", name, err_name(rc), err_msg());
  cr_expect_eq(strncmp(err_msg(), prefix, strlen(prefix)), 0, "'%s' should start '%s'", err_msg(),
               prefix);
  cr_expect_not_null(strstr(err_msg(), words), "'%s' should say '%s'", err_msg(), words);
  cr_expect_eq(ts.n, 0, "nothing half loaded");
  fleet_taskset_free(&ts);
}

Test(trace, alibaba_task_list) {
  struct fleet_taskset ts;
  cr_assert_eq(fleet_trace_load(&ts, testutil_fixture("fleet-tasks-good.csv")), 0, "%s", err_msg());
  cr_assert_eq(ts.n, 6);
  cr_expect(ts.has_times);
  const struct fleet_task *t = ts.tasks;
  cr_expect_str_eq(t[0].name, "p-0");
  cr_expect_eq(t[0].num_gpu, 1);
  cr_expect_eq(t[0].gpu_milli, 1000);
  cr_expect_eq(t[0].duration_s, 1000);
  cr_expect_eq(t[1].gpu_milli, 460);
  cr_expect_eq(t[1].duration_s, 480, "deletion - scheduled");
  cr_expect_eq(t[2].num_gpu, 8);
  cr_expect_eq(t[2].qos, FLEET_QOS_BURSTABLE);
  cr_expect_eq(t[3].num_gpu, 0);
  cr_expect_eq(t[3].priority, FLEET_QOS_BE);
  cr_expect_eq(t[4].duration_s, 360, "never scheduled: deletion - creation");
  cr_expect_eq(t[4].model_mask, 3u, "two models");
  cr_expect_str_eq(ts.models[0], "V100M16");
  cr_expect_str_eq(ts.models[1], "V100M32");
  cr_expect_eq(t[5].model_mask, 4u);
  cr_expect_eq(t[5].qos, FLEET_QOS_GUARANTEED);
  cr_expect_eq(fleet_taskset_gpu_milli(&ts), 1000 + 460 + 8000 + 500 + 810);
  fleet_taskset_free(&ts);
}

Test(trace, multigpu_five_columns) {
  struct fleet_taskset ts;
  cr_assert_eq(fleet_trace_load(&ts, testutil_fixture("fleet-tasks-multigpu.csv")), 0, "%s", err_msg());
  cr_assert_eq(ts.n, 4);
  cr_expect(!ts.has_times);
  cr_expect_eq(ts.tasks[2].num_gpu, 8);
  cr_expect_eq(ts.tasks[0].create_s, -1);
  cr_expect_eq(ts.tasks[0].qos, FLEET_QOS_LS, "no qos column: LS");
  fleet_taskset_free(&ts);
}

Test(trace, generic_columns_tenants_gangs_mig) {
  struct fleet_taskset ts;
  cr_assert_eq(fleet_trace_load(&ts, testutil_fixture("fleet-tasks-generic.csv")), 0, "%s", err_msg());
  cr_assert_eq(ts.n, 4);
  cr_expect_eq(ts.n_tenants, 3, "default, team-a, team-b");
  cr_expect_str_eq(ts.tenants[ts.tasks[0].tenant], "team-a");
  cr_expect_eq(ts.tasks[0].gang, ts.tasks[1].gang);
  cr_expect_geq(ts.tasks[0].gang, 0);
  cr_expect_eq(ts.tasks[2].gang, -1);
  cr_expect_eq(ts.tasks[0].priority, 5);
  cr_expect_eq(ts.tasks[2].mig_profile, 9, "3g.71gb is profile 9");
  cr_expect_eq(ts.tasks[2].num_gpu, 1);
  cr_expect_eq(ts.tasks[2].gpu_milli, 428, "3 compute slices of 7");
  cr_expect_eq(ts.tasks[3].gpu_milli, 1000, "num_gpu without gpu_milli: whole GPUs");
  cr_expect_eq(ts.tasks[3].duration_s, -1, "no duration: runs to the end");
  cr_expect_eq(ts.tasks[2].duration_s, 60);
  fleet_taskset_free(&ts);
}

Test(trace, json_task_list) {
  struct fleet_taskset ts;
  cr_assert_eq(fleet_trace_load(&ts, testutil_fixture("fleet-tasks-good.json")), 0, "%s", err_msg());
  cr_assert_eq(ts.n, 3);
  cr_expect_eq(ts.tasks[1].gpu_milli, 250);
  cr_expect_eq(ts.tasks[1].model_mask, 3u);
  cr_expect_str_eq(ts.tenants[ts.tasks[1].tenant], "team-b");
  cr_expect_str_eq(ts.tasks[2].name, "task-2", "a default name");
  cr_expect_eq(ts.tasks[2].priority, -1);
  cr_expect(ts.has_times);
  fleet_taskset_free(&ts);
}

Test(trace, malformed_rows_name_file_line_and_column) {
  expect_bad("fleet-tasks-bad-milli.csv", ":3: column 5 (gpu_milli)", "0..1000, got '1200'");
  expect_bad("fleet-tasks-bad-fraction.csv", ":3: column 4 (num_gpu)", "needs num_gpu 1, not 2");
  expect_bad("fleet-tasks-bad-times.csv", ":3: column 7 (deletion_time)",
             "is before creation_time");
  expect_bad("fleet-tasks-bad-qos.csv", ":3: column 7 (qos)", "unknown QoS 'XX'");
  expect_bad("fleet-tasks-bad-column.csv", ":1: column 4", "unknown column 'gpus'");
  expect_bad("fleet-tasks-bad-quote.csv", ":3: column 1", "line break inside a quoted field");
  expect_bad("fleet-tasks-bad.json", ": tasks[1].num_gpu", "expected a whole number 0..64");
}

Test(trace, malformed_inline) {
  static const struct {
    const char *text, *words;
  } cases[] = {
      {"cpu_milli,memory_mib\n1,1\n", "no 'num_gpu'"},
      {"cpu_milli,num_gpu\n1,1\n", "no 'memory_mib'"},
      {"cpu_milli,memory_mib,num_gpu,gpu_milli\n1,1,0,500\n", "gpu_milli is 500 but num_gpu is 0"},
      {"cpu_milli,memory_mib,num_gpu,gpu_milli\n1,1,1,0\n", "num_gpu is 1 but gpu_milli is 0"},
      {"cpu_milli,memory_mib,num_gpu,gpu_milli\n1,1,65,1000\n", "0..64"},
      {"cpu_milli,memory_mib,num_gpu,gpu_spec\n1,1,1,A||B\n", "model names"},
      {"cpu_milli,memory_mib,mig_profile\n1,1,9g.9gb\n", "unknown MIG profile"},
      {"cpu_milli,memory_mib,num_gpu,priority\n1,1,1,101\n", "-100..100"},
      {"cpu_milli,memory_mib,num_gpu,deletion_time\n1,1,1,5\n", "needs a creation_time"},
      {"cpu_milli,memory_mib,num_gpu,creation_time\n1,1,1,\n", "every row needs one"},
      {"cpu_milli,memory_mib,num_gpu\n", "no tasks"},
      {"{\"tasks\": [{\"cpu_milli\": 1}]}", "tasks[0].memory_mib: missing"},
      {"{\"tasks\": [{\"cpu_milli\": 1, \"memory_mib\": 1, \"gpus\": 1}]}",
       "tasks[0].gpus: unknown key"},
      {"{\"tasks\": [{\"cpu_milli\": 1, \"memory_mib\": 1, \"qos\": 3}]}",
       "tasks[0].qos: expected a string"},
      {"{\"tasks\": [}", "t.json:1:"},
      {"{\"jobs\": []}", "expected {\"tasks\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct fleet_taskset ts;
    int rc = fleet_trace_load_buf(&ts, cases[i].text, strlen(cases[i].text), "t.json");
    cr_expect_eq(rc, ERR_PARSE, "case %zu: %s", i, err_msg());
    cr_expect_not_null(strstr(err_msg(), cases[i].words), "case %zu: '%s' should say '%s'", i,
                       err_msg(), cases[i].words);
    cr_expect_eq(ts.n, 0, "case %zu: nothing half loaded", i);
    fleet_taskset_free(&ts);
  }
}

Test(trace, the_writer_round_trips) {
  char dir[64], path[128];
  testutil_tmpdir(dir, sizeof dir, "trace");
  snprintf(path, sizeof path, "%s/out.csv", dir);
  struct fleet_taskset a, b;
  cr_assert_eq(fleet_trace_load(&a, testutil_fixture("fleet-tasks-generic.csv")), 0, "%s", err_msg());
  cr_assert_eq(fleet_trace_write_csv(&a, path), 0, "%s", err_msg());
  cr_assert_eq(fleet_trace_load(&b, path), 0, "%s", err_msg());
  cr_assert_eq(a.n, b.n);
  for (int i = 0; i < a.n; i++) {
    cr_expect_str_eq(a.tasks[i].name, b.tasks[i].name);
    cr_expect_eq(a.tasks[i].num_gpu, b.tasks[i].num_gpu);
    cr_expect_eq(a.tasks[i].gpu_milli, b.tasks[i].gpu_milli);
    cr_expect_eq(a.tasks[i].mig_profile, b.tasks[i].mig_profile);
    cr_expect_eq(a.tasks[i].priority, b.tasks[i].priority);
    cr_expect_eq(a.tasks[i].create_s, b.tasks[i].create_s);
    cr_expect_eq(a.tasks[i].duration_s, b.tasks[i].duration_s);
    cr_expect_str_eq(a.tenants[a.tasks[i].tenant], b.tenants[b.tasks[i].tenant]);
    cr_expect_eq(a.tasks[i].gang >= 0, b.tasks[i].gang >= 0);
  }
  fleet_taskset_free(&a);
  fleet_taskset_free(&b);
  testutil_rmrf(dir);
}

Test(trace, compress_brings_arrivals_closer) {
  struct fleet_taskset ts;
  cr_assert_eq(fleet_trace_load(&ts, testutil_fixture("fleet-tasks-good.csv")), 0, "%s", err_msg());
  fleet_taskset_compress(&ts, 10);
  cr_expect_eq(ts.tasks[0].create_s, 0);
  cr_expect_eq(ts.tasks[5].create_s, 5);
  cr_expect_eq(ts.tasks[5].duration_s, 5, "run times stay");
  fleet_taskset_free(&ts);
}

Test(workload, generated_tasks_follow_the_spec) {
  struct fleet_taskset ts;
  struct fleet_gen_tasks g = {
      .n_tasks = 5000, .seed = 3, .arrivals_per_hour = 3600, .n_tenants = 2, .high_priority = 0.25};
  cr_assert_eq(fleet_gen_tasks(&ts, &g), 0, "%s", err_msg());
  int cpu = 0, share = 0, high = 0, t0 = 0;
  for (int i = 0; i < ts.n; i++) {
    cpu += ts.tasks[i].num_gpu == 0;
    share += ts.tasks[i].num_gpu == 1 && ts.tasks[i].gpu_milli < 1000;
    high += ts.tasks[i].priority == 2;
    t0 += !strcmp(ts.tenants[ts.tasks[i].tenant], "t0");
    if (i) cr_assert_geq(ts.tasks[i].create_s, ts.tasks[i - 1].create_s, "arrivals in order");
  }
  cr_expect(cpu > 550 && cpu < 780, "about 13%% CPU-only: %d", cpu);
  cr_expect(share > 1700 && share < 2100, "about 38%% fractions: %d", share);
  cr_expect(high > 1100 && high < 1400, "about 25%% high priority: %d", high);
  cr_expect(t0 > 2300 && t0 < 2700, "two tenants evenly: %d", t0);
  cr_expect(ts.tasks[ts.n - 1].create_s > 4000 && ts.tasks[ts.n - 1].create_s < 6000,
            "5000 arrivals at one per second: last at %lld",
            (long long)ts.tasks[ts.n - 1].create_s);
  struct fleet_taskset again;
  cr_assert_eq(fleet_gen_tasks(&again, &g), 0);
  cr_expect_eq(memcmp(ts.tasks, again.tasks, (size_t)ts.n * sizeof *ts.tasks), 0,
               "same seed, same tasks");
  fleet_taskset_free(&ts);
  fleet_taskset_free(&again);
  g.share = 0.9, g.cpu_only = 0.2;
  cr_expect_eq(fleet_gen_tasks(&ts, &g), ERR_INVALID);
  fleet_taskset_free(&ts);
}

Test(trace_real, the_four_task_lists_load_with_the_readme_counts) {
  static const struct {
    const char *file;
    int rows, share;
    bool times;
  } lists[] = {{"openb_pod_list_default.csv", 8152, 3078, true},
               {"openb_pod_list_gpushare40.csv", 8152, 4001, true},
               {"openb_pod_list_gpuspec20.csv", 8152, 3078, true},
               {"openb_pod_list_multigpu30.csv", 8508, -1, false}};
  for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
    const char *path = testutil_trace_file(lists[k].file);
    if (!path)
      TEST_SKIP_OR_FAIL("the Alibaba trace is not in $GPUOPS_SHARED_DIR/data/alibaba-gpu-2023");
    struct fleet_taskset ts;
    cr_assert_eq(fleet_trace_load(&ts, path), 0, "%s", err_msg());
    cr_expect_eq(ts.n, lists[k].rows, "%s", lists[k].file);
    cr_expect_eq(ts.has_times, lists[k].times);
    int share = 0, spec = 0;
    for (int i = 0; i < ts.n; i++) {
      share += ts.tasks[i].num_gpu == 1 && ts.tasks[i].gpu_milli < 1000;
      spec += ts.tasks[i].model_mask != 0;
    }
    if (lists[k].share >= 0) cr_expect_eq(share, lists[k].share, "%s share tasks", lists[k].file);
    if (k == 2) cr_expect_eq(spec, 1444, "gpuspec20: 1,444 constrained tasks");
    fleet_taskset_free(&ts);
  }
}

/* Seeded mutations of good inputs: every result is a clean load or a clean error (the sanitizer
 * build turns any memory error into a failure). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  char *buf = malloc(1 << 16);
  *len = fread(buf, 1, (1 << 16) - 1, f);
  fclose(f);
  return buf;
}

Test(trace, mutated_inputs_fail_cleanly) {
  static const char *const files[] = {"fleet-tasks-good.csv", "fleet-tasks-generic.csv",
                                      "fleet-tasks-good.json", "fleet-nodes-good.csv"};
  struct rng r;
  rng_seed(&r, 1234);
  for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
    size_t len;
    char *orig = slurp(testutil_fixture(files[k]), &len), *buf = malloc(len + 64);
    for (int it = 0; it < 1500; it++) {
      memcpy(buf, orig, len);
      size_t n = len;
      for (int m = 0; m < 1 + (int)rng_below(&r, 4) && n > 0; m++) {
        size_t at = rng_below(&r, (uint64_t)n);
        static const char bytes[] = ",\n\"|-0123456789{}[]:x\r\0 ";
        switch (rng_below(&r, 3)) {
          case 0: buf[at] = bytes[rng_below(&r, sizeof bytes - 1)]; break;
          case 1: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
          default: n = at; break; /* truncate */
        }
      }
      struct fleet_taskset ts;
      struct inventory inv;
      int rc = k == 3 ? alibaba_load_nodes_buf(&inv, buf, n, "m.csv")
                      : fleet_trace_load_buf(&ts, buf, n, "m.csv");
      cr_assert(rc == 0 || rc == ERR_PARSE || rc == ERR_RANGE, "iteration %d: %s (%s)", it,
                err_name(rc), err_msg());
      if (k == 3) {
        if (rc) cr_assert_eq(inv.n_nodes, 0);
        inventory_free(&inv);
      } else {
        if (rc) cr_assert_eq(ts.n, 0);
        fleet_taskset_free(&ts);
      }
    }
    free(orig);
    free(buf);
  }
}
