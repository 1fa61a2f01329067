/*
 * test_health.c — health verdicts (telemetry/health.h, thresholds.h).
 *
 * Three levels: the checks on synthetic samples (each finding, its status
 * and action, the precedence of the driver's recovery action); the library
 * against the simulated backend with faults in a private state file
 * (health_collect); and the command through $GPUOPS_BIN with
 * GPUOPS_SIM_STATE pointing at that file (exit codes, --format json, --npd,
 * --from an exporter, no fallback to sim).
 *
 * Sections: helpers; checks; precedence; thresholds; JSON; the library on the
 * sim; the command.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "gpu/simstate.h"
#include "telemetry/exporter.h"
#include "telemetry/health.h"
#include "telemetry/telemetry.h"
#include "testutil.h"

/* ---- helpers ---- */

#define NOW_NS 1800000000000000000LL

static struct gpu_info info_h200(void) {
  struct gpu_info i = {
      .index = 0, .name = "NVIDIA H200", .uuid = "GPU-test", .pci_bus_id = "00000000:18:00.0"};
  i.valid = GPU_INFO_MAX_SM_CLOCK;
  i.max_sm_clock_mhz = 1980;
  return i;
}

/* A healthy H200 sample: every health-relevant value valid and fine. */
static struct gpu_sample good_sample(int64_t t_ns) {
  struct gpu_sample s;
  memset(&s, 0, sizeof s);
  s.t_ns = t_ns;
  struct gpu_values *v = &s.dev;
  gpu_values_set(v, GPU_M_GPU_UTIL, 90);
  gpu_values_set(v, GPU_M_SM_CLOCK, 1980);
  gpu_values_set(v, GPU_M_GPU_TEMP, 60);
  gpu_values_set(v, GPU_M_MEM_TEMP, 65);
  gpu_values_set(v, GPU_M_POWER, 600);
  gpu_values_set(v, GPU_M_CLOCK_REASONS, (double)GPU_CLOCK_REASON_SW_POWER_CAP);
  gpu_values_set(v, GPU_M_ECC_DBE_VOL, 0);
  gpu_values_set(v, GPU_M_ECC_DBE_AGG, 0);
  gpu_values_set(v, GPU_M_REMAP_CORRECTABLE, 0);
  gpu_values_set(v, GPU_M_REMAP_UNCORRECTABLE, 0);
  gpu_values_set(v, GPU_M_REMAP_PENDING, 0);
  gpu_values_set(v, GPU_M_REMAP_FAILURE, 0);
  gpu_values_set(v, GPU_M_PCIE_REPLAY, 10);
  gpu_values_set(v, GPU_M_RECOVERY_ACTION, 0);
  gpu_values_set(v, GPU_M_XID_LAST, 0);
  return s;
}

struct fixture {
  struct gpu_info info;
  struct gpu_sample prev, cur;
  struct xid_history xids;
  struct health_input in;
  struct thresholds t;
  struct health_gpu out;
};

static void setup(struct fixture *f) {
  memset(f, 0, sizeof *f);
  f->info = info_h200();
  f->prev = good_sample(NOW_NS - 1000000000LL);
  f->cur = good_sample(NOW_NS);
  xid_history_init(&f->xids);
  thresholds_default(&f->t);
  f->in =
      (struct health_input){.info = &f->info, .prev = &f->prev, .cur = &f->cur, .xids = &f->xids};
}

static const struct health_check *eval(struct fixture *f, enum health_check_id id) {
  health_evaluate_gpu(&f->t, &f->in, 0, NOW_NS, &f->out);
  return &f->out.checks[id];
}

#define assert_check(c, st, act)                                                         \
  do {                                                                                   \
    cr_assert_eq((c)->status, (st), "status %s (%s)", verdict_status_name((c)->status),  \
                 (c)->message);                                                          \
    cr_assert_eq((c)->action, (act), "action %s (%s)", verdict_action_name((c)->action), \
                 (c)->message);                                                          \
  } while (0)

/* ---- checks ---- */

Test(health, healthy_gpu_passes_every_applicable_check) {
  struct fixture f;
  setup(&f);
  health_evaluate_gpu(&f.t, &f.in, 0, NOW_NS, &f.out);
  for (int i = 0; i < HEALTH_CHECK_COUNT; i++) {
    const struct health_check *c = &f.out.checks[i];
    if (i == HEALTH_CHECK_RETIRED_PAGES) {
      cr_assert_eq(c->status, VERDICT_NA, "retired pages are N/A on a row-remapping GPU");
      continue;
    }
    cr_assert_eq(c->status, VERDICT_PASS, "%s: %s", health_check_name(i), c->message);
  }
  cr_assert_eq(f.out.status, VERDICT_PASS);
  cr_assert_eq(f.out.action, VERDICT_ACTION_NONE);
  cr_assert_str_eq(f.out.uuid, "GPU-test");
  cr_assert_eq(f.out.reason[0], '\0');
}

