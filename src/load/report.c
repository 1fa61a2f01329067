/*
 * report.c — table, JSON and perf_analyzer-like CSV output of a load run
 * (report.h).
 *
 * Sections: helpers, table, JSON, CSV, warnings.
 */
#include "load/report.h"

#include <jansson.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "load/point.h"

/* --- helpers --- */

static const double PCTS[] = {50, 90, 95, 99, 99.9};
enum { N_PCTS = sizeof PCTS / sizeof PCTS[0] };

static double us(int64_t ns) { return ns / 1e3; }

static const char *mode_name(const struct load_result *r) {
  return r->mode == LOAD_OPEN ? "open" : "closed";
}

/* --- table --- */

static void add_latency_rows(struct table *t, const char *what, const struct hist *h) {
  char name[64];
  for (int i = 0; i < N_PCTS; i++) {
    snprintf(name, sizeof name, "%s p%g (ms)", what, PCTS[i]);
    table_add_rowf(t, "%s|%.3f", name, hist_percentile(h, PCTS[i]) / 1e6);
  }
  snprintf(name, sizeof name, "%s mean (ms)", what);
  table_add_rowf(t, "%s|%.3f", name, hist_mean(h) / 1e6);
  snprintf(name, sizeof name, "%s max (ms)", what);
  table_add_rowf(t, "%s|%.3f", name, hist_max(h) / 1e6);
}

static int write_table(FILE *out, const struct load_result *r, enum table_format fmt) {
  static const char *cols[] = {"metric", "value"};
  struct table *t = table_new(2, cols);
  if (!t) return err_set(ERR_NOMEM, "load report: out of memory");
  table_add_rowf(t, "mode|%s", mode_name(r));
  table_add_rowf(t, "%s|%g", r->mode == LOAD_OPEN ? "offered rate (req/s)" : "concurrency",
                 r->offered);
  table_add_rowf(t, "throughput (req/s)|%.1f", r->throughput);
  table_add_rowf(t, "measured (s)|%.3f", r->sum.seconds);
  table_add_rowf(t, "ok|%llu", (unsigned long long)r->sum.ok);
  for (int e = 0; e < LOAD_ERR_N; e++)
    table_add_rowf(t, "errors %s|%llu", load_err_name(e), (unsigned long long)r->sum.errors[e]);
  add_latency_rows(t, "latency", r->sum.lat);
  if (r->mode == LOAD_OPEN) add_latency_rows(t, "uncorrected", r->sum.uncorr);
  table_add_rowf(t, "late sends|%llu", (unsigned long long)r->late);
  table_add_rowf(t, "max send lag (ms)|%.3f", r->lag_max_ns / 1e6);
  if (r->windowed) {
    table_add_rowf(t, "windows|%d (summary: %d..%d)", r->n_windows, r->first + 1, r->last + 1);
    table_add_rowf(t, "stable|%s", r->stable ? "yes" : "no");
  }
  int rc = table_write(t, out, fmt);
  table_free(t);
  return rc;
}

/* --- JSON --- */

static json_t *latency_json(const struct hist *h) {
  json_t *o = json_object();
  char key[32];
  for (int i = 0; i < N_PCTS; i++) {
    snprintf(key, sizeof key, "p%g_us", PCTS[i]);
    json_object_set_new(o, key, json_real(us(hist_percentile(h, PCTS[i]))));
  }
  json_object_set_new(o, "min_us", json_real(us(hist_min(h))));
  json_object_set_new(o, "mean_us", json_real(hist_mean(h) / 1e3));
  json_object_set_new(o, "max_us", json_real(us(hist_max(h))));
  json_object_set_new(o, "count", json_integer((json_int_t)hist_count(h)));
  return o;
}

