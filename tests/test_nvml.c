/*
 * test_nvml.c — the NVML backend (src/gpu/nvml.c) against the fake
 * libnvidia-ml.so.1 of tests/fakes/, through gpu_open() and the same dlopen
 * path the real library takes.
 *
 * Expected values come from the fixture files (tests/fixtures/nvml-*.json),
 * read here with jansson, converted with NVML's units (bytes -> MiB, mW -> W,
 * ns -> us); MIG geometry is checked against the catalog, itself taken from
 * the real H200 (../shared/data/h200/mig-profiles.txt).
 *
 * Sections: helpers (paths, fixtures, opening, the fake's test hooks); static
 * information; sampling and validity; GPM; fallbacks; errors and lost GPUs;
 * MIG; events.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "catalog/catalog.h"
#include "gpu/gpu.h"

#define MIB (1024.0 * 1024.0)

/* ---- helpers ---- */
static const char *fake_lib(void) {
  const char *p = getenv("GPUOPS_FAKE_NVML");
  cr_assert(p && *p, "GPUOPS_FAKE_NVML is not set (run through ctest)");
  return p;
}

/* The "old driver" variant: $GPUOPS_FAKE_NVML_OLD, else beside the build's fakes. */
static const char *old_lib(void) {
  static char path[1024];
  const char *p = getenv("GPUOPS_FAKE_NVML_OLD");
  if (p && *p) return p;
  const char *build = getenv("GPUOPS_BUILD_DIR");
  cr_assert(build && *build, "GPUOPS_BUILD_DIR is not set (run through ctest)");
  snprintf(path, sizeof path, "%s/tests/fakes/old/libnvidia-ml.so.1", build);
  return path;
}

static const char *fixture_path(const char *name) {
  static char path[1024];
  const char *dir = getenv("GPUOPS_FIXTURES");
  cr_assert(dir && *dir, "GPUOPS_FIXTURES is not set (run through ctest)");
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static void use_fixture_file(const char *path) { setenv("GPUOPS_FAKE_NVML_FIXTURE", path, 1); }
static void use_fixture(const char *name) { use_fixture_file(fixture_path(name)); }

static json_t *load_fixture(const char *name) {
  json_error_t e;
  json_t *j = json_load_file(fixture_path(name), 0, &e);
  cr_assert(j, "fixture %s: %s", name, e.text);
  return j;
}

/* A fixture with extra injected errors written to a temporary file; returns its path. */
static const char *fixture_with_errors(const char *name, const char *errors_json) {
  static char path[] = "/tmp/gpuops-test-nvml-XXXXXX";
  json_t *root = load_fixture(name);
  json_t *errors = json_loads(errors_json, 0, NULL);
  cr_assert(errors);
  json_object_set_new(root, "errors", errors);
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  cr_assert_eq(json_dump_file(root, path, 0), 0);
  json_decref(root);
  return path;
}

static json_t *device_json(json_t *root, int index) {
  return json_array_get(json_object_get(root, "devices"), (size_t)index);
}

static double fx(json_t *obj, const char *path) { /* "memory.used" */
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
    obj = json_object_get(obj, k);
  cr_assert(json_is_number(obj), "fixture has no number at %s", path);
  return json_number_value(obj);
}

static struct gpu_backend *open_lib(const char *lib) {
  struct gpu_options o = {.kind = GPU_BACKEND_NVML, .nvml_path = lib};
  struct gpu_backend *b = NULL;
  int rc = gpu_open(&o, &b);
  cr_assert_eq(rc, 0, "gpu_open(nvml, %s): %s", lib, err_msg());
  cr_assert_str_eq(gpu_backend_name(b), "nvml");
  cr_assert_not(b->simulated);
  return b;
}

static struct gpu_backend *open_fake(const char *fixture) {
  use_fixture(fixture);
  return open_lib(fake_lib());
}

/* Our own reference to the fake keeps it (and its counters) loaded across close. */
static void *hold(const char *lib) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  cr_assert(h, "dlopen %s: %s", lib, dlerror());
  return h;
}

static int calls(void *fake, const char *fn) {
  int (*count)(const char *) = (int (*)(const char *))dlsym(fake, "fake_nvml_calls");
  cr_assert(count);
  return count(fn);
}

static double metric(const struct gpu_values *v, enum gpu_metric m) {
  double x = -1;
  cr_assert(gpu_values_get(v, m, &x), "%s should be valid", gpu_metric_key(m));
  return x;
}

