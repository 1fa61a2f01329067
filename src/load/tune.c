/*
 * tune.c — the tuner: one server process per configuration, an SLA search
 * against each, the grid then a local search around the best (tune.h).
 *
 * Sections: specification and results, one configuration, the search, output.
 */
#include "load/tune.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/table.h"
#include "load/chart.h"
#include "load/payload.h"
#include "load/server.h"
#include "load/sweep.h"

/* --- specification and results --- */

void tune_spec_defaults(struct tune_spec *s) {
  memset(s, 0, sizeof *s);
  static const int batches[] = {1, 4, 16}, delays[] = {0, 1000}, inst[] = {1, 2};
  memcpy(s->batches, batches, sizeof batches), s->n_batches = 3;
  memcpy(s->delays, delays, sizeof delays), s->n_delays = 2;
  memcpy(s->instances, inst, sizeof inst), s->n_instances = 2;
  s->local_steps = 2;
  s->payload_batch = 1;
  s->n_bodies = 8;
  s->log_dir = "/tmp";
  s->ready_timeout_s = 60;
  load_config_defaults(&s->load);
}

void tune_result_free(struct tune_result *r) {
  for (int i = 0; i < r->n; i++) sla_result_free(&r->trials[i].search);
  free(r->trials);
  memset(r, 0, sizeof *r);
  r->best = -1;
}

void tune_cfg_label(const struct tune_server_cfg *c, char *buf, int len) {
  snprintf(buf, (size_t)len, "b=%d d=%dus i=%d", c->max_batch, c->delay_us, c->instances);
}

/* --- one configuration --- */

/* The model's name: the spec's, else the directory's base name (as gpuops serve names it). */
static void model_name(const struct tune_spec *s, char *buf, size_t len) {
  if (s->name) {
    snprintf(buf, len, "%s", s->name);
    return;
  }
  snprintf(buf, len, "%s", s->model_dir);
  size_t n = strlen(buf);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
  const char *slash = strrchr(buf, '/');
  if (slash) memmove(buf, slash + 1, strlen(slash + 1) + 1);
}

static int start_server(const struct tune_spec *s, const struct tune_server_cfg *cfg, int idx,
                        struct load_server *srv) {
  char b[16], d[16], i[16], log[512];
  snprintf(b, sizeof b, "%d", cfg->max_batch);
  snprintf(d, sizeof d, "%d", cfg->delay_us);
  snprintf(i, sizeof i, "%d", cfg->instances);
  snprintf(log, sizeof log, "%s/serve-%d.log", s->log_dir, idx);
  const char *argv[20] = {s->serve_cmd, "serve", s->model_dir, "--listen", "127.0.0.1:0",
                          "--max-batch-size", b, "--max-queue-delay-us", d, "--instances", i};
  int n = 11;
  if (s->device) argv[n++] = "--device", argv[n++] = s->device;
  if (s->name) argv[n++] = "--name", argv[n++] = s->name;
  argv[n] = NULL;
  return load_server_start((char *const *)argv, s->server_cpus, log, s->ready_timeout_s, srv);
}

/* Bodies from the running server's metadata, and the load configuration aimed at it. */
static int aim_load(const struct tune_spec *s, const char *base, struct payload_set *ps,
                    struct load_config *c, char *url, size_t url_len, const char **hdr) {
  char name[256];
  model_name(s, name, sizeof name);
  json_t *meta = NULL;
  struct payload_model m;
  int rc = payload_fetch(base, name, s->load.timeout_s, &meta);
  if (rc == 0) rc = payload_model_parse(meta, s->payload_batch, s->payload_shape, &m);
  json_decref(meta);
  if (rc == 0) rc = payload_generate(&m, s->n_bodies, s->binary, s->load.seed, ps);
  if (rc < 0) return rc;
  *c = s->load;
  snprintf(url, url_len, "%s/v2/models/%s/infer", base, name);
  c->url = url, c->method = "POST", c->bodies = ps->bodies, c->n_bodies = ps->n;
  c->percentile = s->sla.percentile; /* windows agree on what the SLA judges */
  hdr[0] = ps->content_type, hdr[1] = ps->header;
  c->headers = hdr, c->n_headers = ps->header[0] ? 2 : 1;
  return 0;
}