static json_t *window_json(const struct load_window *w) {
  json_t *o = json_object(), *errs = json_object();
  json_object_set_new(o, "seconds", json_real(w->seconds));
  json_object_set_new(o, "ok", json_integer((json_int_t)w->ok));
  json_object_set_new(o, "throughput_rps", json_real(w->seconds > 0 ? w->ok / w->seconds : 0));
  for (int e = 0; e < LOAD_ERR_N; e++)
    json_object_set_new(errs, load_err_name(e), json_integer((json_int_t)w->errors[e]));
  json_object_set_new(o, "errors", errs);
  json_object_set_new(o, "latency", latency_json(w->lat));
  json_object_set_new(o, "latency_uncorrected", latency_json(w->uncorr));
  return o;
}

static int write_json(FILE *out, const struct load_config *c, const struct load_result *r) {
  json_t *o = json_object(), *ws = json_array();
  json_object_set_new(o, "url", json_string(c->url));
  json_object_set_new(o, "mode", json_string(mode_name(r)));
  if (r->mode == LOAD_OPEN) {
    json_object_set_new(o, "rate_rps", json_real(r->offered)); /* a schedule's: 1 / mean gap */
    json_object_set_new(o, "schedule_gaps", json_integer((json_int_t)c->n_gaps));
    json_object_set_new(o, "poisson", json_boolean(c->poisson));
    json_object_set_new(o, "connections", json_integer(c->connections));
  } else {
    json_object_set_new(o, "concurrency", json_integer(c->concurrency));
  }
  json_object_set_new(o, "throughput_rps", json_real(r->throughput));
  json_object_set_new(o, "summary", window_json(&r->sum));
  json_object_set_new(o, "sent", json_integer((json_int_t)r->sent));
  json_object_set_new(o, "done", json_integer((json_int_t)r->done));
  json_object_set_new(o, "late_sends", json_integer((json_int_t)r->late));
  json_object_set_new(o, "max_send_lag_us", json_real(us(r->lag_max_ns)));
  json_object_set_new(o, "stable", json_boolean(r->stable));
  json_object_set_new(o, "summary_windows", json_pack("[ii]", r->first, r->last));
  for (int i = 0; i < r->n_windows; i++) json_array_append_new(ws, window_json(&r->windows[i]));
  json_object_set_new(o, "windows", ws);
  int rc = jsonio_write(out, o);
  json_decref(o);
  return rc;
}

/* --- CSV --- */

static int write_csv(FILE *out, const struct load_result *r) {
  struct load_point p;
  load_point_of(r, 0, &p);
  load_points_csv(out, &p, 1, r->mode);
  return ferror(out) ? err_set(ERR_IO, "load report: write failed") : 0;
}

int load_report_write(FILE *out, const struct load_config *c, const struct load_result *r,
                      enum table_format fmt) {
  if (fmt == TABLE_FMT_JSON) return write_json(out, c, r);
  if (fmt == TABLE_FMT_CSV) return write_csv(out, r);
  return write_table(out, r, fmt);
}

/* --- warnings --- */

int load_report_warnings(FILE *err, const struct load_config *c, const struct load_result *r) {
  int n = 0;
  if (r->late) {
    fprintf(err,
            "warning: fell behind schedule: %llu request(s) sent more than %.3f ms late "
            "(max lag %.3f ms); the generator or its --connections limit could not keep up; "
            "the corrected latency includes the wait\n",
            (unsigned long long)r->late, c->late_ns / 1e6, r->lag_max_ns / 1e6);
    n++;
  }
  if (r->windowed && !r->stable) {
    fprintf(err,
            "warning: not stable: no 3 consecutive windows within +-%g%% in throughput and "
            "p%g; the summary merges the last 3\n",
            c->stability_pct, c->percentile);
    n++;
  }
  uint64_t errs = load_window_errors(&r->sum);
  if (errs) {
    fprintf(err, "warning: %llu request(s) failed", (unsigned long long)errs);
    for (int e = 0; e < LOAD_ERR_N; e++)
      if (r->sum.errors[e])
        fprintf(err, " %s=%llu", load_err_name(e), (unsigned long long)r->sum.errors[e]);
    fprintf(err, "\n");
    n++;
  }
  return n;
}
