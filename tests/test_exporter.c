/*
 * test_exporter.c — the Prometheus exporter (telemetry/exporter.h), for real
 * on a loopback port picked by the kernel, scraped with libcurl.
 *
 * What it shows: dcgm-exporter's names, types, HELP text and labels; values
 * the backend does not give are omitted; OpenMetrics when Accept asks for
 * it; 404 and 405; MIG instance labels; the fake NVML library (no simulated
 * label, XID events counted, the driver's recovery action in /health); 1000
 * concurrent scrapes and 1000 idle connections without a crash or unbounded
 * memory (the gpuops binary, RSS read from /proc); a backend failing mid-run
 * (the last good snapshot served, errors counted); faults injected in the sim
 * state file showing within one sampling interval; promtool's lint finding
 * nothing on gpuops_* families.
 *
 * Sections: helpers (HTTP, parsing, exporters); exposition; HTTP semantics;
 * MIG; NVML; abuse; failures and faults; the command.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "gpu/simstate.h"
#include "telemetry/exporter.h"
#include "testutil.h"

/* ---- helpers: HTTP ---- */

struct resp {
  long code;
  char *body;
  size_t len;
  char ctype[256];
  char allow[128];
};

static size_t on_body(char *d, size_t s, size_t n, void *cls) {
  struct resp *r = cls;
  r->body = realloc(r->body, r->len + s * n + 1);
  memcpy(r->body + r->len, d, s * n);
  r->len += s * n;
  r->body[r->len] = '\0';
  return s * n;
}

static size_t on_header(char *d, size_t s, size_t n, void *cls) {
  struct resp *r = cls;
  if (s * n > 7 && !strncasecmp(d, "Allow: ", 7)) {
    snprintf(r->allow, sizeof r->allow, "%.*s", (int)(s * n - 7), d + 7);
    r->allow[strcspn(r->allow, "\r\n")] = '\0';
  }
  return s * n;
}

static void resp_free(struct resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static CURL *easy(const char *method, const char *url, const char *accept, struct resp *r,
                  struct curl_slist **hdrs) {
  memset(r, 0, sizeof *r);
  CURL *h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (!strcmp(method, "HEAD"))
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET"))
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  if (!strcmp(method, "POST")) curl_easy_setopt(h, CURLOPT_POSTFIELDS, "x=1");
  *hdrs = NULL;
  if (accept) {
    char line[512];
    snprintf(line, sizeof line, "Accept: %s", accept);
    *hdrs = curl_slist_append(NULL, line);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
  }
  return h;
}

static void finish(CURL *h, struct resp *r, struct curl_slist *hdrs) {
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->code);
  char *ct = NULL;
  curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
  snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  if (!r->body) r->body = calloc(1, 1);
}

static void http(const char *method, const char *url, const char *accept, struct resp *r) {
  struct curl_slist *hdrs;
  CURL *h = easy(method, url, accept, r, &hdrs);
  CURLcode rc = curl_easy_perform(h);
  cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
  finish(h, r, hdrs);
}

static void get(const char *base, const char *path, const char *accept, struct resp *r) {
  char url[256];
  snprintf(url, sizeof url, "%s%s", base, path);
  http("GET", url, accept, r);
}

/* ---- helpers: parsing ---- */

/* The value of the first sample of name whose labels start with gpu="G" and contain want (may be
 * NULL). */
static bool sample(const char *body, const char *name, int gpu, const char *want, double *v) {
  char prefix[160];
  snprintf(prefix, sizeof prefix, "%s{gpu=\"%d\",", name, gpu);
  size_t plen = strlen(prefix);
  for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, prefix, plen) != 0) continue;
    const char *end = strchr(p, '\n'), *close = strchr(p, '}');
    if (!close || (end && close > end)) continue;
    if (want) {
      char line[2048];
      snprintf(line, sizeof line, "%.*s", (int)(close - p + 1), p);
      if (!strstr(line, want)) continue;
    }
    *v = strtod(close + 2, NULL);
    return true;
  }
  return false;
}

static int count_lines(const char *body, const char *prefix) {
  int n = 0;
  size_t plen = strlen(prefix);
  for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    n += !strncmp(p, prefix, plen);
  return n;
}

/* The body without the exporter's self metrics (which change with every scrape). */
static char *gpu_part(const char *body) {
  const char *self = strstr(body, "# HELP gpuops_exporter_scrape_duration_seconds");
  return strndup(body, self ? (size_t)(self - body) : strlen(body));
}

/* ---- helpers: exporters ---- */

static char tmpdir[256], state[300];
static struct gpu_backend *b_sample, *b_events;
static struct inventory inv;
static struct exporter *exp_;
static pid_t child; /* a `gpuops exporter` process this test started, 0 none */