static int measure_cfg(const struct tune_spec *s, int idx, struct tune_trial *t) {
  struct load_server srv;
  struct payload_set ps = {0};
  struct load_config c;
  char url[512], label[64];
  const char *hdr[2];
  tune_cfg_label(&t->cfg, label, sizeof label);
  if (s->progress) fprintf(s->progress, "tune: %s: starting the server\n", label);
  int rc = start_server(s, &t->cfg, idx, &srv);
  if (rc < 0) return rc;
  rc = aim_load(s, srv.url, &ps, &c, url, sizeof url, hdr);
  struct load_sweep sw = {&c, s->sla.percentile, s->progress};
  if (rc == 0) rc = sla_search(&s->sla, &s->range, load_sweep_measure, &sw, &t->search);
  int status = load_server_stop(&srv, 30);
  payload_set_free(&ps);
  for (int i = 0; i < t->search.n; i++)
    snprintf(t->search.points[i].label, sizeof t->search.points[i].label, "%s", label);
  if (rc == 0 && t->search.best >= 0) t->throughput = t->search.points[t->search.best].throughput;
  if (s->progress)
    fprintf(s->progress, "tune: %s: %.1f req/s within the SLA (server exit %d)\n", label,
            t->throughput, status);
  return rc;
}

/* --- the search --- */

static bool same(const struct tune_server_cfg *a, const struct tune_server_cfg *b) {
  return a->max_batch == b->max_batch && a->delay_us == b->delay_us && a->instances == b->instances;
}

static int best_of(const struct tune_result *r) {
  int best = -1;
  for (int i = 0; i < r->n; i++)
    if (r->trials[i].rc == 0 && r->trials[i].search.best >= 0 &&
        (best < 0 || r->trials[i].throughput > r->trials[best].throughput))
      best = i;
  return best;
}

/* Measure cfg unless it was tried. 0, or a fatal error (the command cannot start at all). */
static int try_cfg(const struct tune_spec *s, struct tune_result *r, struct tune_server_cfg cfg,
                   bool local) {
  for (int i = 0; i < r->n; i++)
    if (same(&r->trials[i].cfg, &cfg)) return 0;
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 16;
    struct tune_trial *nt = realloc(r->trials, (size_t)cap * sizeof *nt);
    if (!nt) return err_set(ERR_NOMEM, "tune: out of memory for %d trials", cap);
    r->trials = nt, r->cap = cap;
  }
  struct tune_trial *t = &r->trials[r->n++];
  memset(t, 0, sizeof *t);
  t->cfg = cfg, t->local = local, t->search.best = -1;
  t->rc = measure_cfg(s, r->n - 1, t);
  if (t->rc < 0) {
    snprintf(t->error, sizeof t->error, "%s", err_msg());
    if (s->progress) fprintf(s->progress, "tune: %s\n", t->error);
  }
  return t->rc == ERR_INVALID || t->rc == ERR_NOMEM ? t->rc : 0;
}

/* The neighbours of c for the local search (at most 6). */
static int neighbours(const struct tune_spec *s, const struct tune_server_cfg *c,
                      struct tune_server_cfg *out) {
  int n = 0, small = 0;
  for (int i = 0; i < s->n_delays; i++)
    if (s->delays[i] > 0 && (!small || s->delays[i] < small)) small = s->delays[i];
  if (!small) small = 100;
  struct tune_server_cfg v = *c;
  if (c->max_batch < 1024) v = *c, v.max_batch = c->max_batch * 2, out[n++] = v;
  if (c->max_batch > 1) v = *c, v.max_batch = c->max_batch / 2, out[n++] = v;
  v = *c, v.delay_us = c->delay_us ? c->delay_us * 2 : small, out[n++] = v;
  if (c->delay_us) v = *c, v.delay_us = c->delay_us / 2 >= small ? c->delay_us / 2 : 0, out[n++] = v;
  if (c->instances < 64) v = *c, v.instances = c->instances + 1, out[n++] = v;
  if (c->instances > 1) v = *c, v.instances = c->instances - 1, out[n++] = v;
  return n;
}

