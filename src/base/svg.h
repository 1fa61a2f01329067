/*
 * svg.h — a few SVG drawing calls for self-contained charts (no scripts, no
 * external references), written straight to a stream. Coordinates are in
 * pixels from the top left. Text is XML-escaped.
 *
 * Usage: svg_begin, then lines, polylines, rectangles and text, then
 * svg_end, which returns ERR_IO when any write failed.
 */
#ifndef GPUOPS_BASE_SVG_H
#define GPUOPS_BASE_SVG_H

#include <stdio.h>

struct svg {
  FILE *f;
  double width, height; /* pixels */
};

/* Start a document of width x height pixels on f (caller keeps f open). 0 or ERR_IO. */
int svg_begin(struct svg *s, FILE *f, double width, double height);
/* A line; stroke is a CSS colour ("#1f77b4"); dash NULL for solid, else "4 3". */
void svg_line(struct svg *s, double x1, double y1, double x2, double y2, const char *stroke,
              double width, const char *dash);
/* An open polyline through n points. */
void svg_polyline(struct svg *s, const double *x, const double *y, int n, const char *stroke,
                  double width);
/* A rectangle; fill or stroke may be NULL ("none"). */
void svg_rect(struct svg *s, double x, double y, double w, double h, const char *fill,
              const char *stroke);
/* Text at (x, y); anchor "start" | "middle" | "end"; rotate in degrees (0 none). */
void svg_text(struct svg *s, double x, double y, const char *anchor, double size, double rotate,
              const char *fill, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* A group whose <title> (printf format) is the hover text of what is drawn
 * until svg_group_end. */
void svg_group_begin(struct svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void svg_group_end(struct svg *s);
/* Close the document. 0, or ERR_IO when a write failed. */
int svg_end(struct svg *s);

/* The i-th colour of a palette that stays distinct for 10 series. */
const char *svg_color(int i);

#endif
