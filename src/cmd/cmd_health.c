/*
 * cmd_health.c — `gpuops health`: per GPU, every health check with
 * PASS/WARN/FAIL/N-A and the action a failure calls for; a node verdict and
 * the recommended action (telemetry/health.h).
 *
 * Exit: 0 healthy (degraded too, unless --fail-on warn), 1 unhealthy, 2 bad
 * input, 3 no GPU/NVML or the exporter unreachable (never a simulated
 * "healthy": no fallback to sim unless --backend sim). With --npd the
 * Kubernetes node-problem-detector plugin contract: 0 OK, 1 problem,
 * 2 unknown, one line on stdout. As a Slurm HealthCheckProgram, exit 1 is what
 * the wrapper drains on (docs/telemetry.md).
 *
 * Sources: the GPUs through a backend (two samples --interval apart; with
 * --watch, XID events meanwhile), or an exporter's /health (--from URL).
 *
 * Sections: options; fetching /health; output; the command.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "telemetry/health.h"
#include "telemetry/slurmcheck.h"

/* ---- options ---- */

struct health_args {
  int interval_ms;
  double watch_s;
  const char *thresholds, *fail_on, *from;
  bool npd, checks;
  bool slurm; /* HealthCheckProgram: drain/resume $SLURMD_NODENAME (telemetry/slurmcheck.h) */
  bool fail_on_warn;
};

static int check_args(struct health_args *a) {
  if (a->interval_ms < 0 || a->interval_ms > 600000)
    return cli_usage_error("health", "--interval must be 0..600000 ms, got %d", a->interval_ms);
  if (a->watch_s < 0 || a->watch_s > 86400)
    return cli_usage_error("health", "--watch must be 0..86400 seconds, got %g", a->watch_s);
  if (a->fail_on && strcmp(a->fail_on, "warn") != 0 && strcmp(a->fail_on, "fail") != 0)
    return cli_usage_error("health", "--fail-on must be warn or fail, got '%s'", a->fail_on);
  a->fail_on_warn = a->fail_on && !strcmp(a->fail_on, "warn");
  return 0;
}

/* ---- fetching /health ---- */

struct body {
  char *p;
  size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *cls) {
  struct body *b = cls;
  size_t add = size * n;
  if (b->len + add > (16u << 20)) return 0; /* 16 MiB: not a /health document */
  char *p = realloc(b->p, b->len + add + 1);
  if (!p) return 0;
  memcpy(p + b->len, data, add);
  b->p = p;
  b->len += add;
  b->p[b->len] = '\0';
  return add;
}

