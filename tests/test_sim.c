/*
 * test_sim.c — gpu/sim.c: the simulated GPU backend.
 *
 * Every test gets its own fault state file (a fresh temp folder) and pins the
 * simulated clock with $GPUOPS_SIM_TIME_NS, so nothing depends on timing.
 *
 * Sections: helpers; opening and static info; the same readings in every
 * process; the load model (utilisation, power, energy, temperature, GPM);
 * faults; events; MIG; a fleet from a spec file.
 */
#define _GNU_SOURCE /* nftw in testutil.h */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "testutil.h"
#include "base/timeutil.h"
#include "catalog/catalog.h"
#include "gpu/gpu.h"
#include "gpu/simstate.h"
#include "inventory/inventory.h"

/* ---- helpers ---- */

#define T0  1764382639000000000LL /* 2025-11-29T02:17:19Z */
#define SEC 1000000000LL

static char state_path[512];

/* The temp folder of this test, removed after each test (the suite's fini). */
static char temp_dir[256];

static void remove_temp_dir(void) { testutil_rmrf(temp_dir); }

TestSuite(sim, .fini = remove_temp_dir);

static const char *make_temp_dir(void) {
  testutil_tmpdir(temp_dir, sizeof temp_dir, "sim");
  return temp_dir;
}

static void fresh_state(void) {
  snprintf(state_path, sizeof state_path, "%s/sim-state.json", make_temp_dir());
  unsetenv("GPUOPS_SIM_NODE");
  unsetenv("GPUOPS_SIM_TIME_NS");
}

static struct gpu_backend *open_sim(const struct inventory *inv, const char *node) {
  struct gpu_options o = {
      .kind = GPU_BACKEND_SIM, .inv = inv, .sim_node = node, .sim_state_path = state_path};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), 0, "%s", err_msg());
  cr_assert(b->simulated);
  cr_assert_str_eq(gpu_backend_name(b), "sim");
  return b;
}

static void pin(int64_t t_ns) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)t_ns);
  setenv("GPUOPS_SIM_TIME_NS", buf, 1);
}

static double get(const struct gpu_values *v, enum gpu_metric m) {
  double x = 0;
  cr_assert(gpu_values_get(v, m, &x), "%s should be valid", gpu_metric_key(m));
  return x;
}

static bool valid(const struct gpu_values *v, enum gpu_metric m) {
  double x;
  return gpu_values_get(v, m, &x);
}

static struct gpu_sample sample_at(struct gpu_backend *b, int gpu, int64_t t_ns) {
  struct gpu_sample s;
  pin(t_ns);
  cr_assert_eq(gpu_sample(b, gpu, &s), 0, "%s", err_msg());
  cr_assert_eq(s.t_ns, t_ns);
  return s;
}

/* One metric of one GPU at time t (must be valid). */
static double metric_at(struct gpu_backend *b, int gpu, int64_t t_ns, enum gpu_metric m) {
  struct gpu_sample s = sample_at(b, gpu, t_ns);
  return get(&s.dev, m);
}

static bool valid_at(struct gpu_backend *b, int gpu, int64_t t_ns, enum gpu_metric m) {
  struct gpu_sample s = sample_at(b, gpu, t_ns);
  return valid(&s.dev, m);
}

static void inject(const char *node, int gpu, enum sim_fault_kind k, int64_t value) {
  struct sim_fault f = {.gpu = gpu, .kind = k, .value = value};
  snprintf(f.node, sizeof f.node, "%s", node);
  cr_assert_eq(simstate_add(state_path, &f), 0, "%s", err_msg());
}

/* The first GPU of the default node that is busy at T0 (a quarter are idle). */
static int busy_gpu(struct gpu_backend *b) {
  for (int i = 0; i < gpu_count(b); i++) {
    struct gpu_sample s = sample_at(b, i, T0);
    if (get(&s.dev, GPU_M_GPU_UTIL) > 0) return i;
  }
  cr_assert_fail("no busy simulated GPU");
  return -1;
}

static const char *default_node(void) {
  static struct inventory inv;
  inventory_init(&inv);
  cr_assert_eq(inventory_default(&inv), 0, "%s", err_msg());
  static char name[INV_NAME_MAX];
  snprintf(name, sizeof name, "%s", inv.nodes[0].name);
  inventory_free(&inv);
  return name;
}

static bool is_hex(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (!strchr("0123456789abcdef", s[i]) || !s[i]) return false;
  return true;
}

/* ---- opening and static info ---- */

