/*
 * harness.c — results of a run, the sampling loop, derived figures, PyTorch
 * figures and JSON (see harness.h).
 */
#include "bench/harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/timeutil.h"

#define SCHEMA "gpuops-bench/1"

/* ---- results --------------------------------------------------------------------- */

const char *bench_status_name(enum bench_status s) {
  switch (s) {
    case BENCH_OK: return "ok";
    case BENCH_FAILED: return "FAILED";
    case BENCH_UNSUPPORTED: return "unsupported";
    default: return "error";
  }
}

static int status_parse(const char *s, enum bench_status *out) {
  for (int i = BENCH_OK; i <= BENCH_ERROR; i++)
    if (s && !strcmp(s, bench_status_name((enum bench_status)i))) {
      *out = (enum bench_status)i;
      return 0;
    }
  return ERR_PARSE;
}

void bench_run_init(struct bench_run *r) { memset(r, 0, sizeof *r); }

void bench_run_free(struct bench_run *r) {
  free(r->results);
  r->results = NULL;
  r->nresults = r->cap = 0;
}

int bench_run_add(struct bench_run *r, const struct bench_result *res) {
  if (r->nresults == r->cap) {
    int cap = r->cap ? 2 * r->cap : 32;
    struct bench_result *p = realloc(r->results, (size_t)cap * sizeof *p);
    if (!p) return err_set(ERR_NOMEM, "bench: %d results", cap);
    r->results = p;
    r->cap = cap;
  }
  r->results[r->nresults++] = *res;
  return 0;
}

const struct bench_result *bench_run_find(const struct bench_run *r, const char *kernel,
                                          const char *size, const char *variant) {
  for (int i = 0; i < r->nresults; i++) {
    const struct bench_result *x = &r->results[i];
    if (!strcmp(x->kernel, kernel) && !strcmp(x->size, size) && !strcmp(x->variant, variant))
      return x;
  }
  return NULL;
}

const struct bench_ceiling *bench_run_ceiling(const struct bench_run *r, const char *name) {
  for (int i = 0; i < r->nceilings; i++)
    if (!strcmp(r->ceilings[i].name, name)) return &r->ceilings[i];
  return NULL;
}

/* ---- sampling ---------------------------------------------------------------------- */

int bench_measure(const struct bench_source *src, const struct bench_stop *stop,
                  struct bench_stats *out, char *reason, size_t reason_len) {
  int cap = stop->max_samples > 0 ? stop->max_samples : 1, rc = 0, n = 0;
  double *samples = malloc((size_t)cap * sizeof *samples);
  if (!samples) return err_set(ERR_NOMEM, "bench: %d samples", cap);
  struct bench_acc acc;
  bench_acc_init(&acc);
  int64_t t0 = time_mono_ns();
  enum bench_stop_reason why = BENCH_STOP_MORE;
  while (why == BENCH_STOP_MORE && n < cap) {
    double ms = 0;
    rc = src->sample(src->ctx, &ms);
    if (rc) goto out;
    samples[n++] = ms;
    bench_acc_add(&acc, ms);
    why = bench_stop_check(stop, n, bench_acc_noise(&acc), (double)(time_mono_ns() - t0) * 1e-9);
  }
  if (why == BENCH_STOP_MORE) why = BENCH_STOP_SAMPLES;
  rc = bench_stats_compute(samples, n, out);
  if (reason && reason_len)
    snprintf(reason, reason_len, "stopped on %s", bench_stop_reason_name(why));
out:
  free(samples);
  return rc;
}

/* ---- derived figures ------------------------------------------------------------- */

/* Median of the result numbered variant_no (0 the baseline, -1 the vendor) of the same
   kernel and size when it was timed, else 0. */
static double numbered_median(const struct bench_run *run, const struct bench_result *res,
                              int variant_no) {
  for (int i = 0; i < run->nresults; i++) {
    const struct bench_result *x = &run->results[i];
    if (x->variant_no == variant_no && !strcmp(x->kernel, res->kernel) &&
        !strcmp(x->size, res->size))
      return x->status == BENCH_OK && x->st.median > 0 ? x->st.median : 0.0;
  }
  return 0.0;
}