Test(health, xid_79_from_events_fails_with_reboot) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 79, NOW_NS - 5000000000LL);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_FAIL, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(f.out.status, VERDICT_FAIL);
  cr_assert_eq(f.out.action, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(f.out.n_xids, 1);
  cr_assert_eq(f.out.xids[0].xid, 79);
  cr_assert(strstr(f.out.reason, "XID 79"), "%s", f.out.reason);
}

Test(health, xid_from_the_sample_counts_without_events) {
  struct fixture f;
  setup(&f);
  f.in.xids = NULL;
  gpu_values_set(&f.cur.dev, GPU_M_XID_LAST, 48);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_FAIL, VERDICT_ACTION_RESET_GPU);
}

Test(health, xid_without_any_source_is_not_applicable) {
  struct fixture f;
  setup(&f);
  f.in.xids = NULL;
  f.cur.dev.valid &= ~(1ULL << GPU_M_XID_LAST);
  const struct health_check *c = eval(&f, HEALTH_CHECK_XID);
  cr_assert_eq(c->status, VERDICT_NA);
  cr_assert(strstr(c->message, "--watch"), "%s", c->message);
}

Test(health, old_xid_falls_out_of_the_window) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 79, NOW_NS - (int64_t)(f.t.xid_window_s + 1) * 1000000000LL);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_PASS, VERDICT_ACTION_NONE);
}

Test(health, most_severe_xid_decides) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 13, NOW_NS - 1000);
  xid_history_record(&f.xids, 95, NOW_NS - 2000);
  xid_history_record(&f.xids, 45, NOW_NS - 500);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_FAIL, VERDICT_ACTION_RESET_GPU);
  cr_assert_eq(f.out.xids[0].xid, 95, "most severe first");
  cr_assert_eq(f.out.n_xids, 3);
}

Test(health, unknown_xid_warns) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 4242, NOW_NS - 1000);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
}

Test(health, xid_154_defers_to_the_recovery_field) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 154, NOW_NS - 1000);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_PASS, VERDICT_ACTION_NONE);
  f.cur.dev.valid &= ~(1ULL << GPU_M_RECOVERY_ACTION);
  assert_check(eval(&f, HEALTH_CHECK_XID), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
}

Test(health, volatile_uncorrectable_ecc_fails_with_reset) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_ECC_DBE_VOL, 2);
  assert_check(eval(&f, HEALTH_CHECK_ECC_UNCORRECTABLE), VERDICT_FAIL, VERDICT_ACTION_RESET_GPU);
  cr_assert_eq(f.out.status, VERDICT_FAIL);
}

Test(health, aggregate_ecc_is_checked_only_when_configured) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_ECC_DBE_AGG, 5);
  assert_check(eval(&f, HEALTH_CHECK_ECC_UNCORRECTABLE), VERDICT_PASS, VERDICT_ACTION_NONE);
  f.t.ecc_dbe_aggregate_max = 3;
  assert_check(eval(&f, HEALTH_CHECK_ECC_UNCORRECTABLE), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
}

Test(health, ecc_not_reported_is_not_applicable) {
  struct fixture f;
  setup(&f);
  f.cur.dev.valid &= ~((1ULL << GPU_M_ECC_DBE_VOL) | (1ULL << GPU_M_ECC_DBE_AGG));
  cr_assert_eq(eval(&f, HEALTH_CHECK_ECC_UNCORRECTABLE)->status, VERDICT_NA);
  cr_assert_eq(f.out.status, VERDICT_PASS, "N/A never makes a GPU unhealthy");
}

Test(health, row_remap_failure_drains_for_repair_and_pending_resets) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_REMAP_PENDING, 1);
  assert_check(eval(&f, HEALTH_CHECK_ROW_REMAP), VERDICT_WARN, VERDICT_ACTION_RESET_GPU);
  gpu_values_set(&f.cur.dev, GPU_M_REMAP_FAILURE, 1);
  assert_check(eval(&f, HEALTH_CHECK_ROW_REMAP), VERDICT_FAIL, VERDICT_ACTION_DRAIN_AND_REPAIR);
  cr_assert_eq(f.out.action, VERDICT_ACTION_DRAIN_AND_REPAIR);
}