static void setup(void) {
  testutil_tmpdir(tmpdir, sizeof tmpdir, "exporter");
  snprintf(state, sizeof state, "%s/sim-state.json", tmpdir);
  setenv("GPUOPS_SIM_STATE", state, 1);
  unsetenv("GPUOPS_SIM_NODE");
  unsetenv("GPUOPS_SIM_TIME_NS");
  inventory_init(&inv);
}

static void teardown(void) {
  if (child > 0) { /* a failed test still stops what it started */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  exporter_stop(exp_);
  gpu_close(b_events);
  gpu_close(b_sample);
  inventory_free(&inv);
  testutil_rmrf(tmpdir);
}

static const char *fixture_path(const char *name) {
  static char path[1024];
  const char *dir = getenv("GPUOPS_FIXTURES");
  cr_assert(dir && *dir, "GPUOPS_FIXTURES is not set (run through ctest)");
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static struct exporter_stats stats(void) {
  struct exporter_stats s;
  exporter_get_stats(exp_, &s);
  return s;
}

/* Wait (60 s at most) until the exporter has done at least n passes. */
static void wait_passes(uint64_t n) {
  for (int i = 0; i < 6000 && stats().passes < n; i++) time_sleep_ns(10000000LL);
  cr_assert_geq(stats().passes, n, "the sampler made no progress");
}

/* Start an exporter on 127.0.0.1:<free port> over two backends of kind o->kind. */
/* Start the exporter on a free loopback port; idle_s: its idle-connection timeout (0: default). */
static const char *start_idle(struct gpu_options *o, int interval_ms, int idle_s) {
  o->sim_state_path = state;
  cr_assert_eq(gpu_open(o, &b_sample), 0, "%s", err_msg());
  cr_assert_eq(gpu_open(o, &b_events), 0, "%s", err_msg());
  struct exporter_config cfg = {.listen = "127.0.0.1:0",
                                .interval_ms = interval_ms,
                                .backend = b_sample,
                                .events = b_events,
                                .hostname = "testhost",
                                .timeout_s = idle_s};
  cr_assert_eq(exporter_start(&cfg, &exp_), 0, "%s", err_msg());
  cr_assert_gt(exporter_port(exp_), 0);
  return exporter_url(exp_);
}

static const char *start(struct gpu_options *o, int interval_ms) {
  return start_idle(o, interval_ms, 0);
}

static const char *start_sim(int interval_ms) {
  struct gpu_options o = {.kind = GPU_BACKEND_SIM};
  return start(&o, interval_ms);
}

/* ---- exposition ---- */

static const struct {
  const char *name, *type, *help;
} families[] = {
    {"DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."},
    {"DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."},
    {"DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."},
    {"DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."},
    {"DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."},
    {"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
     "Total energy consumption since boot (in mJ)."},
    {"DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."},
    {"DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."},
    {"DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."},
    {"DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."},
    {"DCGM_FI_DEV_POWER_VIOLATION", "counter",
     "Throttling duration due to power constraints (in us)."},
    {"DCGM_FI_DEV_THERMAL_VIOLATION", "counter",
     "Throttling duration due to thermal constraints (in us)."},
    {"DCGM_FI_DEV_SYNC_BOOST_VIOLATION", "counter",
     "Throttling duration due to sync-boost constraints (in us)."},
    {"DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."},
    {"DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."},
    {"DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."},
    {"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total number of single-bit volatile ECC errors."},
    {"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."},
    {"DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "counter",
     "Total number of single-bit persistent ECC errors."},
    {"DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "counter",
     "Total number of double-bit persistent ECC errors."},
    {"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter",
     "Number of remapped rows for uncorrectable errors"},
    {"DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter",
     "Number of remapped rows for correctable errors"},
    {"DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"},
    {"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge", "Current clock throttle reasons."},
    {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."},
    {"DCGM_FI_PROF_SM_ACTIVE", "gauge", "The ratio of cycles an SM has at least 1 warp assigned."},
    {"DCGM_FI_PROF_SM_OCCUPANCY", "gauge", "The ratio of number of warps resident on an SM."},
    {"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge",
     "Ratio of cycles the tensor (HMMA) pipe is active."},
    {"DCGM_FI_PROF_DRAM_ACTIVE", "gauge",
     "Ratio of cycles the device memory interface is active sending or receiving data."},
    {"DCGM_FI_PROF_PCIE_TX_BYTES", "gauge",
     "The rate of data transmitted over the PCIe bus - including both protocol headers and data "
     "payloads - in bytes per second."},
    {"DCGM_FI_PROF_PCIE_RX_BYTES", "gauge",
     "The rate of data received over the PCIe bus - including both protocol headers and data "
     "payloads - in bytes per second."},
    {"gpuops_xid_errors_total", NULL, NULL}, /* appears at the first XID */
    {"gpuops_health_check_status", "gauge", NULL},
    {"gpuops_gpu_healthy", "gauge", NULL},
    {"gpuops_clock_event_reason", "gauge", NULL},
    {"gpuops_gpu_recovery_action", "gauge", NULL},
    {"gpuops_node_health_status", "gauge", NULL},
    {"gpuops_exporter_scrape_duration_seconds", "histogram", NULL},
    {"gpuops_exporter_sample_duration_seconds", "histogram", NULL},
    {"gpuops_exporter_sample_errors_total", "counter", NULL},
    {"gpuops_exporter_scrapes_total", "counter", NULL},
    {"gpuops_exporter_build_info", "gauge", NULL},
};

Test(exporter, dcgm_names_types_help_and_labels, .init = setup, .fini = teardown) {
  const char *url = start_sim(200);
  wait_passes(2); /* GPM metrics need two samples */
  struct resp r;
  get(url, "/metrics", NULL, &r);
  cr_assert_eq(r.code, 200);
  cr_assert(strstr(r.ctype, "text/plain; version=0.0.4"), "%s", r.ctype);
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    char want[512];
    if (!families[i].type) continue;
    if (families[i].help) {
      snprintf(want, sizeof want, "# HELP %s %s\n# TYPE %s %s\n", families[i].name,
               families[i].help, families[i].name, families[i].type);
    } else {
      snprintf(want, sizeof want, "# TYPE %s %s\n", families[i].name, families[i].type);
    }
    cr_assert(strstr(r.body, want), "missing or wrong: %s", want);
  }
  const char *labels = "DCGM_FI_DEV_GPU_TEMP{gpu=\"0\",UUID=\"GPU-";
  cr_assert(strstr(r.body, labels));
  const char *line = strstr(r.body, labels);
  char first[1024];
  snprintf(first, sizeof first, "%.*s", (int)(strchr(line, '\n') - line), line);
  cr_assert(
      strstr(first,
             ",pci_bus_id=\"00000000:18:00.0\",device=\"nvidia0\",modelName=\"NVIDIA H200\","
             "Hostname=\"testhost\",DCGM_FI_DRIVER_VERSION=\"580.159.04\",simulated=\"true\"}"),
      "%s", first);
  double v;
  for (int g = 0; g < 8; g++) {
    cr_assert(sample(r.body, "DCGM_FI_PROF_SM_ACTIVE", g, NULL, &v), "GPU %d SM active", g);
    cr_assert(v >= 0 && v <= 1, "a ratio, not percent: %g", v);
    cr_assert(sample(r.body, "DCGM_FI_DEV_XID_ERRORS", g, NULL, &v));
    cr_assert_eq(v, 0);
    cr_assert(sample(r.body, "gpuops_gpu_healthy", g, "uuid=\"GPU-", &v));
    cr_assert_eq(v, 1);
  }
  cr_assert(sample(r.body, "gpuops_health_check_status", 0, "check=\"ecc_uncorrectable\"", &v));
  cr_assert(!sample(r.body, "gpuops_health_check_status", 0, "check=\"retired_pages\"", &v),
            "N/A is omitted");
  cr_assert(sample(r.body, "gpuops_clock_event_reason", 0, "reason=\"sw_thermal\"", &v));
  cr_assert(
      strstr(r.body, "gpuops_node_health_status{hostname=\"testhost\",simulated=\"true\"} 0\n"));
  /* every series from the sim says so */
  for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (*p != '#' && strncmp(p, "gpuops_exporter_", 16) != 0)
      cr_assert(
          strstr(p, "simulated=\"true\"") && strstr(p, "simulated=\"true\"") < strchr(p, '\n'),
          "unlabelled simulated series: %.80s", p);
  resp_free(&r);
}

Test(exporter, invalid_values_are_omitted, .init = setup, .fini = teardown) {
  const char *url = start_sim(200);
  struct resp r;
  get(url, "/metrics", NULL, &r);
  /* The sim, like the H200, gives no board-limit/low-util/reliability violations and no retired
   * pages. */
  static const char *absent[] = {
      "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION", "DCGM_FI_DEV_LOW_UTIL_VIOLATION",
      "DCGM_FI_DEV_RELIABILITY_VIOLATION", "DCGM_FI_DEV_RETIRED_SBE",
      "DCGM_FI_DEV_RETIRED_DBE",           "DCGM_FI_DEV_RETIRED_PENDING"};
  for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
    cr_assert_null(strstr(r.body, absent[i]), "%s exported although the backend does not give it",
                   absent[i]);
  cr_assert_null(strstr(r.body, "DCGM_FI_PROF_SM_ACTIVE{"), "GPM needs two samples: none yet");
  resp_free(&r);
}

Test(exporter, openmetrics_when_accept_asks, .init = setup, .fini = teardown) {
  const char *url = start_sim(200);
  struct resp r;
  get(url, "/metrics",
      "application/openmetrics-text;version=1.0.0,application/"
      "openmetrics-text;version=0.0.1;q=0.75,"
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      &r);
  cr_assert_eq(r.code, 200);
  cr_assert(strstr(r.ctype, "application/openmetrics-text; version=1.0.0"), "%s", r.ctype);
  cr_assert(r.len > 6 && !strcmp(r.body + r.len - 6, "# EOF\n"), "ends with # EOF");
  cr_assert_eq(count_lines(r.body, "# EOF"), 1);
  cr_assert(strstr(r.body, "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION unknown\n"));
  cr_assert(strstr(r.body, "# TYPE DCGM_FI_DEV_SM_CLOCK gauge\n"));
  cr_assert(
      strstr(r.body, "# TYPE gpuops_exporter_scrapes counter\ngpuops_exporter_scrapes_total "));
  cr_assert(strstr(r.body, "# TYPE gpuops_exporter_build info\ngpuops_exporter_build_info{"));
  double v;
  cr_assert(sample(r.body, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", 3, NULL, &v),
            "same series names");
  resp_free(&r);
  get(url, "/metrics", "text/plain", &r);
  cr_assert(strstr(r.ctype, "text/plain"));
  cr_assert_null(strstr(r.body, "# EOF"));
  resp_free(&r);
}

Test(exporter, promtool_lints_only_dcgm_names, .init = setup, .fini = teardown) {
  if (system("command -v promtool >/dev/null 2>&1") != 0)
    TEST_SKIP_OR_FAIL("promtool is not installed");
  const char *url = start_sim(200);
  cr_assert_eq(
      simstate_add(
          state,
          &(struct sim_fault){.node = "sim-node-0", .gpu = 1, .kind = SIM_FAULT_XID, .value = 13}),
      0);
  wait_passes(3);
  struct resp r;
  get(url, "/metrics", NULL, &r);
  char path[400], cmd[900];
  snprintf(path, sizeof path, "%s/metrics.txt", tmpdir);
  FILE *f = fopen(path, "w");
  fwrite(r.body, 1, r.len, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' 2>&1", path);
  FILE *p = popen(cmd, "r");
  char line[1024];
  int dcgm = 0;
  while (fgets(line, sizeof line, p)) {
    cr_assert_null(strstr(line, "error while linting"), "parse error: %s", line);
    cr_assert(!strncmp(line, "DCGM_", 5), "lint finding outside the DCGM_* families: %s", line);
    dcgm++;
  }
  pclose(p);
  cr_assert_gt(dcgm, 0,
               "the DCGM names (camelCase labels, counters without _total) do draw findings");
  resp_free(&r);
}

/* ---- HTTP semantics ---- */

Test(exporter, not_found_and_method_not_allowed, .init = setup, .fini = teardown) {
  const char *url = start_sim(500);
  struct resp r;
  static const char *missing[] = {"/nope", "/metrics/", "/metricsx", "/health/x", "/../etc/passwd"};
  for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
    get(url, missing[i], NULL, &r);
    cr_assert_eq(r.code, 404, "%s: %ld", missing[i], r.code);
    resp_free(&r);
  }
  static const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    char u[256];
    snprintf(u, sizeof u, "%s/metrics", url);
    http(methods[i], u, NULL, &r);
    cr_assert_eq(r.code, 405, "%s: %ld", methods[i], r.code);
    cr_assert_str_eq(r.allow, "GET, HEAD");
    resp_free(&r);
  }
  char u[256];
  snprintf(u, sizeof u, "%s/metrics", url);
  http("HEAD", u, NULL, &r);
  cr_assert_eq(r.code, 200);
  cr_assert_eq(r.len, 0);
  resp_free(&r);
  get(url, "/", NULL, &r);
  cr_assert_eq(r.code, 200);
  cr_assert(strstr(r.body, "/metrics"));
  resp_free(&r);
}

Test(exporter, health_endpoint_is_the_verdict, .init = setup, .fini = teardown) {
  const char *url = start_sim(500);
  struct resp r;
  get(url, "/health", NULL, &r);
  cr_assert_eq(r.code, 200);
  cr_assert(strstr(r.ctype, "application/json"));
  json_t *doc = json_loadb(r.body, r.len, 0, NULL);
  cr_assert_not_null(doc);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "schema")), "gpuops.health/v1");
  cr_assert_str_eq(json_string_value(json_object_get(doc, "verdict")), "healthy");
  cr_assert_str_eq(json_string_value(json_object_get(doc, "host")), "testhost");
  cr_assert_eq(json_array_size(json_object_get(doc, "gpus")), 8);
  json_decref(doc);
  resp_free(&r);
}