void bench_derive(const struct bench_run *run, const struct bench_result *res,
                  const struct bench_torch *torch, struct bench_derived *out) {
  memset(out, 0, sizeof *out);
  double ms = res->status == BENCH_OK ? res->st.median : 0.0;
  if (ms <= 0) return;
  out->gbps = res->bytes / (ms * 1e-3) * 1e-9;
  out->tflops = res->flops / (ms * 1e-3) * 1e-12;
  const struct bench_ceiling *c = res->ceiling[0] ? bench_run_ceiling(run, res->ceiling) : NULL;
  if (c && c->st.median > 0 && c->flops > 0)
    out->pct_ceiling = 100.0 * out->tflops / (c->flops / (c->st.median * 1e-3) * 1e-12);
  else if (c && c->st.median > 0)
    out->pct_ceiling = 100.0 * out->gbps / (c->bytes / (c->st.median * 1e-3) * 1e-9);
  double base = numbered_median(run, res, 0);
  if (base > 0) out->speedup = base / ms;
  double vendor = numbered_median(run, res, -1);
  if (vendor > 0) out->vs_vendor = vendor / ms;
  double t = torch ? bench_torch_median(torch, res->kernel, res->size) : 0.0;
  if (t > 0) out->vs_torch = t / ms;
}

/* ---- torch figures ------------------------------------------------------------------ */

static void copy_str(char *dst, size_t len, const json_t *v) {
  snprintf(dst, len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int bench_torch_load(const char *path, struct bench_torch *out) {
  memset(out, 0, sizeof *out);
  json_t *doc = NULL;
  int rc = jsonio_load_file(path, &doc);
  if (rc) return rc;
  const json_t *entries = json_object_get(doc, "entries");
  if (!json_is_array(entries)) {
    rc = err_set(ERR_PARSE, "%s: no \"entries\" array (expected scripts/gpu-bench's torch.json)",
                 path);
    goto out;
  }
  copy_str(out->version, sizeof out->version, json_object_get(doc, "torch"));
  copy_str(out->device, sizeof out->device, json_object_get(doc, "device"));
  size_t n = json_array_size(entries), i;
  out->e = calloc(n ? n : 1, sizeof *out->e);
  if (!out->e) {
    rc = err_set(ERR_NOMEM, "%s: %zu entries", path, n);
    goto out;
  }
  const json_t *e;
  json_array_foreach(entries, i, e) {
    const json_t *ms = json_object_get(e, "median_ms");
    if (!json_is_string(json_object_get(e, "kernel")) ||
        !json_is_string(json_object_get(e, "size")) || !json_is_number(ms) ||
        json_number_value(ms) <= 0) {
      rc = err_set(ERR_PARSE,
                   "%s: entries[%zu]: needs \"kernel\", \"size\" (strings) and \"median_ms\" > 0",
                   path, i);
      goto out;
    }
    copy_str(out->e[out->n].kernel, sizeof out->e[0].kernel, json_object_get(e, "kernel"));
    copy_str(out->e[out->n].size, sizeof out->e[0].size, json_object_get(e, "size"));
    out->e[out->n++].median_ms = json_number_value(ms);
  }
out:
  json_decref(doc);
  if (rc) bench_torch_free(out);
  return rc;
}

void bench_torch_free(struct bench_torch *t) {
  free(t->e);
  t->e = NULL;
  t->n = 0;
}

double bench_torch_median(const struct bench_torch *t, const char *kernel, const char *size) {
  for (int i = 0; t && i < t->n; i++)
    if (!strcmp(t->e[i].kernel, kernel) && !strcmp(t->e[i].size, size)) return t->e[i].median_ms;
  return 0.0;
}

/* ---- JSON --------------------------------------------------------------------------- */

static json_t *stats_json(const struct bench_stats *s) {
  return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "samples", s->n, "min_ms", s->min,
                   "median_ms", s->median, "p90_ms", s->p90, "mean_ms", s->mean, "stddev_ms",
                   s->stddev, "noise", s->noise);
}

/* A derived figure: a number when known, null when not. */
static json_t *fig(double v) { return jsonio_number(v > 0, v); }

static json_t *result_json(const struct bench_run *r, const struct bench_result *x,
                           const struct bench_torch *t) {
  struct bench_derived d;
  bench_derive(r, x, t, &d);
  /* max_err may be inf or NaN (a poisoned output): JSON null then. */
  json_t *o =
      json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:f, s:f, s:s, s:o, s:f}", "kernel", x->kernel,
                "size", x->size, "variant", x->variant, "variant_no", x->variant_no, "status",
                bench_status_name(x->status), "note", x->note, "stats", stats_json(&x->st), "bytes",
                x->bytes, "flops", x->flops, "ceiling", x->ceiling, "max_err",
                jsonio_number(isfinite(x->max_err), x->max_err), "tol", x->tol);
  if (!o) return NULL;
  json_object_set_new(o, "gbps", fig(d.gbps));
  json_object_set_new(o, "tflops", fig(d.tflops));
  json_object_set_new(o, "pct_ceiling", fig(d.pct_ceiling));
  json_object_set_new(o, "speedup_vs_baseline", fig(d.speedup));
  json_object_set_new(o, "ratio_vs_vendor", fig(d.vs_vendor));
  json_object_set_new(o, "ratio_vs_torch", fig(d.vs_torch));
  return o;
}

