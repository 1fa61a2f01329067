/*
 * chart.c — allocation vs arrival, all policies on one SVG chart (see
 * chart.h). The y axis starts where the curves start to part (the lowest
 * final allocation, rounded down to 10%), so the differences show.
 *
 * Sections: axes; curves and legend; entry points.
 */
#include "fleet/chart.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/svg.h"

#define W      760.0
#define H      480.0
#define LEFT   70.0
#define RIGHT  200.0 /* room for the legend */
#define TOP    40.0
#define BOTTOM 60.0

struct frame {
  double x0, x1, y0, y1; /* data ranges, percent */
};

static double px(const struct frame *fr, double x) {
  return LEFT + (x - fr->x0) / (fr->x1 - fr->x0) * (W - LEFT - RIGHT);
}

static double py(const struct frame *fr, double y) {
  return H - BOTTOM - (y - fr->y0) / (fr->y1 - fr->y0) * (H - TOP - BOTTOM);
}

/* ---- axes ---------------------------------------------------------------- */

static void axes(struct svg *s, const struct frame *fr, const char *title) {
  svg_text(s, W / 2, 24, "middle", 15, 0, "#222", "%s", title);
  for (double x = fr->x0; x <= fr->x1 + 1e-9; x += 10) {
    svg_line(s, px(fr, x), py(fr, fr->y0), px(fr, x), py(fr, fr->y1), "#e6e6e6", 1, NULL);
    svg_text(s, px(fr, x), H - BOTTOM + 18, "middle", 11, 0, "#444", "%.0f", x);
  }
  for (double y = fr->y0; y <= fr->y1 + 1e-9; y += 10) {
    svg_line(s, px(fr, fr->x0), py(fr, y), px(fr, fr->x1), py(fr, y), "#e6e6e6", 1, NULL);
    svg_text(s, LEFT - 8, py(fr, y) + 4, "end", 11, 0, "#444", "%.0f", y);
  }
  svg_rect(s, LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM, NULL, "#888");
  svg_text(s, (LEFT + W - RIGHT) / 2, H - 18, "middle", 12, 0, "#222",
           "arrived GPU request (%% of GPU capacity)");
  svg_text(s, 20, (TOP + H - BOTTOM) / 2, "middle", 12, -90, "#222",
           "GPUs allocated (%% of capacity)");
  double top = fr->x1 < fr->y1 ? fr->x1 : fr->y1; /* the ideal: allocation = arrival */
  double lo = fr->y0 > fr->x0 ? fr->y0 : fr->x0;
  if (top > lo) svg_line(s, px(fr, lo), py(fr, lo), px(fr, top), py(fr, top), "#999", 1, "5 4");
}

/* ---- curves and legend --------------------------------------------------- */

static void curves(struct svg *s, const struct frame *fr, const struct fleet_compare *cmp) {
  double xs[2048], ys[2048];
  for (int r = 0; r < cmp->n_rows; r++) {
    const struct fleet_compare_row *row = &cmp->rows[r];
    int n = 0;
    for (int i = 0; i < cmp->n_curve && n < 2048; i++) {
      double x = 100 * i * cmp->curve_step, y = 100 * row->curve[i];
      if (y < fr->y0) continue; /* below the frame: the part where all policies agree */
      xs[n] = px(fr, x);
      ys[n] = py(fr, y);
      n++;
    }
    svg_polyline(s, xs, ys, n, svg_color(r), 2);
    double ly = TOP + 16 + 20 * r;
    svg_line(s, W - RIGHT + 14, ly - 4, W - RIGHT + 38, ly - 4, svg_color(r), 3, NULL);
    svg_text(s, W - RIGHT + 44, ly, "start", 12, 0, "#222", "%s%s%s%s", row->policy,
             row->paper ? " (" : "", row->paper ? row->paper : "", row->paper ? ")" : "");
  }
  svg_text(s, W - RIGHT + 14, TOP + 16 + 20 * cmp->n_rows + 8, "start", 10, 0, "#666",
           "mean of %d seeds; %.0f GPUs", cmp->seeds, cmp->capacity_gpus);
}

/* ---- entry points -------------------------------------------------------- */

int fleet_chart_svg(FILE *f, const struct fleet_compare *cmp, const char *title) {
  struct frame fr = {0, 100 * cmp->arrival, 0, 100};
  double low = 100;
  for (int r = 0; r < cmp->n_rows; r++)
    if (cmp->n_curve && 100 * cmp->rows[r].curve[cmp->n_curve - 1] < low)
      low = 100 * cmp->rows[r].curve[cmp->n_curve - 1];
  fr.y0 = floor((low - 5) / 10) * 10;
  if (fr.y0 < 0) fr.y0 = 0;
  fr.x0 = fr.y0;
  fr.x1 = ceil(fr.x1 / 10) * 10;
  struct svg s;
  int rc = svg_begin(&s, f, W, H);
  if (rc) return rc;
  axes(&s, &fr, title);
  curves(&s, &fr, cmp);
  return svg_end(&s);
}

int fleet_chart_svg_file(const char *path, const struct fleet_compare *cmp, const char *title) {
  FILE *f = fopen(path, "w");
  if (!f) return err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  int rc = fleet_chart_svg(f, cmp, title);
  if (fclose(f) && rc == 0) rc = err_set(ERR_IO, "cannot write '%s'", path);
  return rc;
}