Test(health, retired_pages_on_older_gpus) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_RETIRED_SBE, 10);
  gpu_values_set(&f.cur.dev, GPU_M_RETIRED_DBE, 2);
  gpu_values_set(&f.cur.dev, GPU_M_RETIRED_PENDING, 0);
  assert_check(eval(&f, HEALTH_CHECK_RETIRED_PAGES), VERDICT_PASS, VERDICT_ACTION_NONE);
  gpu_values_set(&f.cur.dev, GPU_M_RETIRED_PENDING, 1);
  assert_check(eval(&f, HEALTH_CHECK_RETIRED_PAGES), VERDICT_WARN, VERDICT_ACTION_RESET_GPU);
  gpu_values_set(&f.cur.dev, GPU_M_RETIRED_DBE, 58);
  assert_check(eval(&f, HEALTH_CHECK_RETIRED_PAGES), VERDICT_FAIL, VERDICT_ACTION_DRAIN_AND_REPAIR);
}

Test(health, thermal_slowdown_warns) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_CLOCK_REASONS,
                 (double)(GPU_CLOCK_REASON_HW_THERMAL | GPU_CLOCK_REASON_HW_SLOWDOWN));
  assert_check(eval(&f, HEALTH_CHECK_THERMAL), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
  cr_assert_eq(f.out.checks[HEALTH_CHECK_POWER].status, VERDICT_PASS,
               "a thermal slowdown is not a power one");
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_GPU_TEMP, 91);
  assert_check(eval(&f, HEALTH_CHECK_THERMAL), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
  cr_assert_eq(f.out.status, VERDICT_WARN);
}

Test(health, power_brake_warns_and_power_cap_passes) {
  struct fixture f;
  setup(&f);
  assert_check(eval(&f, HEALTH_CHECK_POWER), VERDICT_PASS, VERDICT_ACTION_NONE);
  gpu_values_set(&f.cur.dev, GPU_M_CLOCK_REASONS, (double)GPU_CLOCK_REASON_HW_POWER_BRAKE);
  assert_check(eval(&f, HEALTH_CHECK_POWER), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
}

Test(health, pcie_replay_rate_needs_two_samples) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_PCIE_REPLAY, 12); /* 2 in 1 s = 120/min */
  assert_check(eval(&f, HEALTH_CHECK_PCIE_REPLAY), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
  f.t.pcie_replay_warn_per_min = 200;
  assert_check(eval(&f, HEALTH_CHECK_PCIE_REPLAY), VERDICT_PASS, VERDICT_ACTION_NONE);
  f.in.prev = NULL;
  cr_assert_eq(eval(&f, HEALTH_CHECK_PCIE_REPLAY)->status, VERDICT_NA);
}

Test(health, clocks_stuck_low_under_load_warn_unless_explained) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_SM_CLOCK, 600);
  gpu_values_set(&f.cur.dev, GPU_M_CLOCK_REASONS, 0);
  assert_check(eval(&f, HEALTH_CHECK_CLOCKS), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
  gpu_values_set(&f.cur.dev, GPU_M_CLOCK_REASONS, (double)GPU_CLOCK_REASON_SW_THERMAL);
  assert_check(eval(&f, HEALTH_CHECK_CLOCKS), VERDICT_PASS, VERDICT_ACTION_NONE);
  gpu_values_set(&f.cur.dev, GPU_M_CLOCK_REASONS, 0);
  gpu_values_set(&f.cur.dev, GPU_M_GPU_UTIL, 10); /* idle: low clocks are normal */
  assert_check(eval(&f, HEALTH_CHECK_CLOCKS), VERDICT_PASS, VERDICT_ACTION_NONE);
  f.cur.dev.valid &= ~(1ULL << GPU_M_GPU_UTIL); /* MIG mode */
  cr_assert_eq(eval(&f, HEALTH_CHECK_CLOCKS)->status, VERDICT_NA);
}

