/*
 * dossier.c — the profile section of the dossier (dossier.h).
 */
#include "profile/dossier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "report/report.h"

static json_t *fail(const char *why) {
  json_t *s = report_section("profile", "Profile", "fail", why);
  return s;
}

static void kernels_table(json_t *sec, const json_t *sum) {
  static const char *cols[] = {"kernel", "calls", "total ms", "mean us", "share %"};
  json_t *rows = report_add_table(sec, "Top kernels by GPU time", cols, 5);
  size_t i;
  const json_t *k;
  json_array_foreach(json_object_get(sum, "kernels"), i, k) {
    if (i >= 10) break;
    json_array_append_new(rows, json_pack("[O,O,O,O,f]", json_object_get(k, "name"), json_object_get(k, "calls"),
                                          json_object_get(k, "total_ms"), json_object_get(k, "mean_us"),
                                          100 * json_number_value(json_object_get(k, "share"))));
  }
}

static void findings_table(json_t *sec, const json_t *findings) {
  static const char *cols[] = {"finding", "evidence", "remedy"};
  json_t *rows = report_add_table(sec, "Findings", cols, 3);
  size_t i;
  const json_t *f;
  json_array_foreach(findings, i, f)
    json_array_append_new(rows, json_pack("[O,O,O]", json_object_get(f, "title"), json_object_get(f, "evidence"),
                                          json_object_get(f, "remediation")));
}

/* The file's text, or NULL. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 && n < (8L << 20) ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

json_t *profile_dossier_section(const char *dir) {
  char path[2048], summary[512];
  json_t *sum = NULL, *findings = NULL;
  snprintf(path, sizeof path, "%s/summary.json", dir);
  if (jsonio_load_file(path, &sum) < 0) return fail(err_msg());
  snprintf(path, sizeof path, "%s/findings.json", dir);
  if (jsonio_load_file(path, &findings) < 0) {
    json_decref(sum);
    return fail(err_msg());
  }
  const json_t *run = json_object_get(sum, "run"), *win = json_object_get(sum, "gpu_window");
  char idle[64] = "no GPU activity";
  if (json_is_object(win))
    snprintf(idle, sizeof idle, "GPU idle %.1f%% of its active window",
             100 * json_number_value(json_object_get(win, "idle_share")));
  snprintf(summary, sizeof summary, "%s: %lld launches, %.3f ms of kernels, %s; %zu finding(s)",
           json_string_value(json_object_get(run, "command")) ?: "?",
           (long long)json_integer_value(json_object_get(sum, "launches")),
           json_number_value(json_object_get(sum, "kernel_total_ms")), idle, json_array_size(findings));
  json_t *sec = report_section("profile", "Profile", json_array_size(findings) ? "warn" : "ok", summary);
  kernels_table(sec, sum);
  findings_table(sec, findings);
  size_t i;
  const json_t *n;
  json_array_foreach(json_object_get(sum, "notes"), i, n) report_add_note(sec, "%s", json_string_value(n));
  snprintf(path, sizeof path, "%s/flamegraph.svg", dir);
  char *svg = slurp(path);
  if (svg && !strncmp(svg, "<svg", 4))
    json_object_set_new(sec, "figures", json_pack("[{s:s,s:s}]", "title", "GPU time by NVTX range", "svg", svg));
  else report_add_note(sec, "no flamegraph in %s", dir);
  free(svg);
  report_add_note(sec, "profile folder: %s (trace.json opens in ui.perfetto.dev)", dir);
  json_decref(sum);
  json_decref(findings);
  return sec;
}
