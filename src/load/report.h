/*
 * report.h — the load generator's results as a terminal table, JSON, or a CSV
 * shaped like perf_analyzer's (-f FILE), plus the warnings a run calls for
 * (generator behind schedule, windows not stable).
 *
 * Sections: output, warnings.
 */
#ifndef GPUOPS_LOAD_REPORT_H
#define GPUOPS_LOAD_REPORT_H

#include <stdio.h>

#include "base/table.h"
#include "load/loadgen.h"

/* --- output --- */

/*
 * Write r in fmt to out. Table: one row per figure (latencies in ms);
 * JSON: one object (latencies in us, windows included); CSV: a header and one
 * row with perf_analyzer's column names (latencies in us; server-side columns 0,
 * as a plain HTTP client cannot see them). Returns 0 or ERR_IO / ERR_NOMEM.
 */
int load_report_write(FILE *out, const struct load_config *c, const struct load_result *r,
                      enum table_format fmt);

/* --- warnings --- */

/* Print the run's warnings to err (one line each); returns how many. */
int load_report_warnings(FILE *err, const struct load_config *c, const struct load_result *r);

#endif