Test(sim, default_fleet_static_info_matches_the_catalog) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  const struct catalog_model *h200 = catalog_find("H200");
  cr_assert_not_null(h200);
  int n = gpu_count(b);
  cr_assert_eq(n, 8);
  char uuids[8][96], buses[8][32];
  for (int i = 0; i < n; i++) {
    struct gpu_info in;
    cr_assert_eq(gpu_get_info(b, i, &in), 0, "%s", err_msg());
    cr_assert_eq(in.index, i);
    cr_assert_str_eq(in.name, h200->product_name);
    cr_assert_eq(in.model, h200);
    cr_assert_eq(in.memory_total_mib, h200->memory_mib);
    cr_assert_eq(in.pci_device_id, h200->pci_device_id);
    cr_assert_eq(in.sm_count, h200->sm_count);
    cr_assert_eq(in.max_sm_clock_mhz, h200->max_sm_clock_mhz);
    cr_assert_eq(in.max_mem_clock_mhz, h200->max_mem_clock_mhz);
    cr_assert_eq(in.power_limit_mw, h200->power_limit_w * 1000);
    cr_assert_eq(in.cc_major, h200->cc_major);
    cr_assert_eq(in.cc_minor, h200->cc_minor);
    cr_assert_str_eq(in.driver_version, "580.159.04");
    cr_assert_eq(in.cuda_version, 13000);
    cr_assert(in.valid & GPU_INFO_CUDA_VERSION && in.valid & GPU_INFO_PCI_DEVICE_ID &&
              in.valid & GPU_INFO_MIG_MODE && in.valid & GPU_INFO_GPM);
    cr_assert_eq(in.mig_current, 0);
    cr_assert(in.gpm_supported, "Hopper has GPM");
    cr_assert(in.simulated);
    cr_assert_str_eq(in.note, "");
    /* "GPU-5b4d677f-7820-937b-dc69-b778bf616ab8" */
    cr_assert_eq(strlen(in.uuid), 40, "%s", in.uuid);
    cr_assert(!strncmp(in.uuid, "GPU-", 4) && is_hex(in.uuid + 4, 8) && in.uuid[12] == '-' &&
                  is_hex(in.uuid + 13, 4) && in.uuid[17] == '-' && is_hex(in.uuid + 18, 4) &&
                  in.uuid[22] == '-' && is_hex(in.uuid + 23, 4) && in.uuid[27] == '-' &&
                  is_hex(in.uuid + 28, 12),
              "%s", in.uuid);
    unsigned bus = 0;
    cr_assert_eq(sscanf(in.pci_bus_id, "00000000:%02X:00.0", &bus), 1, "%s", in.pci_bus_id);
    cr_assert_eq(strlen(in.serial), 13, "%s", in.serial);
    snprintf(uuids[i], sizeof uuids[i], "%s", in.uuid);
    snprintf(buses[i], sizeof buses[i], "%s", in.pci_bus_id);
  }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      cr_assert_str_neq(uuids[i], uuids[j]);
      cr_assert_str_neq(buses[i], buses[j]);
    }
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, n, &in), ERR_RANGE);
  gpu_close(b);
}

Test(sim, unknown_node_is_not_found_and_lists_the_fleet) {
  fresh_state();
  const char *name = default_node();
  struct gpu_options o = {
      .kind = GPU_BACKEND_SIM, .sim_node = "no-such-node", .sim_state_path = state_path};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), ERR_NOTFOUND);
  cr_assert_null(b);
  cr_assert(strstr(err_msg(), "no-such-node") && strstr(err_msg(), name), "%s", err_msg());
  o.sim_node = NULL;
  setenv("GPUOPS_SIM_NODE", "also-missing", 1);
  cr_assert_eq(gpu_open(&o, &b), ERR_NOTFOUND);
  cr_assert(strstr(err_msg(), "also-missing"), "%s", err_msg());
  setenv("GPUOPS_SIM_NODE", name, 1);
  cr_assert_eq(gpu_open(&o, &b), 0, "%s", err_msg());
  gpu_close(b);
}

Test(sim, bad_pinned_clock_is_rejected) {
  fresh_state();
  struct gpu_options o = {.kind = GPU_BACKEND_SIM, .sim_state_path = state_path};
  struct gpu_backend *b = NULL;
  const char *bad[] = {"soon", "12abc", "5", "-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("GPUOPS_SIM_TIME_NS", bad[i], 1);
    cr_assert_eq(gpu_open(&o, &b), ERR_INVALID, "accepted %s", bad[i]);
    cr_assert(strstr(err_msg(), "GPUOPS_SIM_TIME_NS"), "%s", err_msg());
  }
  unsetenv("GPUOPS_SIM_TIME_NS");
  cr_assert_eq(gpu_open(&o, &b), 0);
  setenv("GPUOPS_SIM_TIME_NS", "later", 1);
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), ERR_INVALID, "a bad clock set after open fails the sample");
  gpu_close(b);
}