static void assert_invalid(const struct gpu_values *v, enum gpu_metric m) {
  double x = 12345;
  cr_assert_not(gpu_values_get(v, m, &x), "%s should be invalid", gpu_metric_key(m));
  cr_assert_eq(x, 12345, "an invalid metric must not write a value");
}

static void assert_metric(const struct gpu_values *v, enum gpu_metric m, double want) {
  double got = metric(v, m);
  cr_assert_float_eq(got, want, 1e-9, "%s: got %.9g, want %.9g", gpu_metric_key(m), got, want);
}

/* ---- static information ---- */
Test(nvml, static_info_mirrors_the_h200) {
  struct gpu_backend *b = open_fake("nvml-h200.json");
  json_t *fx_root = load_fixture("nvml-h200.json");
  json_t *d0 = device_json(fx_root, 0);
  cr_assert_eq(gpu_count(b), 2);
  struct gpu_info info;
  cr_assert_eq(gpu_get_info(b, 0, &info), 0, "%s", err_msg());
  cr_assert_str_eq(info.name, "NVIDIA H200");
  cr_assert_str_eq(info.uuid, json_string_value(json_object_get(d0, "uuid")));
  cr_assert_str_eq(info.pci_bus_id, "00000000:00:06.0");
  cr_assert_str_eq(info.serial, "1653724064789");
  cr_assert_str_eq(info.vbios_version, "96.00.A5.00.1A");
  cr_assert_str_eq(info.driver_version, "580.159.04");
  cr_assert_eq(info.memory_total_mib, (uint64_t)(fx(d0, "memory.total") / MIB));
  uint32_t all = GPU_INFO_SM_COUNT | GPU_INFO_MAX_SM_CLOCK | GPU_INFO_MAX_MEM_CLOCK |
                 GPU_INFO_POWER_LIMIT | GPU_INFO_MIG_MODE | GPU_INFO_CUDA_VERSION | GPU_INFO_CC |
                 GPU_INFO_PCI_DEVICE_ID | GPU_INFO_GPM;
  cr_assert_eq(info.valid & all, all, "valid flags 0x%x", info.valid);
  cr_assert_eq(info.pci_device_id, 0x233510DEu);
  cr_assert_eq(info.sm_count, 132); /* the 7g.141gb profile's multiprocessorCount */
  cr_assert_eq(info.max_sm_clock_mhz, (uint32_t)fx(d0, "max_clocks.sm"));
  cr_assert_eq(info.max_mem_clock_mhz, (uint32_t)fx(d0, "max_clocks.mem"));
  cr_assert_eq(info.power_limit_mw, (uint32_t)fx(d0, "power_limit_mw"));
  cr_assert_eq(info.cuda_version, 13000);
  cr_assert_eq(info.cc_major, 9);
  cr_assert_eq(info.cc_minor, 0);
  cr_assert_eq(info.mig_current, 0);
  cr_assert_eq(info.mig_pending, 0);
  cr_assert(info.gpm_supported);
  cr_assert_not(info.simulated);
  cr_assert(info.model && !strcmp(info.model->key, "H200"), "catalog model by PCI id");
  cr_assert_eq(gpu_get_info(b, 1, &info), 0);
  cr_assert_str_eq(info.pci_bus_id, "00000000:00:07.0");
  cr_assert_eq(gpu_get_info(b, 2, &info), ERR_RANGE);
  json_decref(fx_root);
  gpu_close(b);
}