Test(health, lost_gpu_fails_with_reboot) {
  struct fixture f;
  setup(&f);
  f.in.cur = f.in.prev = NULL;
  f.in.sample_rc = ERR_GPU_LOST;
  f.in.sample_msg = "fell off the bus";
  assert_check(eval(&f, HEALTH_CHECK_GPU_LOST), VERDICT_FAIL, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(f.out.checks[HEALTH_CHECK_ECC_UNCORRECTABLE].status, VERDICT_NA);
  cr_assert_eq(f.out.action, VERDICT_ACTION_REBOOT_NODE);
}

Test(health, unreadable_gpu_warns) {
  struct fixture f;
  setup(&f);
  f.in.sample_rc = ERR_DRIVER;
  f.in.sample_msg = "NVML said no";
  assert_check(eval(&f, HEALTH_CHECK_GPU_LOST), VERDICT_WARN, VERDICT_ACTION_INVESTIGATE);
  cr_assert(strstr(f.out.checks[HEALTH_CHECK_GPU_LOST].message, "NVML said no"));
}

/* ---- precedence ---- */

Test(health, recovery_reboot_overrides_a_milder_xid_action) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 13, NOW_NS - 1000); /* restart_app */
  gpu_values_set(&f.cur.dev, GPU_M_RECOVERY_ACTION, GPU_RECOVERY_NODE_REBOOT);
  assert_check(eval(&f, HEALTH_CHECK_RECOVERY_ACTION), VERDICT_FAIL, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(f.out.checks[HEALTH_CHECK_XID].action, VERDICT_ACTION_RESTART_APP);
  cr_assert_eq(f.out.action, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(f.out.recovery_action, GPU_RECOVERY_NODE_REBOOT);
  cr_assert(strstr(f.out.reason, "recovery_action"), "%s", f.out.reason);
}

Test(health, the_driver_word_comes_first_even_when_milder) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 79, NOW_NS - 1000); /* reboot_node */
  gpu_values_set(&f.cur.dev, GPU_M_RECOVERY_ACTION, GPU_RECOVERY_GPU_RESET);
  health_evaluate_gpu(&f.t, &f.in, 0, NOW_NS, &f.out);
  cr_assert_eq(f.out.action, VERDICT_ACTION_RESET_GPU);
  cr_assert_eq(f.out.checks[HEALTH_CHECK_XID].action, VERDICT_ACTION_REBOOT_NODE,
               "the finding keeps its own");
}

Test(health, node_verdict_and_exit_codes) {
  struct health_report r;
  health_report_init(&r);
  struct health_gpu g[3];
  memset(g, 0, sizeof g);
  for (int i = 0; i < 3; i++) g[i].index = i;
  r.gpus = g;
  r.n_gpus = 3;
  health_report_finish(&r);
  cr_assert_eq(r.verdict, HEALTH_HEALTHY);
  cr_assert(strstr(r.summary, "healthy: 3 GPUs pass"), "%s", r.summary);
  cr_assert_eq(health_report_exit_code(&r, true), 0);
  g[1].status = VERDICT_WARN, g[1].action = VERDICT_ACTION_INVESTIGATE;
  health_report_finish(&r);
  cr_assert_eq(r.verdict, HEALTH_DEGRADED);
  cr_assert_eq(health_report_exit_code(&r, false), 0, "WARN is healthy enough by default");
  cr_assert_eq(health_report_exit_code(&r, true), 1, "--fail-on warn");
  g[2].status = VERDICT_FAIL, g[2].action = VERDICT_ACTION_RESET_GPU;
  snprintf(g[2].reason, sizeof g[2].reason, "xid: XID 48");
  health_report_finish(&r);
  cr_assert_eq(r.verdict, HEALTH_FAILED);
  cr_assert_eq(r.action, VERDICT_ACTION_RESET_GPU);
  cr_assert(strstr(r.summary, "GPU 2 reset_gpu (xid: XID 48)"), "%s", r.summary);
  cr_assert_eq(health_report_exit_code(&r, false), 1);
}

/* ---- thresholds ---- */