/* ---- the same readings in every process ---- */

Test(sim, two_backends_agree_on_info_and_readings) {
  fresh_state();
  struct gpu_backend *a = open_sim(NULL, NULL), *b = open_sim(NULL, NULL);
  for (int i = 0; i < gpu_count(a); i++) {
    struct gpu_info ia, ib;
    cr_assert_eq(gpu_get_info(a, i, &ia), 0);
    cr_assert_eq(gpu_get_info(b, i, &ib), 0);
    cr_assert_eq(memcmp(&ia, &ib, sizeof ia), 0, "GPU %d info differs", i);
  }
  for (int step = 0; step < 3; step++) {
    int64_t t = T0 + step * 17 * SEC;
    for (int i = 0; i < gpu_count(a); i++) {
      struct gpu_sample sa = sample_at(a, i, t), sb = sample_at(b, i, t);
      cr_assert_eq(sa.dev.valid, sb.dev.valid);
      for (int m = 0; m < GPU_METRIC_COUNT; m++)
        if (sa.dev.valid & (1ULL << m))
          cr_assert_eq(sa.dev.v[m], sb.dev.v[m], "GPU %d %s", i, gpu_metric_key(m));
      cr_assert_eq(step > 0, valid(&sa.dev, GPU_M_GPM_SM_ACTIVE), "GPM from the second sample");
    }
  }
  gpu_close(a);
  gpu_close(b);
}

Test(sim, readings_vary_with_time_and_between_gpus) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  int g = busy_gpu(b);
  double utils[40], powers[8];
  int distinct = 0;
  for (int k = 0; k < 40; k++) {
    utils[k] = metric_at(b, g, T0 + k * 37 * SEC, GPU_M_GPU_UTIL);
    bool seen = false;
    for (int j = 0; j < k; j++) seen |= utils[j] == utils[k];
    distinct += !seen;
  }
  cr_assert_gt(distinct, 5, "utilisation of a busy GPU varies over time");
  for (int i = 0; i < 8; i++) powers[i] = metric_at(b, i, T0, GPU_M_POWER);
  int differ = 0;
  for (int i = 1; i < 8; i++) differ += powers[i] != powers[0];
  cr_assert_gt(differ, 0, "GPUs are not clones");
  gpu_close(b);
}

/* ---- the load model ---- */

Test(sim, utilisation_power_and_idle_reason_are_consistent) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, 0, &in), 0);
  double limit_w = in.power_limit_mw / 1000.0;
  for (int i = 0; i < gpu_count(b); i++) {
    double u[60], p[60];
    for (int k = 0; k < 60; k++) {
      struct gpu_sample s = sample_at(b, i, T0 + k * 23 * SEC);
      u[k] = get(&s.dev, GPU_M_GPU_UTIL);
      p[k] = get(&s.dev, GPU_M_POWER);
      double reasons = get(&s.dev, GPU_M_CLOCK_REASONS);
      cr_assert(u[k] >= 0 && u[k] <= 100);
      cr_assert(p[k] > 100 && p[k] < limit_w, "power %.1f W", p[k]);
      cr_assert_eq(((uint64_t)reasons & GPU_CLOCK_REASON_GPU_IDLE) != 0, u[k] == 0);
      cr_assert_eq(get(&s.dev, GPU_M_SM_CLOCK), in.max_sm_clock_mhz);
      cr_assert_eq(get(&s.dev, GPU_M_MEM_CLOCK), in.max_mem_clock_mhz);
      double used = get(&s.dev, GPU_M_FB_USED), fr = get(&s.dev, GPU_M_FB_FREE);
      double res = get(&s.dev, GPU_M_FB_RESERVED);
      cr_assert_eq(used + fr + res, (double)in.memory_total_mib);
      cr_assert(u[k] > 0 || used == 0, "an idle GPU holds no memory");
    }
    for (int x = 0; x < 60; x++)
      for (int y = 0; y < 60; y++)
        if (u[x] >= u[y] + 5) cr_assert_gt(p[x], p[y], "power follows utilisation");
  }
  gpu_close(b);
}