/* ---- sampling and validity ---- */
Test(nvml, sample_reads_every_metric_in_gpuops_units) {
  struct gpu_backend *b = open_fake("nvml-h200.json");
  json_t *root = load_fixture("nvml-h200.json");
  json_t *d = device_json(root, 0);
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
  const struct gpu_values *v = &s.dev;
  cr_assert_not(s.lost);
  cr_assert_gt(s.t_ns, 0);
  assert_metric(v, GPU_M_GPU_UTIL, fx(d, "utilization.gpu"));
  assert_metric(v, GPU_M_MEM_COPY_UTIL, fx(d, "utilization.memory"));
  assert_metric(v, GPU_M_FB_USED, fx(d, "memory.used") / MIB); /* 58368.5 MiB */
  assert_metric(v, GPU_M_FB_FREE, fx(d, "memory.free") / MIB);
  assert_metric(v, GPU_M_FB_RESERVED, fx(d, "memory.reserved") / MIB);
  assert_metric(v, GPU_M_GPU_TEMP, fx(d, "temperature"));
  assert_metric(v, GPU_M_MEM_TEMP, fx(d, "memory_temp"));
  assert_metric(v, GPU_M_POWER, fx(d, "power_mw") / 1000.0);
  assert_metric(v, GPU_M_ENERGY, fx(d, "energy_mj"));
  assert_metric(v, GPU_M_SM_CLOCK, fx(d, "clocks.sm"));
  assert_metric(v, GPU_M_MEM_CLOCK, fx(d, "clocks.mem"));
  assert_metric(v, GPU_M_PSTATE, fx(d, "pstate"));
  assert_metric(v, GPU_M_CLOCK_REASONS, fx(d, "clock_event_reasons"));
  assert_metric(v, GPU_M_VIOL_POWER, fx(d, "violations_ns.power") / 1000.0);
  assert_metric(v, GPU_M_VIOL_THERMAL, fx(d, "violations_ns.thermal") / 1000.0);
  assert_metric(v, GPU_M_VIOL_SYNC_BOOST, fx(d, "violations_ns.sync_boost") / 1000.0);
  assert_metric(v, GPU_M_VIOL_BOARD_LIMIT, fx(d, "violations_ns.board_limit") / 1000.0);
  assert_metric(v, GPU_M_VIOL_LOW_UTIL, fx(d, "violations_ns.low_utilization") / 1000.0);
  assert_metric(v, GPU_M_VIOL_RELIABILITY, fx(d, "violations_ns.reliability") / 1000.0);
  assert_metric(v, GPU_M_ECC_SBE_VOL, fx(d, "ecc.corrected_volatile"));
  assert_metric(v, GPU_M_ECC_DBE_VOL, fx(d, "ecc.uncorrected_volatile"));
  assert_metric(v, GPU_M_ECC_SBE_AGG, fx(d, "ecc.corrected_aggregate"));
  assert_metric(v, GPU_M_ECC_DBE_AGG, fx(d, "ecc.uncorrected_aggregate"));
  assert_metric(v, GPU_M_REMAP_CORRECTABLE, fx(d, "remapped_rows.correctable"));
  assert_metric(v, GPU_M_REMAP_UNCORRECTABLE, fx(d, "remapped_rows.uncorrectable"));
  assert_metric(v, GPU_M_REMAP_PENDING, fx(d, "remapped_rows.pending"));
  assert_metric(v, GPU_M_REMAP_FAILURE, fx(d, "remapped_rows.failure"));
  assert_metric(v, GPU_M_PCIE_REPLAY, fx(d, "pcie_replay"));
  assert_metric(v, GPU_M_RECOVERY_ACTION, fx(d, "recovery_action"));
  /* Hopper: retired pages are NOT_SUPPORTED (rows are remapped instead). */
  assert_invalid(v, GPU_M_RETIRED_SBE);
  assert_invalid(v, GPU_M_RETIRED_DBE);
  assert_invalid(v, GPU_M_RETIRED_PENDING);
  /* No event registration yet: no XID to report. */
  assert_invalid(v, GPU_M_XID_LAST);
  struct gpu_sample s1;
  cr_assert_eq(gpu_sample(b, 1, &s1), 0);
  assert_metric(&s1.dev, GPU_M_RECOVERY_ACTION, GPU_RECOVERY_GPU_RESET);
  assert_metric(&s1.dev, GPU_M_REMAP_PENDING, 1);
  json_decref(root);
  gpu_close(b);
}

