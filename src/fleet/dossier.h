/*
 * dossier.h — the fleet capability's quick entry point for `gpuops dossier`:
 * a synthetic fleet and workload (no downloaded trace), the paper's
 * experiment at a small scale for a few policies, and the contention
 * scenarios, as one report section (report/report.h).
 */
#ifndef GPUOPS_FLEET_DOSSIER_H
#define GPUOPS_FLEET_DOSSIER_H

#include <jansson.h>

/*
 * Build the "fleet" section: a table of unallocated GPUs at 100% and 130%
 * arrival per policy (random, best-fit, fgd, fgd-cpu on 300 nodes of the
 * Alibaba node mix, two seeds), and a table of the scenarios with their
 * verdicts. Status "ok" when every scenario passed, "warn" otherwise, "fail"
 * when the simulation could not run. Takes well under a second. Returns a
 * new reference (never NULL unless out of memory).
 */
json_t *fleet_dossier_section(void);

#endif