static int grid(const struct tune_spec *s, struct tune_result *r) {
  for (int b = 0; b < s->n_batches; b++)
    for (int d = 0; d < s->n_delays; d++)
      for (int i = 0; i < s->n_instances; i++) {
        struct tune_server_cfg c = {s->batches[b], s->delays[d], s->instances[i]};
        int rc = try_cfg(s, r, c, false);
        if (rc < 0) return rc;
      }
  return 0;
}

int tune_run(const struct tune_spec *s, struct tune_result *r) {
  memset(r, 0, sizeof *r);
  r->best = -1;
  int rc = grid(s, r);
  for (int step = 0; rc == 0 && step < s->local_steps; step++) {
    int from = best_of(r);
    if (from < 0) break;
    struct tune_server_cfg around = r->trials[from].cfg, nb[6];
    int n = neighbours(s, &around, nb);
    for (int i = 0; i < n && rc == 0; i++) rc = try_cfg(s, r, nb[i], true);
    if (best_of(r) == from) break; /* no neighbour did better: a local optimum */
  }
  r->best = best_of(r);
  if (rc < 0) return rc;
  bool any = false;
  for (int i = 0; i < r->n; i++) any |= r->trials[i].rc == 0;
  if (!any && r->n) return err_set(r->trials[0].rc, "%s", r->trials[0].error);
  return 0;
}

/* --- output --- */

void tune_verdict(FILE *out, const struct tune_spec *s, const struct tune_result *r) {
  char sla[48], label[64];
  sla_format(&s->sla, sla, sizeof sla);
  if (r->best < 0) {
    fprintf(out, "tune: no configuration meets %s (%d tried)\n", sla, r->n);
    return;
  }
  const struct tune_trial *t = &r->trials[r->best];
  const struct load_point *p = &t->search.points[t->search.best];
  tune_cfg_label(&t->cfg, label, sizeof label);
  fprintf(out, "best: %s: %.1f req/s at %s (%s %g, p%g %.3f ms; %d configurations tried)\n", label,
          t->throughput, sla, s->load.mode == LOAD_OPEN ? "rate" : "concurrency", p->load,
          s->sla.percentile, p->sla_ns / 1e6, r->n);
}

static const struct load_point *best_point(const struct tune_trial *t) {
  return t->rc == 0 && t->search.best >= 0 ? &t->search.points[t->search.best] : NULL;
}

static int trials_table(FILE *out, const struct tune_spec *s, const struct tune_result *r,
                        enum table_format fmt) {
  char pct[24];
  snprintf(pct, sizeof pct, "p%g ms", s->sla.percentile);
  const char *hdr[] = {"config", "max_batch_size", "max_queue_delay_us", "instances", "found by",
                       s->load.mode == LOAD_OPEN ? "rate" : "concurrency", "req/s", pct,
                       "points", "result"};
  struct table *t = table_new(10, hdr);
  if (!t) return err_set(ERR_NOMEM, "tune: out of memory");
  for (int i = 0; i < r->n; i++) {
    const struct tune_trial *tr = &r->trials[i];
    const struct load_point *p = best_point(tr);
    char label[64];
    tune_cfg_label(&tr->cfg, label, sizeof label);
    table_add_rowf(t, "%s|%d|%d|%d|%s|%g|%.1f|%.3f|%d|%s", label, tr->cfg.max_batch,
                   tr->cfg.delay_us, tr->cfg.instances, tr->local ? "local" : "grid",
                   p ? p->load : 0, tr->throughput, p ? p->sla_ns / 1e6 : 0, tr->search.n,
                   i == r->best ? "best" : tr->rc ? tr->error : p ? "meets" : "misses");
  }
  int rc = table_write(t, out, fmt);
  table_free(t);
  return rc;
}