Test(nvml, unsupported_or_denied_metrics_are_invalid_not_zero) {
  struct gpu_backend *b = open_fake("nvml-h200.json");
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 1, &s), 0, "%s", err_msg());
  assert_invalid(&s.dev, GPU_M_PCIE_REPLAY); /* absent: NOT_SUPPORTED */
  assert_invalid(&s.dev, GPU_M_VIOL_POWER);  /* NO_PERMISSION */
  assert_invalid(&s.dev, GPU_M_VIOL_RELIABILITY);
  assert_invalid(&s.dev, GPU_M_RETIRED_SBE);
  assert_metric(&s.dev, GPU_M_GPU_TEMP, 38); /* the rest of the sample still reads */
  gpu_close(b);

  /* NOT_FOUND, NO_PERMISSION and UNKNOWN on single calls: those metrics only. */
  use_fixture_file(fixture_with_errors(
      "nvml-h200.json",
      "{\"nvmlDeviceGetTemperature\": 6, \"nvmlDeviceGetPowerUsage\": 4,"
      " \"nvmlDeviceGetUtilizationRates\": 999, \"nvmlDeviceGetFieldValues\": 3}"));
  b = open_lib(fake_lib());
  unlink(getenv("GPUOPS_FAKE_NVML_FIXTURE")); /* read at nvmlInit */
  cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
  assert_invalid(&s.dev, GPU_M_GPU_TEMP);
  assert_invalid(&s.dev, GPU_M_POWER);
  assert_invalid(&s.dev, GPU_M_GPU_UTIL);
  assert_invalid(&s.dev, GPU_M_MEM_COPY_UTIL);
  assert_invalid(&s.dev, GPU_M_MEM_TEMP);
  assert_invalid(&s.dev, GPU_M_RECOVERY_ACTION);
  assert_metric(&s.dev, GPU_M_PCIE_REPLAY, 5);
  cr_assert(gpu_values_get(&s.dev, GPU_M_ENERGY, &(double){0}));
  gpu_close(b);
}

/* ---- GPM ---- */
Test(nvml, gpm_needs_two_samples_then_reads_fixture_values) {
  void *fake = hold(fake_lib());
  struct gpu_backend *b = open_fake("nvml-h200.json");
  json_t *root = load_fixture("nvml-h200.json");
  json_t *g0 = json_object_get(json_object_get(device_json(root, 0), "gpm"), "metrics");
  json_t *g1 = json_object_get(json_object_get(device_json(root, 1), "gpm"), "metrics");
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0);
  for (int m = GPU_METRIC_FIRST_GPM; m < GPU_METRIC_COUNT; m++) assert_invalid(&s.dev, m);
  const struct {
    const char *id;
    enum gpu_metric m;
  } ids[] = {
      {"1", GPU_M_GPM_GR_ACTIVE},     {"2", GPU_M_GPM_SM_ACTIVE},    {"3", GPU_M_GPM_SM_OCCUPANCY},
      {"5", GPU_M_GPM_TENSOR_ACTIVE}, {"10", GPU_M_GPM_DRAM_ACTIVE}, {"11", GPU_M_GPM_FP64_ACTIVE},
      {"12", GPU_M_GPM_FP32_ACTIVE},  {"13", GPU_M_GPM_FP16_ACTIVE}, {"20", GPU_M_GPM_PCIE_TX},
      {"21", GPU_M_GPM_PCIE_RX},      {"60", GPU_M_GPM_NVLINK_RX},   {"61", GPU_M_GPM_NVLINK_TX}};
  cr_assert_eq(sizeof ids / sizeof ids[0], GPU_METRIC_COUNT - GPU_METRIC_FIRST_GPM);
  for (int round = 0; round < 2; round++) { /* the buffers rotate: later samples stay valid */
    cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
      assert_metric(&s.dev, ids[i].m, json_number_value(json_object_get(g0, ids[i].id)));
  }
  cr_assert_eq(calls(fake, "nvmlGpmMetricsGet"), 2);
  /* GPU 1 gives only three metrics: the others stay invalid. */
  cr_assert_eq(gpu_sample(b, 1, &s), 0);
  cr_assert_eq(gpu_sample(b, 1, &s), 0);
  assert_metric(&s.dev, GPU_M_GPM_GR_ACTIVE, json_number_value(json_object_get(g1, "1")));
  assert_metric(&s.dev, GPU_M_GPM_DRAM_ACTIVE, json_number_value(json_object_get(g1, "10")));
  assert_invalid(&s.dev, GPU_M_GPM_TENSOR_ACTIVE);
  assert_invalid(&s.dev, GPU_M_GPM_NVLINK_TX);
  json_decref(root);
  gpu_close(b);
  dlclose(fake);
}