/* ---- MIG ---- */

Test(exporter, mig_instances_are_labelled, .init = setup, .fini = teardown) {
  cr_assert_eq(inventory_load_yaml(&inv, fixture_path("health-fleet-mig.yaml")), 0, "%s",
               err_msg());
  struct gpu_options o = {.kind = GPU_BACKEND_SIM, .inv = &inv};
  const char *url = start(&o, 200);
  wait_passes(2);
  struct resp r;
  get(url, "/metrics", NULL, &r);
  cr_assert_eq(count_lines(r.body, "DCGM_FI_PROF_SM_ACTIVE{"), 8 * 7,
               "one series per MIG instance");
  cr_assert_eq(count_lines(r.body, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{"), 8 * 7);
  double v;
  for (int gi = 1; gi <= 7; gi++) {
    char want[96];
    snprintf(want, sizeof want,
             "modelName=\"NVIDIA H200\",GPU_I_PROFILE=\"1g.18gb\",GPU_I_ID=\"%d\",Hostname=", gi);
    cr_assert(sample(r.body, "DCGM_FI_PROF_DRAM_ACTIVE", 5, want, &v), "GPU 5 instance %d", gi);
  }
  cr_assert_null(strstr(r.body, "DCGM_FI_DEV_GPU_UTIL{"), "no utilisation in MIG mode");
  cr_assert(sample(r.body, "DCGM_FI_DEV_FB_USED", 0, NULL, &v), "device-wide values stay");
  resp_free(&r);
}

/* ---- NVML ---- */

Test(exporter, fake_nvml_events_and_recovery_action, .init = setup, .fini = teardown) {
  const char *lib = getenv("GPUOPS_FAKE_NVML");
  cr_assert(lib && *lib, "GPUOPS_FAKE_NVML is not set (run through ctest)");
  setenv("GPUOPS_FAKE_NVML_FIXTURE", fixture_path("nvml-h200.json"), 1);
  struct gpu_options o = {.kind = GPU_BACKEND_NVML, .nvml_path = lib};
  const char *url = start(&o, 200);
  for (int i = 0; i < 600 && stats().xid_events < 2; i++) time_sleep_ns(10000000LL);
  cr_assert_eq(stats().xid_events, 2, "the fixture queues XID 63 and 48");
  wait_passes(stats().passes + 2);
  struct resp r;
  get(url, "/metrics", NULL, &r);
  cr_assert_null(strstr(r.body, "simulated="), "real backends are not labelled simulated");
  double v;
  cr_assert(sample(r.body, "DCGM_FI_DEV_GPU_TEMP", 0, NULL, &v));
  cr_assert_eq(v, 52);
  cr_assert(sample(r.body, "DCGM_FI_DEV_POWER_USAGE", 0, NULL, &v));
  cr_assert_float_eq(v, 612.345, 1e-9, "mW -> W");
  cr_assert(sample(r.body, "gpuops_xid_errors_total", 0, "xid=\"63\"", &v));
  cr_assert_eq(v, 1);
  cr_assert(sample(r.body, "DCGM_FI_DEV_XID_ERRORS", 1, NULL, &v));
  cr_assert_eq(v, 48);
  cr_assert(sample(r.body, "gpuops_gpu_recovery_action", 1, NULL, &v));
  cr_assert_eq(v, 1);
  cr_assert(sample(r.body, "gpuops_gpu_healthy", 1, NULL, &v));
  cr_assert_eq(v, 0, "XID 48 and a pending reset fail GPU 1");
  resp_free(&r);
  get(url, "/health", NULL, &r);
  json_t *doc = json_loadb(r.body, r.len, 0, NULL);
  json_t *g1 = json_array_get(json_object_get(doc, "gpus"), 1);
  cr_assert_str_eq(json_string_value(json_object_get(g1, "action")), "reset_gpu");
  cr_assert_str_eq(json_string_value(json_object_get(g1, "recovery_action")), "gpu_reset");
  cr_assert(json_is_false(json_object_get(doc, "simulated")));
  json_decref(doc);
  resp_free(&r);
}

/* ---- abuse ---- */

/* n concurrent GETs through one curl multi handle; returns how many answered 200 with a body,
 * and describes the first that did not in why (transfer error, status, bytes). */
static int concurrent_gets(const char *base, int n, char *why, size_t why_len) {
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  struct resp *rs = calloc((size_t)n, sizeof *rs);
  CURL **hs = calloc((size_t)n, sizeof *hs);
  CURLcode *cc = calloc((size_t)n, sizeof *cc);
  struct curl_slist **hd = calloc((size_t)n, sizeof *hd);
  for (int i = 0; i < n; i++) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, i % 4 == 3 ? "/health" : "/metrics");
    hs[i] = easy("GET", url, i % 2 ? "application/openmetrics-text" : NULL, &rs[i], &hd[i]);
    curl_easy_setopt(hs[i], CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(hs[i], CURLOPT_PRIVATE, (char *)&cc[i]);
    curl_multi_add_handle(m, hs[i]);
  }
  int running = 1;
  while (running) {
    curl_multi_perform(m, &running);
    if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m, &left)))
    if (msg->msg == CURLMSG_DONE) {
      CURLcode *slot = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
      *slot = msg->data.result;
    }
  int ok = 0;
  why[0] = '\0';
  for (int i = 0; i < n; i++) {
    curl_multi_remove_handle(m, hs[i]);
    finish(hs[i], &rs[i], hd[i]);
    bool good = cc[i] == CURLE_OK && rs[i].code == 200 && rs[i].len > 100;
    ok += good;
    if (!good && !why[0])
      snprintf(why, why_len, "request %d: %s, HTTP %ld, %zu bytes", i, curl_easy_strerror(cc[i]),
               rs[i].code, rs[i].len);
    resp_free(&rs[i]);
  }
  curl_multi_cleanup(m);
  free(rs);
  free(hs);
  free(cc);
  free(hd);
  return ok;
}