static const char *fixture_path(const char *name) {
  static char path[1024];
  const char *dir = getenv("GPUOPS_FIXTURES");
  cr_assert(dir && *dir, "GPUOPS_FIXTURES is not set (run through ctest)");
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

Test(health, thresholds_file_sets_every_key) {
  struct thresholds t;
  thresholds_default(&t);
  cr_assert_eq(thresholds_load(&t, fixture_path("health-thresholds.yaml")), 0, "%s", err_msg());
  cr_assert_float_eq(t.xid_window_s, 600, 1e-9);
  cr_assert_float_eq(t.ecc_dbe_volatile_max, 2, 1e-9);
  cr_assert_float_eq(t.ecc_dbe_aggregate_max, 10, 1e-9);
  cr_assert_float_eq(t.retired_pages_max, 30, 1e-9);
  cr_assert_float_eq(t.gpu_temp_warn_c, 80.5, 1e-9);
  cr_assert_float_eq(t.memory_temp_warn_c, 90, 1e-9);
  cr_assert_float_eq(t.pcie_replay_warn_per_min, 4, 1e-9);
  cr_assert_float_eq(t.clocks_busy_util_pct, 70, 1e-9);
  cr_assert_float_eq(t.clocks_low_ratio, 0.4, 1e-9);
  cr_assert(t.disabled[HEALTH_CHECK_POWER] && t.disabled[HEALTH_CHECK_CLOCKS]);
  cr_assert(!t.disabled[HEALTH_CHECK_XID]);
}

Test(health, disabled_check_reads_not_applicable) {
  struct fixture f;
  setup(&f);
  gpu_values_set(&f.cur.dev, GPU_M_CLOCK_REASONS, (double)GPU_CLOCK_REASON_HW_POWER_BRAKE);
  f.t.disabled[HEALTH_CHECK_POWER] = true;
  const struct health_check *c = eval(&f, HEALTH_CHECK_POWER);
  cr_assert_eq(c->status, VERDICT_NA);
  cr_assert(strstr(c->message, "disabled"));
}

Test(health, bad_thresholds_name_file_line_and_key) {
  static const struct {
    const char *file, *want;
  } cases[] = {
      {"health-bad-unknown-key.yaml", "health-bad-unknown-key.yaml:2: unknown key 'gpu_temp_warn'"},
      {"health-bad-value.yaml",
       "health-bad-value.yaml:2: retired_pages_max: 'sixty' is not a number"},
      {"health-bad-range.yaml", "health-bad-range.yaml:1: clocks_low_ratio: 1.5 is out of range"},
      {"health-bad-check.yaml", "health-bad-check.yaml:3: disable: unknown check 'fans'"},
      {"health-bad-syntax.yaml", "YAML syntax error"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct thresholds t;
    thresholds_default(&t);
    double before = t.xid_window_s;
    int rc = thresholds_load(&t, fixture_path(cases[i].file));
    cr_assert_lt(rc, 0, "%s loaded", cases[i].file);
    cr_assert_eq(err_exit_code(rc), 2, "%s: bad input is exit 2", cases[i].file);
    cr_assert(strstr(err_msg(), cases[i].want), "%s: got '%s'", cases[i].file, err_msg());
    cr_assert_float_eq(t.xid_window_s, before, 1e-9, "a failed load changes nothing");
  }
  struct thresholds t;
  cr_assert_eq(thresholds_load(&t, "/nonexistent/thresholds.yaml"), ERR_IO);
}

Test(health, empty_thresholds_keep_defaults) {
  struct thresholds t, d;
  thresholds_default(&t);
  thresholds_default(&d);
  cr_assert_eq(thresholds_parse(&t, "", 0, "empty"), 0);
  cr_assert_eq(memcmp(&t, &d, sizeof t), 0);
  cr_assert_lt(thresholds_parse(&t, "- 1\n- 2\n", 8, "list"), 0);
}

/* ---- JSON ---- */

Test(health, json_round_trip) {
  struct fixture f;
  setup(&f);
  xid_history_record(&f.xids, 79, NOW_NS - 1000);
  gpu_values_set(&f.cur.dev, GPU_M_REMAP_PENDING, 1);
  struct health_report r;
  health_report_init(&r);
  r.gpus = calloc(2, sizeof *r.gpus);
  r.n_gpus = 2;
  health_evaluate_gpu(&f.t, &f.in, 0, NOW_NS, &r.gpus[0]);
  setup(&f);
  health_evaluate_gpu(&f.t, &f.in, 1, NOW_NS, &r.gpus[1]);
  snprintf(r.host, sizeof r.host, "node-a");
  snprintf(r.backend, sizeof r.backend, "sim");
  r.simulated = true;
  r.t_ns = NOW_NS;
  health_report_finish(&r);

  json_t *doc = health_report_json(&r);
  cr_assert_not_null(doc);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "schema")), "gpuops.health/v1");
  cr_assert_str_eq(json_string_value(json_object_get(doc, "verdict")), "failed");
  cr_assert_str_eq(json_string_value(json_object_get(doc, "action")), "reboot_node");
  json_t *g0 = json_array_get(json_object_get(doc, "gpus"), 0);
  cr_assert(json_is_false(json_object_get(g0, "healthy")));
  cr_assert_eq(json_array_size(json_object_get(g0, "checks")), HEALTH_CHECK_COUNT);
  cr_assert_eq(
      json_integer_value(json_object_get(json_array_get(json_object_get(g0, "xids"), 0), "xid")),
      79);

  char *text = json_dumps(doc, 0);
  json_t *back_doc = json_loads(text, 0, NULL);
  struct health_report back;
  cr_assert_eq(health_report_from_json(back_doc, &back), 0, "%s", err_msg());
  cr_assert_eq(back.verdict, r.verdict);
  cr_assert_eq(back.action, r.action);
  cr_assert_eq(back.n_gpus, 2);
  cr_assert_str_eq(back.host, "node-a");
  cr_assert(back.simulated);
  for (int g = 0; g < 2; g++)
    for (int c = 0; c < HEALTH_CHECK_COUNT; c++) {
      cr_assert_eq(back.gpus[g].checks[c].status, r.gpus[g].checks[c].status);
      cr_assert_eq(back.gpus[g].checks[c].action, r.gpus[g].checks[c].action);
      cr_assert_str_eq(back.gpus[g].checks[c].message, r.gpus[g].checks[c].message);
    }
  cr_assert_eq(back.gpus[0].xids[0].xid, 79);
  health_report_free(&back);
  json_decref(back_doc);
  free(text);

  json_object_set_new(doc, "verdict", json_string("fine"));
  cr_assert_lt(health_report_from_json(doc, &back), 0);
  cr_assert(strstr(err_msg(), "verdict 'fine'"), "%s", err_msg());
  json_object_del(doc, "gpus");
  cr_assert_lt(health_report_from_json(doc, &back), 0);
  json_decref(doc);
  health_report_free(&r);
}