Test(nvml, close_frees_gpm_buffers_and_event_sets) {
  void *fake = hold(fake_lib());
  int (*live)(void) = (int (*)(void))dlsym(fake, "fake_nvml_live_objects");
  cr_assert(live);
  struct gpu_backend *b = open_fake("nvml-h200.json");
  struct gpu_sample s;
  struct gpu_event ev[4];
  for (int i = 0; i < 2; i++) cr_assert_eq(gpu_sample(b, i, &s), 0);
  cr_assert_geq(gpu_wait_events(b, 0, ev, 4), 0);
  cr_assert_eq(live(), 5, "two GPM buffers per GPU and one event set");
  gpu_close(b);
  cr_assert_eq(live(), 0);
  cr_assert_eq(calls(fake, "nvmlShutdown"), 1);
  dlclose(fake);
}

/* ---- fallbacks ---- */
Test(nvml, old_library_uses_the_fallback_symbols) {
  void *fake = hold(old_lib());
  use_fixture("nvml-h200.json");
  struct gpu_backend *b = open_lib(old_lib());
  json_t *root = load_fixture("nvml-h200.json");
  json_t *d = device_json(root, 0);
  cr_assert_eq(calls(fake, "nvmlInit"), 1);
  cr_assert_eq(calls(fake, "nvmlDeviceGetCount"), 1);
  cr_assert_eq(calls(fake, "nvmlDeviceGetHandleByIndex"), 2);
  struct gpu_info info;
  cr_assert_eq(gpu_get_info(b, 0, &info), 0, "%s", err_msg());
  cr_assert_str_eq(info.pci_bus_id, "00000000:00:06.0", "from the v1 PCI call's fields");
  cr_assert_eq(info.memory_total_mib, (uint64_t)(fx(d, "memory.total") / MIB));
  cr_assert_eq(info.cuda_version, 13000);
  cr_assert_eq(info.valid & GPU_INFO_GPM, 0u, "no GPM symbols: support unknown");
  cr_assert_not(info.gpm_supported);
  struct gpu_sample s;
  for (int i = 0; i < 2; i++) cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
  /* v1 memory: used includes reserved, reserved itself unknown. */
  assert_metric(&s.dev, GPU_M_FB_USED, (fx(d, "memory.used") + fx(d, "memory.reserved")) / MIB);
  assert_metric(&s.dev, GPU_M_FB_FREE, fx(d, "memory.free") / MIB);
  assert_invalid(&s.dev, GPU_M_FB_RESERVED);
  assert_metric(&s.dev, GPU_M_CLOCK_REASONS, fx(d, "clock_event_reasons"));
  cr_assert_gt(calls(fake, "nvmlDeviceGetMemoryInfo"), 0);
  cr_assert_gt(calls(fake, "nvmlDeviceGetCurrentClocksThrottleReasons"), 0);
  for (int m = GPU_METRIC_FIRST_GPM; m < GPU_METRIC_COUNT; m++) assert_invalid(&s.dev, m);
  /* No nvmlDeviceGetGpuInstanceProfileInfoV: MIG names come from the catalog. */
  struct gpu_mig_profile p[16];
  cr_assert_eq(gpu_mig_profiles(b, 0, p, 16), 7, "%s", err_msg());
  cr_assert_str_eq(p[0].name, "1g.18gb");
  cr_assert_str_eq(p[1].name, "1g.18gb+me");
  cr_assert_str_eq(p[6].name, "7g.141gb");
  cr_assert_gt(calls(fake, "nvmlDeviceGetGpuInstanceProfileInfo"), 0);
  /* nvmlEventSetWait (v1) carries no MIG ids. */
  struct gpu_event ev[4];
  cr_assert_eq(gpu_wait_events(b, 10, ev, 4), 2, "%s", err_msg());
  cr_assert_eq(ev[0].xid, 63);
  cr_assert_eq(ev[0].gi_id, -1);
  cr_assert_eq(calls(fake, "nvmlEventSetWait"), 3, "two events, then the timeout");
  json_decref(root);
  gpu_close(b);
  dlclose(fake);
}

Test(nvml, library_path_from_the_environment) {
  use_fixture("nvml-h200.json");
  setenv("GPUOPS_NVML_LIBRARY", fake_lib(), 1);
  struct gpu_backend *b = open_lib(NULL);
  cr_assert_eq(gpu_count(b), 2);
  struct gpu_info info;
  cr_assert_eq(gpu_get_info(b, 0, &info), 0);
  cr_assert_str_eq(info.name, "NVIDIA H200");
  gpu_close(b);
  /* An explicit path wins over the environment. */
  setenv("GPUOPS_NVML_LIBRARY", "/nonexistent/env/libnvidia-ml.so.1", 1);
  b = open_lib(fake_lib());
  gpu_close(b);
}