static void raise_nofile(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 2300)
    TEST_SKIP_OR_FAIL("RLIMIT_NOFILE hard limit %lu is below 2300", (unsigned long)rl.rlim_max);
}

Test(exporter, thousand_concurrent_scrapes, .init = setup, .fini = teardown, .timeout = 120) {
  raise_nofile();
  /* The idle timeout is the client's 60 s, not the default 10 s: this test is about holding
   * 1000 connections at once, and on a loaded 2-core sanitizer run a connection can sit
   * accepted but unserviced for seconds. CI saw it fail once at 10 s; with a 1 s timeout
   * and four copies at once on 2 cores, requests fail with "Server returned nothing". */
  struct gpu_options o = {.kind = GPU_BACKEND_SIM};
  const char *url = start_idle(&o, 200, 60);
  char why[256];
  int ok = concurrent_gets(url, 1000, why, sizeof why);
  cr_assert_eq(ok, 1000,
               "every one of 1000 concurrent requests answered: %d did; first failure: %s", ok,
               why);
  cr_assert_geq(stats().scrapes, 750);
  struct resp r;
  get(url, "/metrics", NULL, &r);
  cr_assert_eq(r.code, 200, "still serving");
  resp_free(&r);
}

/* Start `gpuops exporter --listen 127.0.0.1:0 ...`; *pid and the URL it prints. */
static void spawn_exporter(const char *extra, pid_t *pid, char *url, size_t len) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  *pid = fork();
  cr_assert_geq(*pid, 0);
  if (*pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec '%s' exporter --listen 127.0.0.1:0 --interval 200 %s",
             getenv("GPUOPS_BIN"), extra);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  FILE *err = fdopen(fds[0], "r");
  char line[512];
  url[0] = '\0';
  while (fgets(line, sizeof line, err)) {
    char *at = strstr(line, "listening on ");
    if (at) {
      char fmt[16];
      snprintf(fmt, sizeof fmt, "%%%zus", len - 1);
      sscanf(at + 13, fmt, url);
      break;
    }
  }
  cr_assert(url[0], "the exporter did not say where it listens");
  if (fork() == 0) { /* drain its stderr so it never blocks on a full pipe */
    while (fgets(line, sizeof line, err)) {
    }
    _exit(0);
  }
  fclose(err);
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