Test(sim, energy_is_monotonic_and_the_integral_of_power) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  int g = busy_gpu(b);
  double prev = -1;
  int64_t t = T0;
  for (int k = 0; k < 400; k++) {
    t += k % 10 == 9 ? 7 * 3600 * SEC : 370000000LL; /* 0.37 s steps, and 7 h jumps */
    double e = metric_at(b, g, t, GPU_M_ENERGY);
    cr_assert_geq(e, prev, "energy went back at step %d", k);
    if (k % 10 == 9) cr_assert_gt(e, prev, "7 hours use energy");
    prev = e;
  }
  /* Simpson's rule over 40 s (crossing a 30 s bump boundary) against the counter. */
  const int steps = 4000;
  const int64_t t0 = T0 + 7 * SEC, h_ns = 10000000LL;
  double sum = 0;
  for (int k = 0; k <= steps; k++) {
    double w = (k == 0 || k == steps) ? 1 : (k % 2 ? 4 : 2);
    sum += w * metric_at(b, g, t0 + k * h_ns, GPU_M_POWER);
  }
  double integral_j = sum * (h_ns * 1e-9) / 3.0;
  double e0 = metric_at(b, g, t0, GPU_M_ENERGY);
  double e1 = metric_at(b, g, t0 + steps * h_ns, GPU_M_ENERGY);
  double counter_j = (e1 - e0) / 1000.0;
  cr_assert_gt(counter_j, 0);
  cr_assert_lt(fabs(counter_j - integral_j), 1e-4 * integral_j, "counter %.3f J, integral %.3f J",
               counter_j, integral_j);
  gpu_close(b);
}

Test(sim, temperature_follows_recent_power) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  int g = busy_gpu(b);
  enum { N = 120 };
  double mean_w[N], temp[N];
  for (int k = 0; k < N; k++) {
    int64_t t = T0 + k * 13 * SEC;
    double e1 = metric_at(b, g, t, GPU_M_ENERGY);
    double e0 = metric_at(b, g, t - 60 * SEC, GPU_M_ENERGY);
    mean_w[k] = (e1 - e0) / 1000.0 / 60.0;
    temp[k] = metric_at(b, g, t, GPU_M_GPU_TEMP);
    cr_assert(temp[k] > 25 && temp[k] < 90, "%.0f C", temp[k]);
    cr_assert(valid_at(b, g, t, GPU_M_MEM_TEMP));
  }
  for (int x = 0; x < N; x++)
    for (int y = 0; y < N; y++)
      if (mean_w[x] > mean_w[y] + 2) cr_assert_geq(temp[x], temp[y], "hotter at lower power");
  gpu_close(b);
}

Test(sim, gpm_is_valid_from_the_second_sample) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct gpu_sample s = sample_at(b, 0, T0);
  for (int m = GPU_METRIC_FIRST_GPM; m < GPU_METRIC_COUNT; m++)
    cr_assert_not(valid(&s.dev, m), "%s valid on the first sample", gpu_metric_key(m));
  cr_assert(valid(&s.dev, GPU_M_POWER));
  s = sample_at(b, 0, T0 + 5 * SEC);
  for (int m = GPU_METRIC_FIRST_GPM; m < GPU_METRIC_COUNT; m++) {
    double v = get(&s.dev, m);
    cr_assert_geq(v, 0);
    if (m <= GPU_M_GPM_FP16_ACTIVE) cr_assert_leq(v, 100, "%s", gpu_metric_key(m));
  }
  cr_assert_eq(s.n_mig, 0);
  /* Another GPU has its own history: its first sample has no GPM. */
  s = sample_at(b, 1, T0 + 5 * SEC);
  cr_assert_not(valid(&s.dev, GPU_M_GPM_SM_ACTIVE));
  gpu_close(b);
}

Test(sim, healthy_gpu_has_clean_counters_and_hopper_has_no_retired_pages) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct gpu_sample s = sample_at(b, 0, T0);
  const enum gpu_metric zero[] = {
      GPU_M_ECC_SBE_VOL,   GPU_M_ECC_DBE_VOL,   GPU_M_ECC_DBE_AGG, GPU_M_REMAP_UNCORRECTABLE,
      GPU_M_REMAP_PENDING, GPU_M_REMAP_FAILURE, GPU_M_PCIE_REPLAY, GPU_M_RECOVERY_ACTION,
      GPU_M_XID_LAST,      GPU_M_VIOL_THERMAL};
  for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
    cr_assert_eq(get(&s.dev, zero[i]), 0, "%s", gpu_metric_key(zero[i]));
  cr_assert_not(valid(&s.dev, GPU_M_RETIRED_DBE), "Hopper remaps rows: no retired pages");
  cr_assert_not(valid(&s.dev, GPU_M_RETIRED_SBE));
  cr_assert_eq(s.lost, false);
  gpu_close(b);
}