static int write_json(FILE *out, const struct tune_spec *s, const struct tune_result *r) {
  char sla[48];
  sla_format(&s->sla, sla, sizeof sla);
  json_t *o = json_object(), *ts = json_array();
  json_object_set_new(o, "model_dir", json_string(s->model_dir));
  json_object_set_new(o, "sla", json_string(sla));
  json_object_set_new(o, "mode", json_string(s->load.mode == LOAD_OPEN ? "open" : "closed"));
  json_object_set_new(o, "best", r->best >= 0 ? json_integer(r->best) : json_null());
  for (int i = 0; i < r->n; i++) {
    const struct tune_trial *tr = &r->trials[i];
    const struct load_point *p = best_point(tr);
    json_t *j = json_pack("{si si si sb}", "max_batch_size", tr->cfg.max_batch,
                          "max_queue_delay_us", tr->cfg.delay_us, "instances", tr->cfg.instances,
                          "local_search", tr->local);
    json_object_set_new(j, "best_load", p ? json_real(p->load) : json_null());
    json_object_set_new(j, "throughput_rps", json_real(tr->throughput));
    json_object_set_new(j, "error", tr->rc ? json_string(tr->error) : json_null());
    json_object_set_new(j, "points",
                        load_points_json(tr->search.points, tr->search.n, s->load.mode, true));
    json_array_append_new(ts, j);
  }
  json_object_set_new(o, "trials", ts);
  int rc = jsonio_write(out, o);
  json_decref(o);
  return rc;
}

int tune_write(FILE *out, const struct tune_spec *s, const struct tune_result *r,
               enum table_format fmt) {
  if (fmt == TABLE_FMT_JSON) return write_json(out, s, r);
  if (fmt == TABLE_FMT_CSV) return trials_table(out, s, r, fmt);
  tune_verdict(out, s, r);
  int rc = trials_table(out, s, r, fmt);
  for (int i = 0; i < r->n && rc == 0; i++) {
    const struct tune_trial *tr = &r->trials[i];
    fprintf(out, "\n");
    rc = load_points_write(out, tr->search.points, tr->search.n, s->load.mode, tr->search.best,
                           true, fmt);
  }
  return rc;
}

static int by_throughput(const void *a, const void *b) {
  double x = (*(const struct tune_trial *const *)a)->throughput,
         y = (*(const struct tune_trial *const *)b)->throughput;
  return (x < y) - (x > y);
}

int tune_chart(const char *path, const struct tune_spec *s, const struct tune_result *r) {
  const struct tune_trial **order = malloc((size_t)(r->n ? r->n : 1) * sizeof *order);
  struct load_chart_series ss[10];
  char labels[10][64], title[300];
  if (!order) return err_set(ERR_NOMEM, "tune: out of memory");
  int n = 0;
  for (int i = 0; i < r->n; i++)
    if (r->trials[i].search.n) order[n++] = &r->trials[i];
  qsort(order, (size_t)n, sizeof *order, by_throughput);
  if (n > 10) n = 10;
  for (int i = 0; i < n; i++) {
    tune_cfg_label(&order[i]->cfg, labels[i], sizeof labels[i]);
    ss[i] = (struct load_chart_series){labels[i], order[i]->search.points, order[i]->search.n};
  }
  snprintf(title, sizeof title, "gpuops tune %s: p%g vs throughput per configuration", s->model_dir,
           s->sla.percentile);
  int rc = load_chart_svg_file(path, ss, n, &s->sla, title);
  free(order);
  return rc;
}
