/*
 * promtext.h — writing Prometheus exposition: the text format 0.0.4 and
 * OpenMetrics 1.0, from the same calls.
 *
 * A family is named as its samples are in text 0.0.4. For OpenMetrics the
 * writer derives what the format needs: a counter named "x_total" becomes
 * family "x" of type counter (samples keep "x_total"); a counter without the
 * suffix (dcgm-exporter's DCGM_* names) is declared "unknown" so its series
 * keep their names; a gauge "x_info" becomes an info family "x". A family's
 * HELP and TYPE lines are written at its first sample, so a family without
 * samples writes nothing.
 *
 * Sections: growable buffer; labels; writer; histograms; content negotiation.
 *
 * Threads: plain data; one thread per buffer/writer/histogram at a time.
 */
#ifndef GPUOPS_TELEMETRY_PROMTEXT_H
#define GPUOPS_TELEMETRY_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- growable buffer ---- */
struct prom_buf {
  char *p; /* NUL-terminated when non-NULL */
  size_t len, cap;
  bool oom; /* an append failed: the content is truncated */
};

void prom_buf_init(struct prom_buf *b);
void prom_buf_free(struct prom_buf *b);
void prom_buf_clear(struct prom_buf *b); /* keep the memory, drop the content */
void prom_buf_put(struct prom_buf *b, const char *s, size_t n);
void prom_buf_puts(struct prom_buf *b, const char *s);
void prom_buf_printf(struct prom_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hand the content over (caller frees with free()); b is left empty. NULL when empty or after OOM.
 */
char *prom_buf_take(struct prom_buf *b, size_t *len);

/* ---- labels ---- */
/* Append name="value" (value escaped: \\ \" \n), with a comma before it when b is not empty. */
void prom_label(struct prom_buf *labels, const char *name, const char *value);
/* Format a sample value: integers exactly, others with 15 significant digits, NaN, +Inf, -Inf. */
void prom_format_value(double v, char *buf, size_t len);

/* ---- writer ---- */
enum prom_format { PROM_FMT_TEXT = 0, PROM_FMT_OPENMETRICS };
enum prom_type { PROM_GAUGE = 0, PROM_COUNTER, PROM_HISTOGRAM, PROM_UNKNOWN };

struct prom_writer {
  struct prom_buf *out; /* borrowed */
  enum prom_format fmt;
  const char *name; /* current family, as its samples are named in 0.0.4 */
  enum prom_type type;
  const char *help;
  bool header_done;
};

void prom_writer_init(struct prom_writer *w, struct prom_buf *out, enum prom_format fmt);
/* Start a family (name and help are borrowed until the next prom_family). */
void prom_family(struct prom_writer *w, const char *name, enum prom_type type, const char *help);
/*
 * One sample of the current family: name{labels,extra} value. labels and
 * extra are pre-rendered label lists (prom_label) or NULL/"".
 */
void prom_sample(struct prom_writer *w, const char *labels, const char *extra, double v);
/* The same with a suffix after the name ("_bucket", "_sum", "_count"). */
void prom_sample_suffix(struct prom_writer *w, const char *suffix, const char *labels,
                        const char *extra, double v);
/* End the exposition ("# EOF" for OpenMetrics; nothing for 0.0.4). */
void prom_finish(struct prom_writer *w);

/* ---- histograms ---- */
#define PROM_HIST_MAX 16
struct prom_histogram {
  int n;                              /* finite upper bounds */
  double le[PROM_HIST_MAX];           /* ascending */
  uint64_t bucket[PROM_HIST_MAX + 1]; /* per-bucket (not cumulative) counts; [n] is +Inf */
  double sum;
  uint64_t count;
};

/* bounds: n ascending finite upper bounds (n <= PROM_HIST_MAX). */
void prom_histogram_init(struct prom_histogram *h, const double *bounds, int n);
void prom_histogram_observe(struct prom_histogram *h, double v);
/* The whole family (cumulative buckets, _sum, _count); name without suffix. */
void prom_histogram_write(struct prom_writer *w, const char *name, const char *help,
                          const char *labels, const struct prom_histogram *h);

/* ---- content negotiation ---- */
/* OpenMetrics when Accept names application/openmetrics-text with q > 0; else text 0.0.4. */
enum prom_format prom_negotiate(const char *accept);
/* The Content-Type header value of a format. */
const char *prom_content_type(enum prom_format f);

#endif
