/*
 * chart.h — the paper's figure as an SVG: GPU allocation (% of capacity)
 * against the arrived GPU request (% of capacity), one line per policy, all
 * on one chart, with the ideal (allocation = arrival) dashed.
 */
#ifndef GPUOPS_FLEET_CHART_H
#define GPUOPS_FLEET_CHART_H

#include <stdio.h>

#include "fleet/compare.h"

/* Write the chart of cmp's mean curves to f. 0, or ERR_IO. */
int fleet_chart_svg(FILE *f, const struct fleet_compare *cmp, const char *title);

/* Same, to a file path (replaced). 0, or ERR_IO with the path in the message. */
int fleet_chart_svg_file(const char *path, const struct fleet_compare *cmp, const char *title);

#endif
