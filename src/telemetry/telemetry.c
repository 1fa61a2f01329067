/*
 * telemetry.c — the dossier's health section (telemetry.h).
 */
#include <stdio.h>

#include "base/err.h"
#include "report/report.h"
#include "telemetry/health.h"
#include "telemetry/telemetry.h"

static const char *section_status(enum health_verdict v) {
  return v == HEALTH_FAILED ? "fail" : v == HEALTH_DEGRADED ? "warn" : "ok";
}

static void add_gpus(json_t *sec, const struct health_report *r) {
  static const char *cols[] = {"gpu", "name", "status", "action", "reason"};
  json_t *rows = report_add_table(sec, "GPUs", cols, 5);
  for (int i = 0; i < r->n_gpus; i++) {
    const struct health_gpu *g = &r->gpus[i];
    json_array_append_new(
        rows,
        json_pack("[i,s,s,s,s]", g->index, g->name, verdict_status_name(g->status),
                  verdict_action_name(g->action), g->reason[0] ? g->reason : "all checks pass"));
  }
}

static void add_findings(json_t *sec, const struct health_report *r) {
  static const char *cols[] = {"gpu", "check", "status", "action", "message"};
  json_t *rows = NULL;
  for (int i = 0; i < r->n_gpus; i++)
    for (int c = 0; c < HEALTH_CHECK_COUNT; c++) {
      const struct health_check *hc = &r->gpus[i].checks[c];
      if (hc->status != VERDICT_WARN && hc->status != VERDICT_FAIL) continue;
      if (!rows) rows = report_add_table(sec, "Findings", cols, 5);
      json_array_append_new(
          rows,
          json_pack("[i,s,s,s,s]", r->gpus[i].index, health_check_name((enum health_check_id)c),
                    verdict_status_name(hc->status), verdict_action_name(hc->action), hc->message));
    }
}

json_t *telemetry_dossier_section(struct gpu_backend *b) {
  struct health_report r;
  struct health_collect_opts o = {.interval_ms = 200};
  int rc = health_collect(b, &o, &r);
  if (rc < 0) {
    json_t *sec = report_section("health", "GPU health", "skip", "the GPUs could not be read");
    if (sec) report_add_note(sec, "%s", err_msg());
    return sec;
  }
  char summary[600];
  snprintf(summary, sizeof summary, "%s; recommended action: %s", r.summary,
           verdict_action_name(r.action));
  json_t *sec = report_section("health", "GPU health", section_status(r.verdict), summary);
  if (!sec) {
    health_report_free(&r);
    return NULL;
  }
  add_gpus(sec, &r);
  add_findings(sec, &r);
  if (r.simulated)
    report_add_note(sec, "SIMULATED GPUs (backend sim): the verdict describes the simulated fleet");
  report_add_note(
      sec,
      "XIDs: a one-shot check sees those the driver still reports; the exporter's /health sees "
      "every XID since it started (docs/telemetry.md)");
  json_object_set_new(sec, "health", health_report_json(&r));
  health_report_free(&r);
  return sec;
}