/* ---- errors and lost GPUs ---- */
Test(nvml, missing_library_is_nolib_and_names_the_path) {
  struct gpu_options o = {.kind = GPU_BACKEND_NVML, .nvml_path = "/nonexistent/libnvidia-ml.so.1"};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), ERR_NOLIB);
  cr_assert_null(b);
  cr_assert(strstr(err_msg(), "/nonexistent/libnvidia-ml.so.1"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "GPUOPS_NVML_LIBRARY"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "NVIDIA driver installed"), "%s", err_msg());
}

Test(nvml, a_library_without_nvml_symbols_is_refused) {
  struct gpu_options o = {.kind = GPU_BACKEND_NVML, .nvml_path = "libm.so.6"};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), ERR_NOLIB);
  cr_assert(strstr(err_msg(), "lacks nvmlInit_v2"), "%s", err_msg());
}

Test(nvml, auto_without_fallback_says_to_pass_backend_sim) {
  struct gpu_options o = {.kind = GPU_BACKEND_AUTO,
                          .allow_sim_fallback = false,
                          .nvml_path = "/nonexistent/libnvidia-ml.so.1"};
  struct gpu_backend *b = NULL;
  int rc = gpu_open(&o, &b);
  cr_assert_eq(rc, ERR_NOLIB);
  cr_assert_null(b);
  cr_assert(strstr(err_msg(), "--backend sim"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "/nonexistent/libnvidia-ml.so.1"), "%s", err_msg());
}

Test(nvml, init_failure_is_a_clear_driver_error) {
  void *fake = hold(fake_lib());
  use_fixture("nvml-init-fail.json");
  struct gpu_options o = {.kind = GPU_BACKEND_NVML, .nvml_path = fake_lib()};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), ERR_DRIVER);
  cr_assert_null(b);
  cr_assert(strstr(err_msg(), "Driver Not Loaded"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "is the NVIDIA driver installed?"), "%s", err_msg());
  cr_assert_eq(calls(fake, "nvmlShutdown"), 0, "no shutdown after a failed init");

  char path[] = "/tmp/gpuops-test-nvml-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  cr_assert_gt(write(fd, "{\"init\": 18}", 12), 0);
  close(fd);
  use_fixture_file(path);
  cr_assert_eq(gpu_open(&o, &b), ERR_DRIVER);
  cr_assert(strstr(err_msg(), "version mismatch"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "reboot"), "%s", err_msg());
  unlink(path);
  dlclose(fake);
}

Test(nvml, gpu_lost_from_the_start) {
  struct gpu_backend *b = open_fake("nvml-lost.json");
  cr_assert_eq(gpu_count(b), 2);
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
  cr_assert_not(s.lost);
  cr_assert_eq(gpu_sample(b, 1, &s), ERR_GPU_LOST);
  cr_assert(s.lost);
  cr_assert_eq(s.dev.valid, 0u, "every value of a lost GPU is invalid");
  cr_assert(strstr(err_msg(), "GPU 1"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "fell off the bus"), "%s", err_msg());
  cr_assert(strstr(err_msg(), "XID 79"), "%s", err_msg());
  /* info still answers, with a note, as the sim backend does; nothing was read at open. */
  struct gpu_info info;
  cr_assert_eq(gpu_get_info(b, 1, &info), 0, "%s", err_msg());
  cr_assert(strstr(info.note, "fell off the bus (XID 79)"), "%s", info.note);
  cr_assert_str_eq(info.uuid, "");
  cr_assert_eq(info.valid, 0u);
  cr_assert_eq(gpu_get_info(b, 0, &info), 0);
  cr_assert_str_eq(info.note, "");
  gpu_close(b);
}