/* GET url into a report; an unreachable exporter is ERR_NODEVICE (exit 3: environment missing). */
static int fetch_health(const char *url, struct health_report *r) {
  struct body b = {0};
  long code = 0;
  int rc = 0;
  CURL *h = curl_easy_init();
  if (!h) return err_set(ERR_NOMEM, "cannot start libcurl");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  CURLcode cr = curl_easy_perform(h);
  if (cr == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(h);
  if (cr != CURLE_OK) {
    rc = err_set(ERR_NODEVICE, "cannot read %s: %s (is `gpuops exporter` running there?)", url,
                 curl_easy_strerror(cr));
    goto out;
  }
  if (code != 200) {
    rc = err_set(ERR_NODEVICE, "%s answered HTTP %ld, not a /health document", url, code);
    goto out;
  }
  json_error_t je;
  json_t *doc = json_loadb(b.p ? b.p : "", b.len, 0, &je);
  if (!doc) {
    rc = err_set(ERR_PARSE, "%s: not JSON (line %d: %s)", url, je.line, je.text);
    goto out;
  }
  rc = health_report_from_json(doc, r);
  json_decref(doc);
  if (rc < 0) err_wrap(rc, "%s", url);
out:
  free(b.p);
  return rc;
}

/* ---- output ---- */

static const char *upper(enum verdict_status s) {
  static const char *const names[] = {"PASS", "WARN", "FAIL", "N/A"};
  return (unsigned)s <= VERDICT_NA ? names[s] : "?";
}

static int write_table(FILE *out, const struct health_report *r, bool all_checks) {
  fprintf(out, "# backend: %s%s — host %s\n", r->backend, r->simulated ? " — SIMULATED GPUs" : "",
          r->host);
  for (int i = 0; i < r->n_gpus; i++) {
    const struct health_gpu *g = &r->gpus[i];
    fprintf(out, "GPU %d %s (%s): %s%s%s\n", g->index, g->name, g->uuid, upper(g->status),
            g->status == VERDICT_PASS ? "" : " -> ",
            g->status == VERDICT_PASS ? "" : verdict_action_name(g->action));
    for (int c = 0; c < HEALTH_CHECK_COUNT; c++) {
      const struct health_check *hc = &g->checks[c];
      bool show = all_checks || hc->status == VERDICT_WARN || hc->status == VERDICT_FAIL;
      if (!show) continue;
      fprintf(out, "    %-4s %-17s %s%s%s\n", upper(hc->status),
              health_check_name((enum health_check_id)c), hc->message,
              hc->action != VERDICT_ACTION_NONE ? " => " : "",
              hc->action != VERDICT_ACTION_NONE ? verdict_action_name(hc->action) : "");
    }
  }
  fprintf(out, "node: %s — action: %s (%s)\n", health_verdict_name(r->verdict),
          verdict_action_name(r->action), verdict_action_text(r->action));
  if (r->verdict != HEALTH_HEALTHY) fprintf(out, "%s\n", r->summary);
  return ferror(out) ? err_set(ERR_IO, "write failed") : 0;
}

static int write_csv(FILE *out, const struct health_report *r) {
  static const char *cols[] = {"gpu", "uuid", "check", "status", "action", "message"};
  struct table *t = table_new(6, cols);
  if (!t) return err_set(ERR_NOMEM, "out of memory");
  for (int i = 0; i < r->n_gpus; i++)
    for (int c = 0; c < HEALTH_CHECK_COUNT; c++) {
      const struct health_gpu *g = &r->gpus[i];
      const char *cells[6];
      char idx[16];
      snprintf(idx, sizeof idx, "%d", g->index);
      cells[0] = idx, cells[1] = g->uuid, cells[2] = health_check_name((enum health_check_id)c);
      cells[3] = verdict_status_name(g->checks[c].status),
      cells[4] = verdict_action_name(g->checks[c].action);
      cells[5] = g->checks[c].message;
      table_add_row(t, cells);
    }
  int rc = table_write(t, out, TABLE_FMT_CSV);
  table_free(t);
  return rc;
}

static int write_report(const struct cli_common *c, const struct health_report *r,
                        bool all_checks) {
  bool close_it = false;
  FILE *out = cli_output_open("health", c, &close_it);
  if (!out) return err_set(ERR_IO, "cannot open output");
  int rc = 0;
  if (c->format == TABLE_FMT_JSON) {
    json_t *doc = health_report_json(r);
    rc = doc ? jsonio_write(out, doc) : err_set(ERR_NOMEM, "out of memory");
    json_decref(doc);
  } else if (c->format == TABLE_FMT_CSV) {
    rc = write_csv(out, r);
  } else {
    rc = write_table(out, r, all_checks);
  }
  int crc = cli_output_close(out, close_it);
  return rc < 0 ? rc : crc;
}

/* node-problem-detector: one line on stdout; 0 OK, 1 problem, 2 unknown. */
static int npd_result(const struct health_report *r, int rc, bool fail_on_warn) {
  if (rc < 0) {
    printf("unknown: %s\n", err_msg());
    return 2;
  }
  int problem = health_report_exit_code(r, fail_on_warn);
  printf("%s%s\n", r->simulated ? "SIMULATED " : "", r->summary);
  return problem ? 1 : 0;
}

/* Slurm HealthCheckProgram: act on $SLURMD_NODENAME; one line on stdout. An
 * unknown verdict changes nothing (a broken check must not drain a fleet). */
static int slurm_result(const struct health_report *r, int rc, bool fail_on_warn) {
  const char *node = getenv("SLURMD_NODENAME");
  if (rc < 0) {
    printf("gpuops health --slurm: %s: health unknown, node left as it is: %s\n",
           node ? node : "?", err_msg());
    return err_exit_code(rc);
  }
  enum slurmcheck_action done;
  char reason[256];
  if ((rc = slurmcheck_apply(node, r, fail_on_warn, &done, reason, sizeof reason)) < 0)
    return cli_fail("health", rc);
  printf("gpuops health --slurm: %s: %s; %s%s%s\n", node, health_verdict_name(r->verdict),
         slurmcheck_action_name(done), *reason ? ": " : "", reason);
  return health_report_exit_code(r, fail_on_warn);
}

/* ---- the command ---- */

static int collect(const struct cli_common *c, const struct health_args *a,
                   const struct thresholds *t, struct health_report *r) {
  if (a->from) return fetch_health(a->from, r);
  struct inventory inv;
  struct gpu_options go;
  struct gpu_backend *b = NULL;
  int rc = cli_gpu_options(c, &inv, &go);
  if (rc < 0) goto out;
  go.allow_sim_fallback = false; /* never a simulated "healthy" */
  if ((rc = gpu_open(&go, &b)) < 0) goto out;
  struct health_collect_opts o = {
      .t = t, .interval_ms = a->interval_ms, .watch_ms = (int)(a->watch_s * 1000)};
  rc = health_collect(b, &o, r);
out:
  gpu_close(b);
  inventory_free(&inv);
  return rc;
}

int cmd_health(int argc, char **argv) {
  struct health_args a = {.interval_ms = 1000};
  const struct cli_option opts[] = {
      {"interval", 0, CLI_ARG_INT, &a.interval_ms, "MS",
       "sample twice this far apart (PCIe replay rate, GPM; default 1000; 0: once)"},
      {"watch", 0, CLI_ARG_DOUBLE, &a.watch_s, "SECONDS",
       "wait this long for XID events (NVML reports XIDs only to a process waiting for them)"},
      {"thresholds", 0, CLI_ARG_STRING, &a.thresholds, "FILE",
       "health thresholds (YAML, see docs/telemetry.md)"},
      {"fail-on", 0, CLI_ARG_STRING, &a.fail_on, "warn|fail",
       "exit 1 on WARN too with 'warn' (default fail)"},
      {"npd", 0, CLI_ARG_FLAG, &a.npd, NULL,
       "node-problem-detector plugin: one line on stdout; exit 0 OK, 1 problem, 2 unknown"},
      {"from", 0, CLI_ARG_STRING, &a.from, "URL",
       "read the verdict from an exporter (http://127.0.0.1:9400/health)"},
      {"slurm", 0, CLI_ARG_FLAG, &a.slurm, NULL,
       "Slurm HealthCheckProgram: drain $SLURMD_NODENAME when unhealthy, resume a drain gpuops' "
       "health check set once healed (never another's)"},
      {"checks", 0, CLI_ARG_FLAG, &a.checks, NULL,
       "table: list every check, not only WARN and FAIL"},
      {0}};
  const struct cli_spec spec = {
      "health",
      "[--interval MS] [--watch SECONDS] [--fail-on warn] [--npd] [--from URL] [options]",
      "Check every GPU (recovery action, lost GPU, ECC, row remapping, retired pages, XIDs, "
      "thermal, power, "
      "PCIe replays, clocks) and say what to do.\nExit 0 healthy (WARN too unless --fail-on warn), "
      "1 unhealthy, "
      "3 no GPU/NVML (no fallback to simulated GPUs unless --backend sim).",
      CLI_BACKEND | CLI_SPEC | CLI_NODE | CLI_FORMAT | CLI_OUTPUT,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = check_args(&a))) return rc;
  if (a.slurm && a.npd) return cli_usage_error("health", "--slurm and --npd exclude each other");
  if (a.slurm && !getenv("SLURMD_NODENAME"))
    return cli_usage_error("health", "--slurm needs SLURMD_NODENAME (slurmd sets it for its "
                                     "HealthCheckProgram)");
  struct thresholds t;
  thresholds_default(&t);
  if (a.thresholds && (rc = thresholds_load(&t, a.thresholds)) < 0) {
    if (a.npd) return npd_result(NULL, rc, false);
    return cli_fail("health", rc);
  }
  struct health_report r;
  health_report_init(&r);
  rc = collect(&c, &a, &t, &r);
  if (a.slurm) {
    int code = slurm_result(&r, rc, a.fail_on_warn);
    health_report_free(&r);
    return code;
  }
  if (a.npd) {
    int code = npd_result(&r, rc, a.fail_on_warn);
    health_report_free(&r);
    return code;
  }
  if (rc < 0) return cli_fail("health", rc);
  rc = write_report(&c, &r, a.checks);
  int code = rc < 0 ? cli_fail("health", rc) : health_report_exit_code(&r, a.fail_on_warn);
  health_report_free(&r);
  return code;
}
