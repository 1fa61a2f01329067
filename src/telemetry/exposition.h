/*
 * exposition.h — one node's GPU telemetry as Prometheus families: the
 * dcgm-exporter families (DCGM_FI_*: same names, types, HELP text and labels,
 * so its dashboards work) and gpuops' own (gpuops_*: XIDs, health, clock
 * event reasons, recovery action). docs/telemetry.md lists every family.
 *
 * Values the driver did not give are omitted, never written as 0. With MIG on,
 * the profiling (DCGM_FI_PROF_*) families are per GPU instance, labelled
 * GPU_I_PROFILE and GPU_I_ID, as dcgm-exporter does.
 *
 * Threads: reads caller-owned data only.
 */
#ifndef GPUOPS_TELEMETRY_EXPOSITION_H
#define GPUOPS_TELEMETRY_EXPOSITION_H

#include <stdbool.h>

#include "telemetry/health.h"
#include "telemetry/promtext.h"
#include "telemetry/sampler.h"

struct exposition_input {
  const struct sampler *s;            /* the GPUs and their latest samples */
  const struct xid_history *xids;     /* s->n histories (index = GPU), or NULL */
  bool events_ok;                     /* an XID watcher runs: "no XID yet" reads as 0 */
  const struct health_report *health; /* its gpus[] in s's order, or NULL (no health families) */
  const char *hostname;               /* the Hostname label */
  bool simulated;                     /* add simulated="true" to every series */
};

/* Append every GPU family to out (no "# EOF": the caller ends with prom_finish()). */
void exposition_render(struct prom_buf *out, enum prom_format fmt,
                       const struct exposition_input *in);

/* The labels of node-level series (Hostname, and simulated when simulated) into labels. */
void exposition_node_labels(struct prom_buf *labels, const char *hostname, bool simulated);

#endif