Test(nvml, gpu_lost_after_open_names_its_pci_bus_id) {
  void *fake = hold(fake_lib());
  int (*make_lost)(int) = (int (*)(int))dlsym(fake, "fake_nvml_make_lost");
  cr_assert(make_lost);
  struct gpu_backend *b = open_fake("nvml-h200.json");
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0);
  cr_assert_eq(make_lost(0), 0);
  cr_assert_eq(gpu_sample(b, 0, &s), ERR_GPU_LOST);
  cr_assert(s.lost);
  cr_assert_eq(s.dev.valid, 0u);
  cr_assert_eq(s.n_mig, 0);
  cr_assert(strstr(err_msg(), "GPU 0 (PCI 00000000:00:06.0)"), "%s", err_msg());
  struct gpu_info info; /* the identity read at open stays, with a note */
  cr_assert_eq(gpu_get_info(b, 0, &info), 0, "%s", err_msg());
  cr_assert_str_eq(info.pci_bus_id, "00000000:00:06.0");
  cr_assert_str_eq(info.uuid, "GPU-5b4d677f-7820-937b-dc69-b778bf616ab8");
  cr_assert(info.model && !strcmp(info.model->key, "H200"));
  cr_assert(strstr(info.note, "XID 79"), "%s", info.note);
  cr_assert_eq(info.valid & GPU_INFO_SM_COUNT, 0u, "nothing read from a lost GPU");
  struct gpu_mig_profile p[16];
  cr_assert_eq(gpu_mig_profiles(b, 0, p, 16), ERR_GPU_LOST);
  cr_assert_eq(gpu_sample(b, 1, &s), 0, "the other GPU still reads: %s", err_msg());
  gpu_close(b);
  dlclose(fake);
}

/* ---- MIG ---- */
Test(nvml, mig_profiles_and_placements_match_the_h200) {
  struct gpu_backend *b = open_fake("nvml-h200.json");
  const struct catalog_model *h200 = catalog_find("H200");
  cr_assert(h200 && h200->n_mig_profiles == 7);
  struct gpu_mig_profile p[16];
  int n = gpu_mig_profiles(b, 0, p, 16);
  cr_assert_eq(n, 7, "MIG profiles read with MIG disabled: %d (%s)", n, err_msg());
  for (int i = 0; i < n; i++) { /* nvidia-smi's order: 19, 20, 15, 14, 9, 5, 0 */
    const struct catalog_mig_profile *c = &h200->mig_profiles[i];
    cr_assert_eq(p[i].id, c->id, "profile %d: id %d, want %d", i, p[i].id, c->id);
    cr_assert_str_eq(p[i].name, c->name);
    cr_assert_eq(p[i].compute_slices, c->compute_slices);
    cr_assert_eq(p[i].max_instances, c->max_instances);
    cr_assert_eq(p[i].memory_mib, c->memory_mib);
    cr_assert_eq(p[i].sm_count, c->sm_count);
    cr_assert_eq(p[i].placement_size, c->memory_slices, "%s size", c->name);
    cr_assert_eq(p[i].n_placements, c->n_starts, "%s starts", c->name);
    for (int k = 0; k < c->n_starts; k++) {
      cr_assert_eq(p[i].placements[k].start, c->starts[k]);
      cr_assert_eq(p[i].placements[k].profile_id, c->id);
    }
  }
  cr_assert_eq(p[1].ofas, 1, "1g.18gb+me owns the OFA");
  cr_assert_eq(p[6].copy_engines, 8);
  cr_assert_eq(gpu_mig_profiles(b, 0, p, 3), 3, "capped at cap");
  cr_assert_eq(p[2].id, 15);
  struct gpu_mig_instance inst[8];
  cr_assert_eq(gpu_mig_instances(b, 0, inst, 8), 0, "MIG off: no instances");
  gpu_close(b);
}

