/* svg.c — minimal SVG writer (see svg.h). */
#include "base/svg.h"

#include <stdarg.h>
#include <string.h>

#include "base/err.h"

int svg_begin(struct svg *s, FILE *f, double width, double height) {
  s->f = f;
  s->width = width;
  s->height = height;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n",
          width, height, width, height);
  fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", width,
          height);
  return ferror(f) ? err_set(ERR_IO, "cannot write the SVG") : 0;
}

void svg_line(struct svg *s, double x1, double y1, double x2, double y2, const char *stroke,
              double width, const char *dash) {
  fprintf(s->f,
          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
          "stroke-width=\"%.2f\"%s%s%s/>\n",
          x1, y1, x2, y2, stroke, width, dash ? " stroke-dasharray=\"" : "", dash ? dash : "",
          dash ? "\"" : "");
}

void svg_polyline(struct svg *s, const double *x, const double *y, int n, const char *stroke,
                  double width) {
  if (n <= 0) return;
  fprintf(s->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\" points=\"", stroke,
          width);
  for (int i = 0; i < n; i++) fprintf(s->f, "%s%.2f,%.2f", i ? " " : "", x[i], y[i]);
  fprintf(s->f, "\"/>\n");
}

void svg_rect(struct svg *s, double x, double y, double w, double h, const char *fill,
              const char *stroke) {
  fprintf(
      s->f,
      "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" stroke=\"%s\"/>\n", x,
      y, w, h, fill ? fill : "none", stroke ? stroke : "none");
}

static void escaped(FILE *f, const char *t) {
  for (; *t; t++) {
    switch (*t) {
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '&': fputs("&amp;", f); break;
      case '"': fputs("&quot;", f); break;
      default: fputc(*t, f);
    }
  }
}

void svg_text(struct svg *s, double x, double y, const char *anchor, double size, double rotate,
              const char *fill, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(s->f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%.1f\" fill=\"%s\"", x,
          y, anchor, size, fill);
  if (rotate != 0) fprintf(s->f, " transform=\"rotate(%.1f %.2f %.2f)\"", rotate, x, y);
  fputc('>', s->f);
  escaped(s->f, buf);
  fputs("</text>\n", s->f);
}

void svg_group_begin(struct svg *s, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fputs("<g><title>", s->f);
  escaped(s->f, buf);
  fputs("</title>\n", s->f);
}

void svg_group_end(struct svg *s) { fputs("</g>\n", s->f); }

int svg_end(struct svg *s) {
  fputs("</svg>\n", s->f);
  return ferror(s->f) ? err_set(ERR_IO, "cannot write the SVG") : 0;
}

const char *svg_color(int i) {
  static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[(i % 10 + 10) % 10];
}