/* ---- faults ---- */

Test(sim, xid_sets_xid_last_seen_by_another_backend) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *a = open_sim(NULL, NULL), *b = open_sim(NULL, NULL);
  cr_assert_eq(metric_at(b, 2, T0, GPU_M_XID_LAST), 0);
  inject(node, 2, SIM_FAULT_XID, 48);
  inject(node, 2, SIM_FAULT_XID, 94); /* the latest one wins */
  cr_assert_eq(metric_at(b, 2, T0, GPU_M_XID_LAST), 94, "running backend sees it");
  cr_assert_eq(metric_at(a, 2, T0, GPU_M_XID_LAST), 94);
  cr_assert_eq(metric_at(a, 3, T0, GPU_M_XID_LAST), 0, "other GPUs are untouched");
  gpu_close(a);
  gpu_close(b);
}

Test(sim, ecc_uncorrectable_counts_and_pends_a_remap) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *b = open_sim(NULL, NULL);
  inject(node, 1, SIM_FAULT_ECC_UNCORRECTABLE, 3);
  struct gpu_sample s = sample_at(b, 1, T0);
  cr_assert_eq(get(&s.dev, GPU_M_ECC_DBE_VOL), 3);
  cr_assert_eq(get(&s.dev, GPU_M_ECC_DBE_AGG), 3);
  cr_assert_eq(get(&s.dev, GPU_M_REMAP_PENDING), 1);
  cr_assert_eq(get(&s.dev, GPU_M_REMAP_FAILURE), 0);
  inject(node, 1, SIM_FAULT_ECC_UNCORRECTABLE, 0); /* no count: one error */
  s = sample_at(b, 1, T0);
  cr_assert_eq(get(&s.dev, GPU_M_ECC_DBE_VOL), 4);
  cr_assert_eq(metric_at(b, 0, T0, GPU_M_ECC_DBE_VOL), 0);
  gpu_close(b);
}

Test(sim, row_remap_failure_and_recovery_action) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *b = open_sim(NULL, NULL);
  inject(node, 4, SIM_FAULT_ROW_REMAP_FAILURE, 0);
  inject(node, 5, SIM_FAULT_RECOVERY_ACTION, GPU_RECOVERY_NODE_REBOOT);
  cr_assert_eq(metric_at(b, 4, T0, GPU_M_REMAP_FAILURE), 1);
  cr_assert_eq(metric_at(b, 4, T0, GPU_M_RECOVERY_ACTION), 0);
  cr_assert_eq(metric_at(b, 5, T0, GPU_M_RECOVERY_ACTION), GPU_RECOVERY_NODE_REBOOT);
  cr_assert_eq(metric_at(b, 5, T0, GPU_M_REMAP_FAILURE), 0);
  gpu_close(b);
}

Test(sim, thermal_heats_throttles_and_counts_violation_time) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, 0, &in), 0);
  inject(node, 0, SIM_FAULT_THERMAL, 0);
  int64_t now = time_wall_ns();
  struct gpu_sample s1 = sample_at(b, 0, now + 10 * SEC), s2 = sample_at(b, 0, now + 20 * SEC);
  cr_assert_geq(get(&s1.dev, GPU_M_GPU_TEMP), 90);
  uint64_t r = (uint64_t)get(&s1.dev, GPU_M_CLOCK_REASONS);
  cr_assert(r & GPU_CLOCK_REASON_HW_THERMAL && r & GPU_CLOCK_REASON_SW_THERMAL, "reasons %#llx",
            (unsigned long long)r);
  cr_assert_lt(get(&s1.dev, GPU_M_SM_CLOCK), in.max_sm_clock_mhz);
  double v1 = get(&s1.dev, GPU_M_VIOL_THERMAL), v2 = get(&s2.dev, GPU_M_VIOL_THERMAL);
  cr_assert_gt(v1, 0);
  cr_assert_gt(v2, v1, "thermal violation time grows");
  struct gpu_sample cool = sample_at(b, 1, now + 10 * SEC);
  cr_assert_lt(get(&cool.dev, GPU_M_GPU_TEMP), 90);
  cr_assert_eq(get(&cool.dev, GPU_M_SM_CLOCK), in.max_sm_clock_mhz);
  gpu_close(b);
}