/* n idle TCP connections to the exporter (a slowloris), closed by the caller. */
static int *idle_connections(int port, int n) {
  int *fds = calloc((size_t)n, sizeof *fds);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fds[i], 0);
    cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
    if (i % 2)
      (void)!write(fds[i], "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32); /* never finished */
  }
  return fds;
}

/* One round of abuse: 1000 idle connections held open while 1000 concurrent requests are answered.
 */
static void abuse_round(const char *url, int port) {
  int *idle = idle_connections(port, 1000);
  char why[256];
  int ok = concurrent_gets(url, 1000, why, sizeof why);
  cr_assert_eq(ok, 1000, "every request answered beside 1000 idle connections: %d did; first: %s",
               ok, why);
  for (int i = 0; i < 1000; i++) close(idle[i]);
  free(idle);
}

Test(exporter, abuse_keeps_memory_bounded, .init = setup, .fini = teardown, .timeout = 240) {
  raise_nofile();
  char url[256];
  /* --idle-timeout 60: as in thousand_concurrent_scrapes, a loaded run must not time out the
   * requests; the idle connections are closed by this test after each round. */
  spawn_exporter("--backend sim --idle-timeout 60", &child, url, sizeof url);
  int port = atoi(strrchr(url, ':') + 1);
  abuse_round(url, port); /* the high-water mark of this load */
  time_sleep_ns(2000000000LL);
  long first = rss_kib(child);
  for (int round = 0; round < 4; round++) abuse_round(url, port);
  time_sleep_ns(2000000000LL);
  long last = rss_kib(child);
  cr_log_info("exporter RSS after 1 round %ld KiB, after 5 rounds %ld KiB", first, last);
  cr_assert_eq(kill(child, 0), 0, "still alive");
#if defined(__SANITIZE_ADDRESS__)
  (void)first, (void)last; /* ASan's quarantine keeps freed memory: RSS says nothing here */
#else
  cr_assert_lt(last, first + 8 * 1024, "RSS grew from %ld to %ld KiB over 4 more rounds", first,
               last);
#endif
  kill(child, SIGTERM);
  int st;
  waitpid(child, &st, 0);
  child = 0;
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "clean exit on SIGTERM");
}