json_t *bench_run_to_json(const struct bench_run *r, const struct bench_torch *torch) {
  json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:b}", "schema", SCHEMA,
                          "mode", r->mode, "command", r->command, "commit", r->commit, "date",
                          r->date, "host", r->host, "gpu", r->gpu_name, "driver", r->driver,
                          "max_noise", r->max_noise, "hot", r->hot);
  if (!doc) return NULL;
  json_object_set_new(doc, "cuda", json_string(r->cuda));
  json_object_set_new(doc, "l2_flush", json_string(r->flush));
  json_t *clk = json_pack(
      "{s:o, s:o, s:b}", "sm_before_mhz",
      jsonio_number(r->sm_clock_before_mhz > 0, r->sm_clock_before_mhz), "sm_after_mhz",
      jsonio_number(r->sm_clock_after_mhz > 0, r->sm_clock_after_mhz), "throttled", r->throttled);
  json_object_set_new(doc, "clocks", clk);
  if (torch && torch->n) json_object_set_new(doc, "torch", json_string(torch->version));
  json_t *ceil = json_array(), *res = json_array();
  for (int i = 0; i < r->nceilings; i++) {
    const struct bench_ceiling *c = &r->ceilings[i];
    double gbps = c->st.median > 0 ? c->bytes / (c->st.median * 1e-3) * 1e-9 : 0;
    double tflops = c->st.median > 0 ? c->flops / (c->st.median * 1e-3) * 1e-12 : 0;
    json_array_append_new(ceil, json_pack("{s:s, s:f, s:f, s:o, s:o, s:o}", "name", c->name, "bytes",
                                          c->bytes, "flops", c->flops, "stats", stats_json(&c->st),
                                          "gbps", fig(gbps), "tflops", fig(tflops)));
  }
  for (int i = 0; i < r->nresults; i++)
    json_array_append_new(res, result_json(r, &r->results[i], torch));
  json_object_set_new(doc, "ceilings", ceil);
  json_object_set_new(doc, "results", res);
  return doc;
}

/* Field readers that record the first error. */
struct reader {
  const char *what;
  int rc;
};

static double num(struct reader *rd, const json_t *o, const char *key, const char *where) {
  const json_t *v = json_object_get(o, key);
  if (json_is_number(v)) return json_number_value(v);
  if (json_is_null(v) || !v) return 0.0;
  if (!rd->rc) rd->rc = err_set(ERR_PARSE, "%s: %s: \"%s\" must be a number", rd->what, where, key);
  return 0.0;
}

static void str(struct reader *rd, const json_t *o, const char *key, char *dst, size_t len,
                const char *where, bool required) {
  const json_t *v = json_object_get(o, key);
  if (json_is_string(v)) {
    snprintf(dst, len, "%s", json_string_value(v));
    return;
  }
  dst[0] = 0;
  if ((required || v) && !rd->rc)
    rd->rc = err_set(ERR_PARSE, "%s: %s: \"%s\" must be a string", rd->what, where, key);
}

static void stats_read(struct reader *rd, const json_t *o, struct bench_stats *s,
                       const char *where) {
  const json_t *st = json_object_get(o, "stats");
  if (!json_is_object(st)) {
    if (!rd->rc)
      rd->rc = err_set(ERR_PARSE, "%s: %s: \"stats\" must be an object", rd->what, where);
    return;
  }
  s->n = (int)num(rd, st, "samples", where);
  s->min = num(rd, st, "min_ms", where);
  s->median = num(rd, st, "median_ms", where);
  s->p90 = num(rd, st, "p90_ms", where);
  s->mean = num(rd, st, "mean_ms", where);
  s->stddev = num(rd, st, "stddev_ms", where);
  s->noise = num(rd, st, "noise", where);
}