Test(sim, fall_off_bus_loses_samples_but_keeps_info) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct gpu_info before;
  cr_assert_eq(gpu_get_info(b, 6, &before), 0);
  sample_at(b, 6, T0);
  inject(node, 6, SIM_FAULT_FALLEN_OFF_BUS, 0);
  struct gpu_sample s;
  pin(T0 + SEC);
  cr_assert_eq(gpu_sample(b, 6, &s), ERR_GPU_LOST);
  cr_assert(s.lost);
  cr_assert_eq(s.dev.valid, 0, "every value invalid");
  cr_assert(strstr(err_msg(), node) && strstr(err_msg(), "GPU 6") && strstr(err_msg(), "79"), "%s",
            err_msg());
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, 6, &in), 0, "%s", err_msg());
  cr_assert_str_eq(in.uuid, before.uuid);
  cr_assert(strstr(in.note, "79"), "note: %s", in.note);
  cr_assert_eq(gpu_sample(b, 5, &s), 0, "the neighbours still answer");
  /* Cleared (a reset): it answers again, with GPM starting afresh. */
  int removed = 0;
  cr_assert_eq(simstate_clear(state_path, node, 6, &removed), 0);
  cr_assert_eq(removed, 1);
  s = sample_at(b, 6, T0 + 2 * SEC);
  cr_assert_not(s.lost);
  cr_assert_not(valid(&s.dev, GPU_M_GPM_SM_ACTIVE));
  gpu_close(b);
}

Test(sim, faults_combine_and_stay_on_their_gpu_and_node) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *b = open_sim(NULL, NULL);
  inject(node, 3, SIM_FAULT_THERMAL, 0);
  inject(node, 3, SIM_FAULT_ECC_UNCORRECTABLE, 2);
  inject(node, 3, SIM_FAULT_XID, 63);
  inject("some-other-node", 0, SIM_FAULT_XID, 31);
  struct gpu_sample s = sample_at(b, 3, T0);
  cr_assert_geq(get(&s.dev, GPU_M_GPU_TEMP), 90);
  cr_assert_eq(get(&s.dev, GPU_M_ECC_DBE_VOL), 2);
  cr_assert_eq(get(&s.dev, GPU_M_XID_LAST), 63);
  s = sample_at(b, 0, T0);
  cr_assert_eq(get(&s.dev, GPU_M_XID_LAST), 0, "a fault on another node is not ours");
  cr_assert_lt(get(&s.dev, GPU_M_GPU_TEMP), 90);
  gpu_close(b);
}

Test(sim, corrupt_state_file_fails_readings_with_the_fix) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  FILE *fp = fopen(state_path, "w");
  cr_assert_not_null(fp);
  fputs("{\"version\": 1, \"faults\": [", fp);
  fclose(fp);
  struct gpu_sample s;
  pin(T0);
  cr_assert_eq(gpu_sample(b, 0, &s), ERR_PARSE);
  cr_assert(strstr(err_msg(), state_path) && strstr(err_msg(), "gpuops sim clear"), "%s",
            err_msg());
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, 0, &in), ERR_PARSE);
  struct gpu_event ev[2];
  cr_assert_eq(gpu_wait_events(b, 0, ev, 2), ERR_PARSE);
  gpu_close(b);
}

/* ---- events ---- */

Test(sim, wait_events_delivers_new_xids_once) {
  fresh_state();
  const char *node = default_node();
  inject(node, 0, SIM_FAULT_XID, 31); /* before open: old news */
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct gpu_event ev[4];
  cr_assert_eq(gpu_wait_events(b, 0, ev, 4), 0);
  inject(node, 2, SIM_FAULT_XID, 43);
  inject(node, 7, SIM_FAULT_FALLEN_OFF_BUS, 0);
  inject(node, 1, SIM_FAULT_THERMAL, 0); /* not an XID */
  inject(node, 5, SIM_FAULT_XID, 13);
  cr_assert_eq(gpu_wait_events(b, 1000, ev, 2), 2, "%s", err_msg());
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, 2, &in), 0);
  cr_assert_eq(ev[0].type, GPU_EVENT_XID);
  cr_assert_eq(ev[0].gpu_index, 2);
  cr_assert_eq(ev[0].xid, 43);
  cr_assert_str_eq(ev[0].uuid, in.uuid);
  cr_assert_eq(ev[0].gi_id, -1);
  cr_assert_eq(ev[1].gpu_index, 7);
  cr_assert_eq(ev[1].xid, 79, "falling off the bus is XID 79");
  cr_assert_gt(ev[1].t_ns, ev[0].t_ns);
  cr_assert_eq(gpu_wait_events(b, 100, ev, 4), 1, "the rest, once");
  cr_assert_eq(ev[0].xid, 13);
  cr_assert_eq(gpu_wait_events(b, 100, ev, 4), 0);
  cr_assert_eq(gpu_wait_events(b, 0, ev, 0), ERR_INVALID);
  gpu_close(b);
}

