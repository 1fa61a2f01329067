/*
 * range.c — parsing and indexing load grids "a:b[:step]" (range.h).
 */
#include "load/range.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* One number of the range; *end is where it stopped. */
static int number(const char *s, const char **end, bool integer, double max, const char *what,
                  const char *part, const char *whole, double *out) {
  char *e;
  double v = strtod(s, &e);
  if (e == s || (*e && *e != ':'))
    return err_set(ERR_INVALID, "%s '%s': %s is not a number (use a:b[:step], e.g. 100:1000:100)",
                   what, whole, part);
  if (!(v > 0) || v > max || !isfinite(v))
    return err_set(ERR_INVALID, "%s '%s': %s %g is out of range (0, %g]", what, whole, part, v,
                   max);
  if (integer && v != floor(v))
    return err_set(ERR_INVALID, "%s '%s': %s %g is not a whole number", what, whole, part, v);
  *end = e;
  *out = v;
  return 0;
}

int load_range_parse(const char *s, bool integer, double max, const char *what,
                     struct load_range *out) {
  static const char *parts[] = {"the start", "the end", "the step"};
  double v[3] = {0, 0, 1};
  const char *p = s;
  int n = 0;
  while (n < 3) {
    int rc = number(p, &p, integer, max, what, parts[n], s, &v[n]);
    if (rc < 0) return rc;
    n++;
    if (!*p) break;
    p++; /* the ':' */
  }
  if (*p)
    return err_set(ERR_INVALID, "%s '%s': more than three parts (use a:b[:step])", what, s);
  if (n == 1) v[1] = v[0];
  if (v[0] > v[1])
    return err_set(ERR_INVALID, "%s '%s': the start %g is above the end %g", what, s, v[0], v[1]);
  if ((v[1] - v[0]) / v[2] > 100000)
    return err_set(ERR_INVALID, "%s '%s': more than 100000 points; use a larger step", what, s);
  out->lo = v[0], out->hi = v[1], out->step = v[2];
  return 0;
}

int load_range_count(const struct load_range *r) {
  return (int)floor((r->hi - r->lo) / r->step + 1e-9) + 1;
}

double load_range_at(const struct load_range *r, int i) { return r->lo + i * r->step; }