static void result_read(struct reader *rd, const json_t *o, struct bench_result *x,
                        const char *where) {
  memset(x, 0, sizeof *x);
  str(rd, o, "kernel", x->kernel, sizeof x->kernel, where, true);
  str(rd, o, "size", x->size, sizeof x->size, where, true);
  str(rd, o, "variant", x->variant, sizeof x->variant, where, true);
  str(rd, o, "note", x->note, sizeof x->note, where, false);
  str(rd, o, "ceiling", x->ceiling, sizeof x->ceiling, where, false);
  char status[32];
  str(rd, o, "status", status, sizeof status, where, true);
  if (!rd->rc && status_parse(status, &x->status))
    rd->rc = err_set(ERR_PARSE, "%s: %s: unknown status \"%s\" (ok, FAILED, unsupported, error)",
                     rd->what, where, status);
  x->variant_no = (int)num(rd, o, "variant_no", where);
  x->bytes = num(rd, o, "bytes", where);
  x->flops = num(rd, o, "flops", where);
  x->max_err = num(rd, o, "max_err", where);
  x->tol = num(rd, o, "tol", where);
  stats_read(rd, o, &x->st, where);
}

int bench_run_from_json(const json_t *doc, const char *what, struct bench_run *out) {
  bench_run_init(out);
  struct reader rd = {what, 0};
  const json_t *schema = json_object_get(doc, "schema");
  if (!json_is_string(schema) || strcmp(json_string_value(schema), SCHEMA))
    return err_set(ERR_PARSE, "%s: \"schema\" is not \"%s\": not a gpuops bench file", what,
                   SCHEMA);
  str(&rd, doc, "mode", out->mode, sizeof out->mode, "top level", true);
  str(&rd, doc, "gpu", out->gpu_name, sizeof out->gpu_name, "top level", true);
  str(&rd, doc, "driver", out->driver, sizeof out->driver, "top level", false);
  str(&rd, doc, "cuda", out->cuda, sizeof out->cuda, "top level", false);
  str(&rd, doc, "command", out->command, sizeof out->command, "top level", false);
  str(&rd, doc, "commit", out->commit, sizeof out->commit, "top level", false);
  str(&rd, doc, "date", out->date, sizeof out->date, "top level", false);
  str(&rd, doc, "host", out->host, sizeof out->host, "top level", false);
  out->max_noise = num(&rd, doc, "max_noise", "top level");
  out->hot = json_is_true(json_object_get(doc, "hot"));
  str(&rd, doc, "l2_flush", out->flush, sizeof out->flush, "top level", false);
  const json_t *clk = json_object_get(doc, "clocks");
  if (json_is_object(clk)) {
    out->sm_clock_before_mhz = num(&rd, clk, "sm_before_mhz", "clocks");
    out->sm_clock_after_mhz = num(&rd, clk, "sm_after_mhz", "clocks");
    out->throttled = json_is_true(json_object_get(clk, "throttled"));
  }
  const json_t *ceil = json_object_get(doc, "ceilings"), *res = json_object_get(doc, "results"), *e;
  if (!json_is_array(res)) return err_set(ERR_PARSE, "%s: \"results\" must be an array", what);
  size_t i;
  json_array_foreach(ceil, i, e) {
    if (out->nceilings == BENCH_MAX_CEILINGS || rd.rc) break;
    char where[32];
    snprintf(where, sizeof where, "ceilings[%zu]", i);
    struct bench_ceiling *c = &out->ceilings[out->nceilings++];
    str(&rd, e, "name", c->name, sizeof c->name, where, true);
    c->bytes = num(&rd, e, "bytes", where);
    c->flops = num(&rd, e, "flops", where); /* absent in older files: 0 */
    stats_read(&rd, e, &c->st, where);
  }
  json_array_foreach(res, i, e) {
    if (rd.rc) break;
    char where[32];
    snprintf(where, sizeof where, "results[%zu]", i);
    struct bench_result x;
    result_read(&rd, e, &x, where);
    if (!rd.rc) rd.rc = bench_run_add(out, &x);
  }
  if (rd.rc) bench_run_free(out);
  return rd.rc;
}

int bench_run_load(const char *path, struct bench_run *out) {
  json_t *doc = NULL;
  bench_run_init(out);
  int rc = jsonio_load_file(path, &doc);
  if (rc) return rc;
  rc = bench_run_from_json(doc, path, out);
  json_decref(doc);
  return rc;
}
