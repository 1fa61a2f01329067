/*
 * telemetry.h — the telemetry capability's quick entry point for the dossier
 * (cmd_dossier.c): the node's health verdict and each GPU's findings as a
 * report section (report/report.h).
 */
#ifndef GPUOPS_TELEMETRY_TELEMETRY_H
#define GPUOPS_TELEMETRY_TELEMETRY_H

#include <jansson.h>

#include "gpu/gpu.h"

/*
 * Run the health checks on every GPU of b (two samples 200 ms apart) and
 * return a dossier section: id "health", status ok/warn/fail (healthy,
 * degraded, failed), a GPU table, a findings table (WARN/FAIL checks with
 * their actions), and the full /health document under "health". When the
 * GPUs cannot be read the section has status "skip" and says why. New
 * reference (NULL only on OOM). Uses b from the calling thread.
 */
json_t *telemetry_dossier_section(struct gpu_backend *b);

#endif
