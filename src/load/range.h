/*
 * range.h — a grid of loads "a:b[:step]" (perf_analyzer's
 * --concurrency-range / --request-rate-range form): the loads a, a+step, ...
 * up to b. Sweeps measure every point; the SLA search picks among them.
 *
 * Threads: plain data; no state.
 */
#ifndef GPUOPS_LOAD_RANGE_H
#define GPUOPS_LOAD_RANGE_H

#include <stdbool.h>

struct load_range {
  double lo, hi, step; /* loads lo, lo+step, ... <= hi; step > 0 */
};

/*
 * Parse "a:b[:step]" (step defaults to 1; "a" alone is the one point a).
 * integer: every value must be a whole number (concurrency). Values must be
 * > 0 and <= max. what names the option in messages ("--rate-range").
 * Returns 0 or ERR_INVALID with a message naming the bad part.
 */
int load_range_parse(const char *s, bool integer, double max, const char *what,
                     struct load_range *out);
/* The number of grid points (>= 1 for a parsed range). */
int load_range_count(const struct load_range *r);
/* The i-th grid point, 0 <= i < load_range_count(r). */
double load_range_at(const struct load_range *r, int i);

#endif