/* ---- the library on the sim ---- */

static char tmpdir[256], state[300];

static void sim_setup(void) {
  testutil_tmpdir(tmpdir, sizeof tmpdir, "health");
  snprintf(state, sizeof state, "%s/sim-state.json", tmpdir);
  setenv("GPUOPS_SIM_STATE", state, 1);
  unsetenv("GPUOPS_SIM_NODE");
  unsetenv("GPUOPS_SIM_TIME_NS");
}

static void sim_teardown(void) { testutil_rmrf(tmpdir); }

static void inject(int gpu, enum sim_fault_kind kind, int64_t value) {
  struct sim_fault f = {.gpu = gpu, .kind = kind, .value = value};
  snprintf(f.node, sizeof f.node, "sim-node-0");
  cr_assert_eq(simstate_add(state, &f), 0, "%s", err_msg());
}

static void collect(struct health_report *r) {
  struct gpu_options o = {.kind = GPU_BACKEND_SIM, .sim_state_path = state};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), 0, "%s", err_msg());
  struct health_collect_opts co = {.interval_ms = 20};
  cr_assert_eq(health_collect(b, &co, r), 0, "%s", err_msg());
  gpu_close(b);
}

Test(health_sim, nothing_injected_stays_healthy, .init = sim_setup, .fini = sim_teardown) {
  struct health_report r;
  collect(&r);
  cr_assert_eq(r.n_gpus, 8);
  cr_assert_eq(r.verdict, HEALTH_HEALTHY, "%s", r.summary);
  cr_assert(r.simulated);
  cr_assert_str_eq(r.backend, "sim");
  for (int i = 0; i < r.n_gpus; i++) {
    cr_assert_eq(r.gpus[i].checks[HEALTH_CHECK_XID].status, VERDICT_PASS);
    cr_assert_eq(r.gpus[i].checks[HEALTH_CHECK_PCIE_REPLAY].status, VERDICT_PASS,
                 "two samples were taken");
  }
  health_report_free(&r);
}