/* ---- failures and faults ---- */

Test(exporter, backend_failing_mid_run_serves_the_last_good_snapshot, .init = setup,
     .fini = teardown) {
  const char *url = start_sim(200);
  wait_passes(2);
  FILE *f = fopen(state, "w"); /* the sim backend now fails every sample (corrupt state) */
  fputs("{ not json", f);
  fclose(f);
  uint64_t e0 = stats().sample_errors;
  for (int i = 0; i < 6000 && stats().sample_errors < e0 + 8; i++) time_sleep_ns(10000000LL);
  cr_assert_geq(stats().sample_errors, e0 + 8, "a failed pass counts one error per GPU");
  struct resp a, b;
  get(url, "/metrics", NULL, &a);
  wait_passes(stats().passes + 2);
  get(url, "/metrics", NULL, &b);
  cr_assert_eq(a.code, 200);
  cr_assert_eq(b.code, 200);
  char *ga = gpu_part(a.body), *gb = gpu_part(b.body);
  cr_assert(strstr(ga, "DCGM_FI_DEV_POWER_USAGE{gpu=\"0\""), "the last good values are served");
  cr_assert_str_eq(ga, gb, "nothing re-rendered from failing samples");
  double errors;
  static const char key[] = "\ngpuops_exporter_sample_errors_total ";
  const char *line = strstr(b.body, key);
  cr_assert_not_null(line);
  errors = strtod(line + strlen(key), NULL);
  cr_assert_geq(errors, 8, "errors counted: %g", errors);
  free(ga);
  free(gb);
  resp_free(&a);
  resp_free(&b);
  remove(state); /* recover: sampling and rendering resume */
  uint64_t e1 = stats().sample_errors;
  wait_passes(stats().passes + 2);
  get(url, "/metrics", NULL, &a);
  cr_assert_eq(a.code, 200);
  cr_assert_leq(stats().sample_errors, e1 + 8, "at most the pass in flight failed");
  resp_free(&a);
}

