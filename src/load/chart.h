/*
 * chart.h — latency against throughput as a self-contained SVG (base/svg.h):
 * for one series (a sweep or an SLA search) its corrected p50 and p99 and the
 * uncorrected p99; for several (the tuner's configurations) the corrected
 * p99 of each. The SLA, when given, is a dashed horizontal line. Points are
 * drawn in order of offered load, so a search's table can be passed as it is.
 *
 * Threads: no shared state.
 */
#ifndef GPUOPS_LOAD_CHART_H
#define GPUOPS_LOAD_CHART_H

#include <stdio.h>

#include "load/point.h"
#include "load/sla.h"

struct load_chart_series {
  const char *label; /* legend text */
  const struct load_point *pts;
  int n;
};

/* Write the chart to f. sla may be NULL. 0, ERR_NOMEM or ERR_IO. */
int load_chart_svg(FILE *f, const struct load_chart_series *series, int n_series,
                   const struct sla *sla, const char *title);

/* Same, to a file path (replaced). 0, or ERR_IO with the path in the message. */
int load_chart_svg_file(const char *path, const struct load_chart_series *series, int n_series,
                        const struct sla *sla, const char *title);

#endif