Test(sim, wait_events_sees_an_xid_injected_by_another_process) {
  fresh_state();
  const char *node = default_node();
  struct gpu_backend *b = open_sim(NULL, NULL);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    time_sleep_ns(200000000LL);
    struct sim_fault f = {.gpu = 4, .kind = SIM_FAULT_XID, .value = 92};
    snprintf(f.node, sizeof f.node, "%s", node);
    _exit(simstate_add(state_path, &f) < 0);
  }
  struct gpu_event ev[2];
  int n = gpu_wait_events(b, 20000, ev, 2);
  int status = 0;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  cr_assert_eq(n, 1, "%s", n < 0 ? err_msg() : "");
  cr_assert_eq(ev[0].gpu_index, 4);
  cr_assert_eq(ev[0].xid, 92);
  gpu_close(b);
}

/* ---- MIG ---- */

Test(sim, mig_profiles_equal_the_catalog_and_the_h200_geometry) {
  fresh_state();
  struct gpu_backend *b = open_sim(NULL, NULL);
  const struct catalog_model *m = catalog_find("H200");
  struct gpu_mig_profile p[16];
  int n = gpu_mig_profiles(b, 0, p, 16);
  cr_assert_eq(n, m->n_mig_profiles, "%s", n < 0 ? err_msg() : "");
  for (int i = 0; i < n; i++) {
    const struct catalog_mig_profile *c = &m->mig_profiles[i];
    cr_assert_eq(p[i].id, c->id);
    cr_assert_str_eq(p[i].name, c->name);
    cr_assert_eq(p[i].compute_slices, c->compute_slices);
    cr_assert_eq(p[i].max_instances, c->max_instances);
    cr_assert_eq(p[i].sm_count, c->sm_count);
    cr_assert_eq(p[i].memory_mib, c->memory_mib);
    cr_assert_eq(p[i].placement_size, c->memory_slices);
  }
  /* ../shared/data/h200/mig-profiles.txt, read off the card. */
  const char *want[] = {"19:{0,1,2,3,4,5,6}:1",
                        "20:{0,1,2,3,4,5,6}:1",
                        "15:{0,2,4,6}:2",
                        "14:{0,2,4}:2",
                        "9:{0,4}:4",
                        "5:{0}:4",
                        "0:{0}:8"};
  cr_assert_eq(n, 7);
  for (int i = 0; i < n; i++) {
    char got[64];
    int len = snprintf(got, sizeof got, "%d:{", p[i].id);
    for (int k = 0; k < p[i].n_placements; k++) {
      cr_assert_eq(p[i].placements[k].profile_id, p[i].id);
      len += snprintf(got + len, sizeof got - len, "%s%d", k ? "," : "", p[i].placements[k].start);
    }
    snprintf(got + len, sizeof got - len, "}:%d", p[i].placement_size);
    cr_assert_str_eq(got, want[i]);
  }
  /* Engines as the card lists them: 7g.141gb has 8 copy engines, 7 decoders, one OFA. */
  cr_assert_eq(p[6].copy_engines, 8);
  cr_assert_eq(p[6].decoders, 7);
  cr_assert_eq(p[6].ofas, 1);
  cr_assert_eq(p[1].ofas, 1, "+me owns the OFA");
  cr_assert_eq(p[0].ofas, 0);
  cr_assert_eq(gpu_mig_profiles(b, 0, p, 3), 3, "capacity respected");
  struct gpu_mig_instance inst[8];
  cr_assert_eq(gpu_mig_instances(b, 0, inst, 8), 0, "MIG off: no instances");
  gpu_close(b);
}

/* ---- a fleet from a spec file ---- */

static void load_fixture(struct inventory *inv) {
  char path[512];
  const char *dir = getenv("GPUOPS_FIXTURES");
  cr_assert_not_null(dir, "GPUOPS_FIXTURES is set by ctest");
  snprintf(path, sizeof path, "%s/fleet-mixed.yaml", dir);
  inventory_init(inv);
  cr_assert_eq(inventory_load_yaml(inv, path), 0, "%s", err_msg());
}