Test(nvml, mig_instances_with_per_instance_gpm) {
  struct gpu_backend *b = open_fake("nvml-h200-mig.json");
  json_t *root = load_fixture("nvml-h200-mig.json");
  json_t *gis = json_object_get(device_json(root, 0), "gpu_instances");
  struct gpu_info info;
  cr_assert_eq(gpu_get_info(b, 0, &info), 0);
  cr_assert_eq(info.mig_current, 1);
  struct gpu_mig_instance inst[8];
  int n = gpu_mig_instances(b, 0, inst, 8);
  cr_assert_eq(n, 2, "%d (%s)", n, err_msg());
  for (int i = 0; i < 2; i++) {
    json_t *g = json_array_get(gis, (size_t)i);
    cr_assert_eq(inst[i].gi_id, (int)fx(g, "gi_id"));
    cr_assert_eq(inst[i].profile_id, 9);
    cr_assert_str_eq(inst[i].profile_name, "3g.71gb");
    cr_assert_eq(inst[i].start, (int)fx(g, "start"));
    cr_assert_eq(inst[i].size, 4);
    cr_assert_eq(inst[i].memory_mib, 71424u);
    cr_assert_eq(inst[i].sm_count, 60);
  }
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
  cr_assert_eq(s.n_mig, 2);
  for (int m = GPU_METRIC_FIRST_GPM; m < GPU_METRIC_COUNT; m++) assert_invalid(&s.mig[0].val, m);
  cr_assert_eq(gpu_sample(b, 0, &s), 0, "%s", err_msg());
  cr_assert_eq(s.n_mig, 2);
  for (int i = 0; i < 2; i++) {
    json_t *gpm = json_object_get(json_array_get(gis, (size_t)i), "gpm");
    cr_assert_eq(s.mig[i].gi_id, inst[i].gi_id);
    cr_assert_eq(s.mig[i].profile_id, 9);
    assert_metric(&s.mig[i].val, GPU_M_GPM_GR_ACTIVE, fx(gpm, "1"));
    assert_metric(&s.mig[i].val, GPU_M_GPM_SM_ACTIVE, fx(gpm, "2"));
    assert_metric(&s.mig[i].val, GPU_M_GPM_TENSOR_ACTIVE, fx(gpm, "5"));
    assert_metric(&s.mig[i].val, GPU_M_GPM_DRAM_ACTIVE, fx(gpm, "10"));
    assert_invalid(&s.mig[i].val, GPU_M_GPM_FP64_ACTIVE);
    assert_invalid(&s.mig[i].val, GPU_M_GPU_UTIL); /* only GPM metrics per instance */
  }
  assert_invalid(&s.dev, GPU_M_GPM_GR_ACTIVE); /* the device-wide GPM is not given with MIG on */
  json_decref(root);
  gpu_close(b);
}

/* ---- events ---- */
Test(nvml, xid_events_are_delivered_and_remembered) {
  struct gpu_backend *b = open_fake("nvml-h200.json");
  struct gpu_event ev[8];
  struct gpu_info info0;
  cr_assert_eq(gpu_get_info(b, 0, &info0), 0);
  int n = gpu_wait_events(b, 100, ev, 8);
  cr_assert_eq(n, 2, "%d (%s)", n, err_msg());
  cr_assert_eq(ev[0].type, GPU_EVENT_XID);
  cr_assert_eq(ev[0].gpu_index, 0);
  cr_assert_eq(ev[0].xid, 63);
  cr_assert_str_eq(ev[0].uuid, info0.uuid);
  cr_assert_eq(ev[0].gi_id, -1);
  cr_assert_eq(ev[0].ci_id, -1);
  cr_assert_gt(ev[0].t_ns, 0);
  cr_assert_eq(ev[1].gpu_index, 1);
  cr_assert_eq(ev[1].xid, 48);
  cr_assert_eq(gpu_wait_events(b, 10, ev, 8), 0, "queue drained: timeout");
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0);
  assert_metric(&s.dev, GPU_M_XID_LAST, 63);
  cr_assert_eq(gpu_sample(b, 1, &s), 0);
  assert_metric(&s.dev, GPU_M_XID_LAST, 48);
  gpu_close(b);

  b = open_fake("nvml-h200-mig.json"); /* an XID attributed to a MIG instance */
  cr_assert_eq(gpu_wait_events(b, 10, ev, 1), 1, "%s", err_msg());
  cr_assert_eq(ev[0].xid, 43);
  cr_assert_eq(ev[0].gi_id, 2);
  cr_assert_eq(ev[0].ci_id, 0);
  gpu_close(b);
}

Test(nvml, events_not_registrable_are_unsupported_and_xid_stays_invalid) {
  use_fixture_file(fixture_with_errors("nvml-h200.json", "{\"nvmlDeviceRegisterEvents\": 3}"));
  struct gpu_backend *b = open_lib(fake_lib());
  unlink(getenv("GPUOPS_FAKE_NVML_FIXTURE")); /* read at nvmlInit */
  struct gpu_event ev[4];
  cr_assert_eq(gpu_wait_events(b, 10, ev, 4), ERR_UNSUPPORTED);
  cr_assert(strstr(err_msg(), "XID"), "%s", err_msg());
  cr_assert_eq(gpu_wait_events(b, 10, ev, 4), ERR_UNSUPPORTED, "and stays so");
  struct gpu_sample s;
  cr_assert_eq(gpu_sample(b, 0, &s), 0);
  assert_invalid(&s.dev, GPU_M_XID_LAST);
  gpu_close(b);
}
