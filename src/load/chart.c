/*
 * chart.c — latency (ms) against throughput (req/s) as SVG (chart.h).
 *
 * Sections: frame and axes, curves and legend, entry points.
 */
#include "load/chart.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/svg.h"

#define W      820.0
#define H      480.0
#define LEFT   70.0
#define RIGHT  230.0 /* room for the legend */
#define TOP    40.0
#define BOTTOM 60.0

/* --- frame and axes --- */

struct frame {
  double x1, y1;     /* data maxima (both axes start at 0) */
  double xstep, ystep;
};

static double px(const struct frame *fr, double x) { return LEFT + x / fr->x1 * (W - LEFT - RIGHT); }
static double py(const struct frame *fr, double y) {
  return H - BOTTOM - (y > fr->y1 ? fr->y1 : y) / fr->y1 * (H - TOP - BOTTOM);
}

/* A round tick step (1, 2 or 5 x 10^k) giving about 5..10 ticks up to max. */
static double nice_step(double max) {
  double raw = max / 6, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void fit(struct frame *fr, const struct load_chart_series *ss, int ns, const struct sla *sla) {
  double xm = 0, ym = sla ? sla->limit_ns / 1e6 * 1.5 : 0, yall = 0;
  for (int s = 0; s < ns; s++)
    for (int i = 0; i < ss[s].n; i++) {
      const struct load_point *p = &ss[s].pts[i];
      if (p->throughput > xm) xm = p->throughput;
      if (p->pct_ns[3] / 1e6 > yall) yall = p->pct_ns[3] / 1e6;
    }
  /* with an SLA, latencies far above it (overload) are clipped, so the knee stays readable */
  fr->y1 = sla && yall > ym ? ym : yall;
  fr->x1 = xm > 0 ? xm : 1;
  if (!(fr->y1 > 0)) fr->y1 = 1;
  fr->xstep = nice_step(fr->x1), fr->ystep = nice_step(fr->y1);
  fr->x1 = ceil(fr->x1 / fr->xstep) * fr->xstep, fr->y1 = ceil(fr->y1 / fr->ystep) * fr->ystep;
}

static void axes(struct svg *s, const struct frame *fr, const char *title) {
  svg_text(s, (LEFT + W - RIGHT) / 2, 24, "middle", 15, 0, "#222", "%s", title);
  for (double x = 0; x <= fr->x1 + 1e-9; x += fr->xstep) {
    svg_line(s, px(fr, x), py(fr, 0), px(fr, x), py(fr, fr->y1), "#e6e6e6", 1, NULL);
    svg_text(s, px(fr, x), H - BOTTOM + 18, "middle", 11, 0, "#444", "%g", x);
  }
  for (double y = 0; y <= fr->y1 + 1e-9; y += fr->ystep) {
    svg_line(s, px(fr, 0), py(fr, y), px(fr, fr->x1), py(fr, y), "#e6e6e6", 1, NULL);
    svg_text(s, LEFT - 8, py(fr, y) + 4, "end", 11, 0, "#444", "%g", y);
  }
  svg_rect(s, LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM, NULL, "#888");
  svg_text(s, (LEFT + W - RIGHT) / 2, H - 18, "middle", 12, 0, "#222", "throughput (answers/s)");
  svg_text(s, 20, (TOP + H - BOTTOM) / 2, "middle", 12, -90, "#222", "latency (ms)");
}

/* --- curves and legend --- */

static int by_load(const void *a, const void *b) {
  double x = ((const struct load_point *)a)->load, y = ((const struct load_point *)b)->load;
  return (x > y) - (x < y);
}

/* One line through the points' k-th percentile (uncorrected when raw), with its legend entry. */
static void curve(struct svg *s, const struct frame *fr, const struct load_point *pts, int n, int k,
                  bool raw, const char *color, int slot, const char *label, double *xs, double *ys) {
  for (int i = 0; i < n; i++) {
    xs[i] = px(fr, pts[i].throughput);
    ys[i] = py(fr, (raw ? pts[i].uncorr_ns[k] : pts[i].pct_ns[k]) / 1e6);
    svg_rect(s, xs[i] - 2.5, ys[i] - 2.5, 5, 5, color, NULL);
  }
  svg_polyline(s, xs, ys, n, color, raw ? 1 : 2);
  double ly = TOP + 16 + 20 * slot;
  svg_line(s, W - RIGHT + 14, ly - 4, W - RIGHT + 38, ly - 4, color, 3, NULL);
  svg_text(s, W - RIGHT + 44, ly, "start", 12, 0, "#222", "%s", label);
}

static int curves(struct svg *s, const struct frame *fr, const struct load_chart_series *ss, int ns,
                  const struct sla *sla) {
  int slot = 0;
  for (int k = 0; k < ns; k++) {
    int n = ss[k].n;
    struct load_point *pts = malloc((size_t)(n ? n : 1) * sizeof *pts);
    double *xs = malloc((size_t)(n ? n : 1) * 2 * sizeof *xs);
    if (!pts || !xs) {
      free(pts), free(xs);
      return err_set(ERR_NOMEM, "chart: out of memory for %d points", n);
    }
    memcpy(pts, ss[k].pts, (size_t)n * sizeof *pts);
    qsort(pts, (size_t)n, sizeof *pts, by_load);
    char label[96];
    if (ns == 1) {
      curve(s, fr, pts, n, 0, false, svg_color(0), slot++, "p50", xs, xs + n);
      curve(s, fr, pts, n, 3, false, svg_color(1), slot++, "p99", xs, xs + n);
      curve(s, fr, pts, n, 3, true, svg_color(2), slot++, "p99 uncorrected", xs, xs + n);
    } else {
      snprintf(label, sizeof label, "%s", ss[k].label ? ss[k].label : "");
      curve(s, fr, pts, n, 3, false, svg_color(k), slot++, label, xs, xs + n);
    }
    free(pts), free(xs);
  }
  if (sla) {
    char txt[48];
    sla_format(sla, txt, sizeof txt);
    double y = py(fr, sla->limit_ns / 1e6);
    svg_line(s, LEFT, y, W - RIGHT, y, "#d62728", 1, "6 4");
    svg_text(s, W - RIGHT - 4, y - 4, "end", 11, 0, "#d62728", "SLA %s", txt);
  }
  if (ns > 1) svg_text(s, W - RIGHT + 14, TOP + 16 + 20 * slot + 8, "start", 10, 0, "#666", "corrected p99");
  return 0;
}

/* --- entry points --- */

int load_chart_svg(FILE *f, const struct load_chart_series *series, int n_series,
                   const struct sla *sla, const char *title) {
  struct frame fr;
  fit(&fr, series, n_series, sla);
  struct svg s;
  int rc = svg_begin(&s, f, W, H);
  if (rc) return rc;
  axes(&s, &fr, title);
  rc = curves(&s, &fr, series, n_series, sla);
  int end = svg_end(&s);
  return rc ? rc : end;
}

int load_chart_svg_file(const char *path, const struct load_chart_series *series, int n_series,
                        const struct sla *sla, const char *title) {
  FILE *f = fopen(path, "w");
  if (!f) return err_set(ERR_IO, "--chart %s: cannot write: %s", path, strerror(errno));
  int rc = load_chart_svg(f, series, n_series, sla, title);
  if (fclose(f) && rc == 0) rc = err_set(ERR_IO, "--chart %s: cannot write", path);
  return rc;
}
