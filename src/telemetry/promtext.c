/*
 * promtext.c — Prometheus text 0.0.4 and OpenMetrics writing (promtext.h).
 *
 * Sections: buffer; labels and values; writer; histograms; negotiation.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telemetry/promtext.h"

/* ---- buffer ---- */

void prom_buf_init(struct prom_buf *b) { memset(b, 0, sizeof *b); }

void prom_buf_free(struct prom_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void prom_buf_clear(struct prom_buf *b) {
  b->len = 0;
  b->oom = false;
  if (b->p) b->p[0] = '\0';
}

static bool reserve(struct prom_buf *b, size_t more) {
  if (b->oom) return false;
  if (b->len + more + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void prom_buf_put(struct prom_buf *b, const char *s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void prom_buf_puts(struct prom_buf *b, const char *s) { prom_buf_put(b, s, strlen(s)); }

void prom_buf_printf(struct prom_buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    prom_buf_put(b, small, (size_t)n);
    return;
  }
  if (!reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *prom_buf_take(struct prom_buf *b, size_t *len) {
  char *p = b->oom ? NULL : b->p;
  if (len) *len = p ? b->len : 0;
  if (!p) free(b->p);
  memset(b, 0, sizeof *b);
  return p;
}

/* ---- labels and values ---- */

/* Append s escaped for a label value (quote) or a HELP text (no quote escaping in 0.0.4). */
static void put_escaped(struct prom_buf *b, const char *s, bool quote) {
  const char *run = s;
  for (; *s; s++) {
    const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : quote && *s == '"' ? "\\\"" : NULL;
    if (!esc) continue;
    prom_buf_put(b, run, (size_t)(s - run));
    prom_buf_puts(b, esc);
    run = s + 1;
  }
  prom_buf_put(b, run, (size_t)(s - run));
}

void prom_label(struct prom_buf *labels, const char *name, const char *value) {
  if (labels->len) prom_buf_put(labels, ",", 1);
  prom_buf_puts(labels, name);
  prom_buf_put(labels, "=\"", 2);
  put_escaped(labels, value ? value : "", true);
  prom_buf_put(labels, "\"", 1);
}

void prom_format_value(double v, char *buf, size_t len) {
  if (isnan(v))
    snprintf(buf, len, "NaN");
  else if (isinf(v))
    snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 9007199254740992.0)
    snprintf(buf, len, "%lld", (long long)v);
  else
    snprintf(buf, len, "%.15g", v);
}

/* ---- writer ---- */

void prom_writer_init(struct prom_writer *w, struct prom_buf *out, enum prom_format fmt) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->fmt = fmt;
}

void prom_family(struct prom_writer *w, const char *name, enum prom_type type, const char *help) {
  w->name = name;
  w->type = type;
  w->help = help;
  w->header_done = false;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* The family's TYPE word and how much of its name to cut for the family name. */
static const char *type_word(const struct prom_writer *w, size_t *cut) {
  *cut = 0;
  bool om = w->fmt == PROM_FMT_OPENMETRICS;
  switch (w->type) {
    case PROM_GAUGE:
      if (om && ends_with(w->name, "_info")) return *cut = 5, "info";
      return "gauge";
    case PROM_COUNTER:
      if (!om) return "counter";
      if (ends_with(w->name, "_total")) return *cut = 6, "counter";
      return "unknown"; /* dcgm-exporter's counter names have no _total: keep them */
    case PROM_HISTOGRAM: return "histogram";
    case PROM_UNKNOWN: return om ? "unknown" : "untyped";
  }
  return "untyped";
}

static void header(struct prom_writer *w) {
  size_t cut;
  const char *type = type_word(w, &cut);
  size_t n = strlen(w->name) - cut;
  bool om = w->fmt == PROM_FMT_OPENMETRICS;
  if (w->help) {
    prom_buf_puts(w->out, "# HELP ");
    prom_buf_put(w->out, w->name, n);
    prom_buf_put(w->out, " ", 1);
    put_escaped(w->out, w->help, om);
    prom_buf_put(w->out, "\n", 1);
  }
  prom_buf_puts(w->out, "# TYPE ");
  prom_buf_put(w->out, w->name, n);
  prom_buf_printf(w->out, " %s\n", type);
  w->header_done = true;
}

void prom_sample_suffix(struct prom_writer *w, const char *suffix, const char *labels,
                        const char *extra, double v) {
  if (!w->header_done) header(w);
  char num[48];
  prom_format_value(v, num, sizeof num);
  bool l = labels && *labels, x = extra && *extra;
  prom_buf_puts(w->out, w->name);
  if (suffix) prom_buf_puts(w->out, suffix);
  if (l || x) {
    prom_buf_put(w->out, "{", 1);
    if (l) prom_buf_puts(w->out, labels);
    if (l && x) prom_buf_put(w->out, ",", 1);
    if (x) prom_buf_puts(w->out, extra);
    prom_buf_put(w->out, "}", 1);
  }
  prom_buf_put(w->out, " ", 1);
  prom_buf_puts(w->out, num);
  prom_buf_put(w->out, "\n", 1);
}

void prom_sample(struct prom_writer *w, const char *labels, const char *extra, double v) {
  prom_sample_suffix(w, NULL, labels, extra, v);
}

void prom_finish(struct prom_writer *w) {
  if (w->fmt == PROM_FMT_OPENMETRICS) prom_buf_puts(w->out, "# EOF\n");
}

/* ---- histograms ---- */

void prom_histogram_init(struct prom_histogram *h, const double *bounds, int n) {
  memset(h, 0, sizeof *h);
  h->n = n < 0 ? 0 : n > PROM_HIST_MAX ? PROM_HIST_MAX : n;
  memcpy(h->le, bounds, (size_t)h->n * sizeof *bounds);
}

void prom_histogram_observe(struct prom_histogram *h, double v) {
  int i = 0;
  while (i < h->n && v > h->le[i]) i++;
  h->bucket[i]++;
  h->sum += v;
  h->count++;
}

void prom_histogram_write(struct prom_writer *w, const char *name, const char *help,
                          const char *labels, const struct prom_histogram *h) {
  prom_family(w, name, PROM_HISTOGRAM, help);
  uint64_t cum = 0;
  char le[64];
  for (int i = 0; i <= h->n; i++) {
    cum += h->bucket[i];
    char num[48] = "+Inf";
    if (i < h->n) prom_format_value(h->le[i], num, sizeof num);
    if (i < h->n && w->fmt == PROM_FMT_OPENMETRICS && !strpbrk(num, ".eE")) strcat(num, ".0");
    snprintf(le, sizeof le, "le=\"%s\"", num);
    prom_sample_suffix(w, "_bucket", labels, le, (double)cum);
  }
  prom_sample_suffix(w, "_sum", labels, NULL, h->sum);
  prom_sample_suffix(w, "_count", labels, NULL, (double)h->count);
}

/* ---- negotiation ---- */

/* The q of one media range's parameters (params at its first ';', or NULL); 1 when absent. */
static double q_of(const char *params, const char *end) {
  for (const char *p = params; p && p < end;) {
    p++; /* the ';' */
    while (p < end && isspace((unsigned char)*p)) p++;
    if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') return strtod(p + 2, NULL);
    while (p < end && *p != ';') p++;
  }
  return 1.0;
}

static bool type_is(const char *s, size_t n, const char *want) {
  return n == strlen(want) && !strncasecmp(s, want, n);
}

enum prom_format prom_negotiate(const char *accept) {
  double q_om = 0, q_text = 0;
  for (const char *p = accept; p && *p;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    while (p < end && isspace((unsigned char)*p)) p++;
    const char *semi = p;
    while (semi < end && *semi != ';') semi++;
    const char *tend = semi;
    if (semi == end) semi = NULL;
    while (tend > p && isspace((unsigned char)tend[-1])) tend--;
    double q = q_of(semi, end);
    size_t n = (size_t)(tend - p);
    if (type_is(p, n, "application/openmetrics-text"))
      q_om = fmax(q_om, q);
    else if (type_is(p, n, "text/plain") || type_is(p, n, "text/*") || type_is(p, n, "*/*"))
      q_text = fmax(q_text, q);
    p = *end ? end + 1 : end;
  }
  return q_om > 0 && q_om >= q_text ? PROM_FMT_OPENMETRICS : PROM_FMT_TEXT;
}

const char *prom_content_type(enum prom_format f) {
  return f == PROM_FMT_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                   : "text/plain; version=0.0.4; charset=utf-8";
}