/* After injecting, a pass that started after the fault is pass p0 + 2 at the latest. */
static void scrape_after_one_interval(const char *url, struct resp *r) {
  uint64_t p0 = stats().passes;
  wait_passes(p0 + 2);
  get(url, "/metrics", NULL, r);
}

Test(exporter, injected_xid_79_shows_within_one_interval, .init = setup, .fini = teardown) {
  const char *url = start_sim(1000);
  struct sim_fault f = {.node = "sim-node-0", .gpu = 2, .kind = SIM_FAULT_XID, .value = 79};
  cr_assert_eq(simstate_add(state, &f), 0);
  struct resp r;
  scrape_after_one_interval(url, &r);
  double v;
  cr_assert(sample(r.body, "DCGM_FI_DEV_XID_ERRORS", 2, NULL, &v));
  cr_assert_eq(v, 79);
  cr_assert(sample(r.body, "DCGM_FI_DEV_XID_ERRORS", 1, NULL, &v));
  cr_assert_eq(v, 0, "other GPUs unaffected");
  cr_assert(sample(r.body, "gpuops_health_check_status", 2, "check=\"xid\"", &v));
  cr_assert_eq(v, 2);
  cr_assert(sample(r.body, "gpuops_gpu_healthy", 2, NULL, &v));
  cr_assert_eq(v, 0);
  cr_assert(
      strstr(r.body, "gpuops_node_health_status{hostname=\"testhost\",simulated=\"true\"} 2\n"));
  resp_free(&r);
  /* the event thread counts it (it polls the state file every 50 ms) */
  for (int i = 0; i < 500 && stats().xid_events < 1; i++) time_sleep_ns(10000000LL);
  scrape_after_one_interval(url, &r);
  cr_assert(sample(r.body, "gpuops_xid_errors_total", 2, "xid=\"79\"", &v));
  cr_assert_eq(v, 1);
  resp_free(&r);
}

