/*
 * point.c — load points: from a finished run, and as a table, JSON or
 * perf_analyzer-shaped CSV (point.h).
 *
 * Sections: from a run, table and JSON, CSV.
 */
#include "load/point.h"

#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"

static const double PCTS[LOAD_POINT_N_PCTS] = LOAD_POINT_PCTS;

/* --- from a run --- */

void load_point_of(const struct load_result *r, double sla_pct, struct load_point *p) {
  memset(p, 0, sizeof *p);
  p->load = r->offered;
  p->throughput = r->throughput;
  for (int i = 0; i < LOAD_POINT_N_PCTS; i++) {
    p->pct_ns[i] = hist_percentile(r->sum.lat, PCTS[i]);
    p->uncorr_ns[i] = hist_percentile(r->sum.uncorr, PCTS[i]);
  }
  p->mean_ns = hist_mean(r->sum.lat);
  p->ok = r->sum.ok;
  p->errors = load_window_errors(&r->sum);
  p->stable = r->stable;
  if (sla_pct <= 0) return;
  p->sla_ns = hist_percentile(r->sum.lat, sla_pct);
  for (int i = r->first; i <= r->last && i < r->n_windows; i++) {
    int64_t v = hist_percentile(r->windows[i].lat, sla_pct);
    if (v > p->sla_worst_ns) p->sla_worst_ns = v;
  }
}

/* --- table and JSON --- */

static bool any_label(const struct load_point *pts, int n) {
  for (int i = 0; i < n; i++)
    if (pts[i].label[0]) return true;
  return false;
}

/* The people's table: [config] load req/s p50..p99.9 raw-p99 (ms) errors stable [sla]. */
static struct table *points_table(const struct load_point *pts, int n, enum load_mode mode,
                                  int best, bool with_sla) {
  const char *hdr[] = {"config", mode == LOAD_OPEN ? "rate" : "concurrency", "req/s", "p50 ms",
                       "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "raw p99 ms", "errors",
                       "stable", "sla"};
  int skip = any_label(pts, n) ? 0 : 1, ncols = 12 - skip - (with_sla ? 0 : 1);
  struct table *t = table_new(ncols, hdr + skip);
  if (!t) return NULL;
  for (int i = 0; i < n; i++) {
    const struct load_point *p = &pts[i];
    char cells[12][80];
    const char *row[12];
    snprintf(cells[0], sizeof cells[0], "%s", p->label);
    snprintf(cells[1], sizeof cells[1], "%g", p->load);
    snprintf(cells[2], sizeof cells[2], "%.1f", p->throughput);
    for (int k = 0; k < LOAD_POINT_N_PCTS; k++)
      snprintf(cells[3 + k], sizeof cells[3 + k], "%.3f", p->pct_ns[k] / 1e6);
    snprintf(cells[8], sizeof cells[8], "%.3f", p->uncorr_ns[3] / 1e6);
    snprintf(cells[9], sizeof cells[9], "%llu", (unsigned long long)p->errors);
    snprintf(cells[10], sizeof cells[10], "%s", p->stable ? "yes" : "no");
    snprintf(cells[11], sizeof cells[11], "%s", i == best ? "best" : p->meets ? "meets" : "misses");
    for (int k = 0; k < 12; k++) row[k] = cells[k];
    if (table_add_row(t, row + skip) < 0) {
      table_free(t);
      return NULL;
    }
  }
  return t;
}

static json_t *pcts_json(const int64_t *ns) {
  json_t *o = json_object();
  char key[16];
  for (int k = 0; k < LOAD_POINT_N_PCTS; k++) {
    snprintf(key, sizeof key, "p%g_us", PCTS[k]);
    json_object_set_new(o, key, json_real(ns[k] / 1e3));
  }
  return o;
}

json_t *load_points_json(const struct load_point *pts, int n, enum load_mode mode, bool with_sla) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) {
    const struct load_point *p = &pts[i];
    json_t *o = json_object();
    if (p->label[0]) json_object_set_new(o, "config", json_string(p->label));
    json_object_set_new(o, mode == LOAD_OPEN ? "rate_rps" : "concurrency", json_real(p->load));
    json_object_set_new(o, "throughput_rps", json_real(p->throughput));
    json_object_set_new(o, "latency", pcts_json(p->pct_ns));
    json_object_set_new(o, "latency_uncorrected", pcts_json(p->uncorr_ns));
    json_object_set_new(o, "mean_us", json_real(p->mean_ns / 1e3));
    json_object_set_new(o, "ok", json_integer((json_int_t)p->ok));
    json_object_set_new(o, "errors", json_integer((json_int_t)p->errors));
    json_object_set_new(o, "stable", json_boolean(p->stable));
    if (with_sla) {
      json_object_set_new(o, "sla_percentile_us", json_real(p->sla_ns / 1e3));
      json_object_set_new(o, "sla_worst_window_us", json_real(p->sla_worst_ns / 1e3));
      json_object_set_new(o, "meets_sla", json_boolean(p->meets));
    }
    json_array_append_new(a, o);
  }
  return a;
}

int load_points_write(FILE *out, const struct load_point *pts, int n, enum load_mode mode,
                      int best, bool with_sla, enum table_format fmt) {
  if (fmt == TABLE_FMT_CSV) {
    load_points_csv(out, pts, n, mode);
    return ferror(out) ? err_set(ERR_IO, "load report: write failed") : 0;
  }
  if (fmt == TABLE_FMT_JSON) {
    json_t *a = load_points_json(pts, n, mode, with_sla);
    int rc = jsonio_write(out, a);
    json_decref(a);
    return rc;
  }
  struct table *t = points_table(pts, n, mode, best, with_sla);
  if (!t) return err_set(ERR_NOMEM, "load report: out of memory");
  int rc = table_write(t, out, fmt);
  table_free(t);
  return rc;
}

/* --- CSV --- */

void load_points_csv(FILE *out, const struct load_point *pts, int n, enum load_mode mode) {
  fprintf(out,
          "%s,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
          "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
          "p50 latency,p90 latency,p95 latency,p99 latency,Avg latency\n",
          mode == LOAD_OPEN ? "Request Rate" : "Concurrency");
  for (int i = 0; i < n; i++) {
    const struct load_point *p = &pts[i];
    fprintf(out, "%g,%.1f,0,%.0f,0,0,0,0,0,%.0f,%.0f,%.0f,%.0f,%.0f\n", p->load, p->throughput,
            p->mean_ns / 1e3, p->pct_ns[0] / 1e3, p->pct_ns[1] / 1e3, p->pct_ns[2] / 1e3,
            p->pct_ns[3] / 1e3, p->mean_ns / 1e3);
  }
}