Test(health_sim, injected_xid_79_fails_with_reboot, .init = sim_setup, .fini = sim_teardown) {
  inject(3, SIM_FAULT_XID, 79);
  struct health_report r;
  collect(&r);
  cr_assert_eq(r.verdict, HEALTH_FAILED);
  cr_assert_eq(r.action, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(r.gpus[3].checks[HEALTH_CHECK_XID].status, VERDICT_FAIL);
  cr_assert_eq(r.gpus[2].status, VERDICT_PASS, "other GPUs stay healthy");
  health_report_free(&r);
}

Test(health_sim, injected_ecc_fails_with_reset, .init = sim_setup, .fini = sim_teardown) {
  inject(5, SIM_FAULT_ECC_UNCORRECTABLE, 2);
  struct health_report r;
  collect(&r);
  cr_assert_eq(r.verdict, HEALTH_FAILED);
  cr_assert_eq(r.gpus[5].checks[HEALTH_CHECK_ECC_UNCORRECTABLE].status, VERDICT_FAIL);
  cr_assert_eq(r.gpus[5].checks[HEALTH_CHECK_ROW_REMAP].status, VERDICT_WARN, "a remap is pending");
  cr_assert_eq(r.gpus[5].action, VERDICT_ACTION_RESET_GPU);
  health_report_free(&r);
}

Test(health_sim, recovery_reboot_overrides_xid_13, .init = sim_setup, .fini = sim_teardown) {
  inject(1, SIM_FAULT_XID, 13);
  inject(1, SIM_FAULT_RECOVERY_ACTION, GPU_RECOVERY_NODE_REBOOT);
  struct health_report r;
  collect(&r);
  cr_assert_eq(r.gpus[1].checks[HEALTH_CHECK_XID].action, VERDICT_ACTION_RESTART_APP);
  cr_assert_eq(r.gpus[1].action, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(r.action, VERDICT_ACTION_REBOOT_NODE);
  health_report_free(&r);
}

Test(health_sim, fallen_off_the_bus_and_row_remap_failure, .init = sim_setup,
     .fini = sim_teardown) {
  inject(0, SIM_FAULT_FALLEN_OFF_BUS, 79);
  inject(6, SIM_FAULT_ROW_REMAP_FAILURE, 0);
  inject(7, SIM_FAULT_THERMAL, 0);
  struct health_report r;
  collect(&r);
  cr_assert_eq(r.gpus[0].checks[HEALTH_CHECK_GPU_LOST].status, VERDICT_FAIL);
  cr_assert_eq(r.gpus[0].action, VERDICT_ACTION_REBOOT_NODE);
  cr_assert_eq(r.gpus[6].action, VERDICT_ACTION_DRAIN_AND_REPAIR);
  cr_assert_eq(r.gpus[7].status, VERDICT_WARN, "thermal slowdown warns: %s", r.gpus[7].reason);
  cr_assert_eq(r.action, VERDICT_ACTION_DRAIN_AND_REPAIR, "the node takes the most severe action");
  health_report_free(&r);
}

Test(health_sim, dossier_section, .init = sim_setup, .fini = sim_teardown) {
  inject(2, SIM_FAULT_XID, 48);
  struct gpu_options o = {.kind = GPU_BACKEND_SIM, .sim_state_path = state};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), 0);
  json_t *sec = telemetry_dossier_section(b);
  gpu_close(b);
  cr_assert_not_null(sec);
  cr_assert_str_eq(json_string_value(json_object_get(sec, "id")), "health");
  cr_assert_str_eq(json_string_value(json_object_get(sec, "status")), "fail");
  cr_assert(strstr(json_string_value(json_object_get(sec, "summary")), "reset_gpu"));
  json_t *tables = json_object_get(sec, "tables");
  cr_assert_eq(json_array_size(tables), 2, "GPUs and findings");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(sec, "health"), "verdict")),
                   "failed");
  json_decref(sec);
}

/* ---- the command ---- */

static const char *bin(void) {
  const char *b = getenv("GPUOPS_BIN");
  cr_assert(b && *b, "GPUOPS_BIN is not set (run through ctest)");
  return b;
}

/* Run "$GPUOPS_BIN args" (a shell word list), stdout into *out (caller frees); returns the exit
 * status. */
static int run(const char *args, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", bin(), args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t got;
  while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
  }
  buf[len] = '\0';
  int st = pclose(p);
  if (out)
    *out = buf;
  else
    free(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *run_json(const char *args, int *code) {
  char *out = NULL;
  *code = run(args, &out);
  json_error_t e;
  json_t *doc = json_loads(out, 0, &e);
  cr_assert_not_null(doc, "not JSON (%s): %s", e.text, out);
  free(out);
  return doc;
}

Test(health_cli, healthy_sim_exits_0, .init = sim_setup, .fini = sim_teardown) {
  int code;
  json_t *doc = run_json("health --backend sim --interval 20 --format json", &code);
  cr_assert_eq(code, 0);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "verdict")), "healthy");
  cr_assert(json_is_true(json_object_get(doc, "simulated")));
  cr_assert_eq(json_array_size(json_object_get(doc, "gpus")), 8);
  json_decref(doc);
}