Test(exporter, injected_ecc_raises_the_ecc_series, .init = setup, .fini = teardown) {
  const char *url = start_sim(1000);
  struct resp r;
  double v;
  get(url, "/metrics", NULL, &r);
  cr_assert(sample(r.body, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", 4, NULL, &v));
  cr_assert_eq(v, 0);
  resp_free(&r);
  struct sim_fault f = {
      .node = "sim-node-0", .gpu = 4, .kind = SIM_FAULT_ECC_UNCORRECTABLE, .value = 3};
  cr_assert_eq(simstate_add(state, &f), 0);
  scrape_after_one_interval(url, &r);
  cr_assert(sample(r.body, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", 4, NULL, &v));
  cr_assert_eq(v, 3);
  cr_assert(sample(r.body, "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", 4, NULL, &v));
  cr_assert_eq(v, 3);
  cr_assert(sample(r.body, "DCGM_FI_DEV_ROW_REMAP_PENDING", 4, NULL, &v));
  cr_assert_eq(v, 1);
  cr_assert(sample(r.body, "gpuops_health_check_status", 4, "check=\"ecc_uncorrectable\"", &v));
  cr_assert_eq(v, 2);
  resp_free(&r);
}

Test(exporter, lost_gpu_keeps_its_health_series, .init = setup, .fini = teardown) {
  const char *url = start_sim(1000);
  struct sim_fault f = {
      .node = "sim-node-0", .gpu = 7, .kind = SIM_FAULT_FALLEN_OFF_BUS, .value = 79};
  cr_assert_eq(simstate_add(state, &f), 0);
  struct resp r;
  scrape_after_one_interval(url, &r);
  double v;
  cr_assert(!sample(r.body, "DCGM_FI_DEV_GPU_TEMP", 7, NULL, &v), "a lost GPU has no readings");
  cr_assert(sample(r.body, "gpuops_health_check_status", 7, "check=\"gpu_lost\"", &v));
  cr_assert_eq(v, 2);
  cr_assert(sample(r.body, "gpuops_gpu_healthy", 7, NULL, &v));
  cr_assert_eq(v, 0);
  resp_free(&r);
}

/* ---- the command ---- */

static int run_status(const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "timeout 20 '%s' %s >/dev/null 2>&1", getenv("GPUOPS_BIN"), args);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(exporter, command_refuses_to_fall_back_and_rejects_bad_input, .init = setup,
     .fini = teardown) {
  setenv("GPUOPS_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  cr_assert_eq(run_status("exporter --listen 127.0.0.1:0"), 3,
               "no NVML: exit 3, never the simulator");
  cr_assert_eq(run_status("exporter --backend nvml --listen 127.0.0.1:0"), 3);
  cr_assert_eq(run_status("exporter --backend sim --listen nonsense"), 2);
  cr_assert_eq(run_status("exporter --backend sim --interval 5"), 2);
  cr_assert_eq(run_status("exporter --backend sim --idle-timeout 0"), 2);
  cr_assert_eq(run_status("exporter --backend sim --listen 127.0.0.1:0 --thresholds /nonexistent"),
               2);
  const char *url = start_sim(500); /* occupy a port */
  char args[256];
  snprintf(args, sizeof args, "exporter --backend sim --listen 127.0.0.1:%d", exporter_port(exp_));
  cr_assert_eq(run_status(args), 2, "address in use");
  (void)url;
}

Test(exporter, command_serves_and_stops_on_sigterm, .init = setup, .fini = teardown) {
  char url[256];
  spawn_exporter("--backend sim --hostname cli-node", &child, url, sizeof url);
  struct resp r;
  get(url, "/metrics", NULL, &r);
  cr_assert_eq(r.code, 200);
  cr_assert(strstr(r.body, "Hostname=\"cli-node\""));
  resp_free(&r);
  kill(child, SIGTERM);
  int st;
  waitpid(child, &st, 0);
  child = 0;
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