/* The fixture's node with a MIG-enabled GPU that has instances, and that GPU. */
static const struct inv_node *mig_node(const struct inventory *inv, int *gpu) {
  for (int i = 0; i < inv->n_nodes; i++)
    for (int g = 0; g < inv->nodes[i].n_gpus; g++)
      if (inv->nodes[i].gpus[g].mig_enabled && inv->nodes[i].gpus[g].n_mig > 1) {
        *gpu = g;
        return &inv->nodes[i];
      }
  cr_assert_fail("fleet-mixed.yaml has no GPU with MIG instances");
  return NULL;
}

Test(sim, mig_node_from_a_spec_lists_its_instances) {
  fresh_state();
  struct inventory inv;
  load_fixture(&inv);
  int g = -1;
  const struct inv_node *node = mig_node(&inv, &g);
  struct gpu_backend *b = open_sim(&inv, node->name);
  const struct inv_gpu *ig = &node->gpus[g];
  struct gpu_info in;
  cr_assert_eq(gpu_get_info(b, g, &in), 0);
  cr_assert_eq(in.mig_current, 1);
  cr_assert_eq(in.model, ig->model);
  struct gpu_mig_instance inst[8];
  int n = gpu_mig_instances(b, g, inst, 8);
  cr_assert_eq(n, ig->n_mig, "%s", n < 0 ? err_msg() : "");
  for (int i = 0; i < n; i++) {
    const struct catalog_mig_profile *p = catalog_mig_profile(ig->model, ig->mig[i].profile_id);
    cr_assert_eq(inst[i].gi_id, i + 1);
    cr_assert_eq(inst[i].profile_id, ig->mig[i].profile_id);
    cr_assert_eq(inst[i].start, ig->mig[i].start);
    cr_assert_eq(inst[i].size, p->memory_slices);
    cr_assert_str_eq(inst[i].profile_name, p->name);
    cr_assert_eq(inst[i].memory_mib, p->memory_mib);
    cr_assert_eq(inst[i].sm_count, p->sm_count);
  }
  struct gpu_sample s = sample_at(b, g, T0);
  cr_assert_eq(s.n_mig, n);
  cr_assert_not(valid(&s.dev, GPU_M_GPU_UTIL), "NVML has no utilisation rates in MIG mode");
  cr_assert_not(valid(&s.mig[0].val, GPU_M_GPM_SM_ACTIVE), "first sample: no GPM");
  s = sample_at(b, g, T0 + 10 * SEC);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(s.mig[i].gi_id, inst[i].gi_id);
    cr_assert_eq(s.mig[i].profile_id, inst[i].profile_id);
    double v = get(&s.mig[i].val, GPU_M_GPM_SM_ACTIVE);
    cr_assert(v >= 0 && v <= 100);
    cr_assert_not(valid(&s.mig[i].val, GPU_M_POWER), "an instance has only GPM metrics");
  }
  cr_assert(valid(&s.dev, GPU_M_GPM_SM_ACTIVE));
  gpu_close(b);
  inventory_free(&inv);
}

Test(sim, spec_node_versions_models_and_ampere_retired_pages) {
  fresh_state();
  struct inventory inv;
  load_fixture(&inv);
  bool saw_ampere = false;
  for (int i = 0; i < inv.n_nodes; i++) {
    const struct inv_node *node = &inv.nodes[i];
    setenv("GPUOPS_SIM_NODE", node->name, 1);
    struct gpu_backend *b = open_sim(&inv, NULL);
    cr_assert_eq(gpu_count(b), node->n_gpus);
    for (int g = 0; g < node->n_gpus; g++) {
      struct gpu_info in;
      cr_assert_eq(gpu_get_info(b, g, &in), 0);
      cr_assert_eq(in.model, node->gpus[g].model);
      cr_assert_str_eq(in.name, node->gpus[g].model->product_name);
      if (node->driver_version[0]) cr_assert_str_eq(in.driver_version, node->driver_version);
      if (node->gpus[g].uuid[0]) cr_assert_str_eq(in.uuid, node->gpus[g].uuid);
      struct gpu_sample s = sample_at(b, g, T0);
      bool ampere = !strcmp(in.model->architecture, "Ampere");
      saw_ampere |= ampere;
      cr_assert_eq(valid(&s.dev, GPU_M_RETIRED_DBE), ampere, "%s", in.model->key);
      cr_assert_eq(in.gpm_supported, !ampere);
    }
    gpu_close(b);
  }
  cr_assert(saw_ampere, "fleet-mixed.yaml should have an A100 node");
  inventory_free(&inv);
}