Test(health_cli, injected_faults_through_the_command_line, .init = sim_setup,
     .fini = sim_teardown) {
  cr_assert_eq(run("sim inject --gpu 4 --xid 79", NULL), 0);
  int code;
  json_t *doc = run_json("health --backend sim --interval 0 --format json", &code);
  cr_assert_eq(code, 1, "unhealthy is exit 1");
  cr_assert_str_eq(json_string_value(json_object_get(doc, "action")), "reboot_node");
  json_t *g4 = json_array_get(json_object_get(doc, "gpus"), 4);
  cr_assert_str_eq(json_string_value(json_object_get(g4, "status")), "fail");
  json_decref(doc);

  cr_assert_eq(run("sim clear", NULL), 0);
  cr_assert_eq(run("sim inject --gpu 2 --ecc-uncorrectable", NULL), 0);
  doc = run_json("health --backend sim --interval 0 --format json", &code);
  cr_assert_eq(code, 1);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "action")), "reset_gpu");
  json_decref(doc);

  cr_assert_eq(run("sim clear", NULL), 0);
  cr_assert_eq(run("sim inject --gpu 1 --xid 13", NULL), 0);
  cr_assert_eq(run("sim inject --gpu 1 --recovery-action node-reboot", NULL), 0);
  doc = run_json("health --backend sim --interval 0 --format json", &code);
  cr_assert_eq(code, 1);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "action")), "reboot_node");
  json_decref(doc);
}

Test(health_cli, fail_on_warn, .init = sim_setup, .fini = sim_teardown) {
  cr_assert_eq(run("sim inject --gpu 0 --thermal", NULL), 0);
  cr_assert_eq(run("health --backend sim --interval 0", NULL), 0, "WARN is exit 0 by default");
  cr_assert_eq(run("health --backend sim --interval 0 --fail-on warn", NULL), 1);
  cr_assert_eq(run("health --backend sim --interval 0 --fail-on sometimes", NULL), 2);
}

Test(health_cli, npd_contract, .init = sim_setup, .fini = sim_teardown) {
  char *out = NULL;
  cr_assert_eq(run("health --backend sim --interval 0 --npd", &out), 0);
  cr_assert(strstr(out, "healthy"), "%s", out);
  cr_assert_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "one line: %s", out);
  free(out);
  cr_assert_eq(run("sim inject --gpu 3 --xid 79", NULL), 0);
  cr_assert_eq(run("health --backend sim --interval 0 --npd", &out), 1);
  cr_assert(strstr(out, "XID 79"), "%s", out);
  free(out);
  setenv("GPUOPS_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  cr_assert_eq(run("health --backend nvml --npd", &out), 2, "unknown");
  cr_assert(strstr(out, "unknown"), "%s", out);
  free(out);
}

Test(health_cli, never_falls_back_to_sim, .init = sim_setup, .fini = sim_teardown) {
  setenv("GPUOPS_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  cr_assert_eq(run("health", NULL), 3, "auto without NVML is exit 3, not a simulated healthy");
  cr_assert_eq(run("health --backend nvml", NULL), 3);
  cr_assert_eq(run("health --backend sim --thresholds /nonexistent.yaml", NULL), 2);
  char args[1200];
  snprintf(args, sizeof args, "health --backend sim --thresholds '%s'",
           fixture_path("health-bad-unknown-key.yaml"));
  cr_assert_eq(run(args, NULL), 2);
}

Test(health_cli, csv_lists_every_check, .init = sim_setup, .fini = sim_teardown) {
  char *out = NULL;
  cr_assert_eq(run("health --backend sim --interval 0 --format csv", &out), 0);
  int lines = 0;
  for (char *p = out; *p; p++) lines += *p == '\n';
  cr_assert_eq(lines, 1 + 8 * HEALTH_CHECK_COUNT, "%s", out);
  cr_assert(strstr(out, "gpu,uuid,check,status,action,message"));
  free(out);
}

Test(health_cli, reads_an_exporter_health, .init = sim_setup, .fini = sim_teardown) {
  inject(6, SIM_FAULT_XID, 95);
  struct gpu_options o = {.kind = GPU_BACKEND_SIM, .sim_state_path = state};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), 0);
  struct exporter *e = NULL;
  struct exporter_config cfg = {.listen = "127.0.0.1:0", .backend = b, .interval_ms = 200};
  cr_assert_eq(exporter_start(&cfg, &e), 0, "%s", err_msg());
  char args[256];
  snprintf(args, sizeof args, "health --from %s/health --format json", exporter_url(e));
  int code;
  json_t *doc = run_json(args, &code);
  cr_assert_eq(code, 1);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "action")), "reset_gpu");
  json_decref(doc);
  snprintf(args, sizeof args, "health --from %s/health --npd", exporter_url(e));
  cr_assert_eq(run(args, NULL), 1);
  snprintf(args, sizeof args, "health --from http://127.0.0.1:%d/nothing", exporter_port(e));
  cr_assert_eq(run(args, NULL), 3, "a 404 is not a verdict");
  exporter_stop(e);
  gpu_close(b);
  cr_assert_eq(run(args, NULL), 3, "nothing listening: environment missing");
}
