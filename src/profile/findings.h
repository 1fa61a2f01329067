/*
 * findings.h — what a profiled run suggests doing, each finding tied to the
 * evidence that triggered it (the numbers, in JSON and in words) and a
 * remediation. The rules and their thresholds (docs/profile.md):
 *
 *   gpu_idle          the GPU is idle > 30% of the time inside NVTX ranges when
 *                     there are some, else of its active window (>= 1 ms)
 *   tiny_kernels      >= 100 launches under 10 µs and they are >= 50% of launches
 *   pageable_copies   >= 10 host<->device copies from or to pageable memory
 *   copy_serialised   copies take >= 10% of the busy time and < 20% of their
 *                     time overlaps a kernel (with kernels in the run)
 *   clock_drop        the SM clock while busy falls > 10% below the run's
 *                     highest reading (NVML samples; reasons named when given)
 *   dominant_kernel   one kernel has >= 50% of kernel time (and >= 1 ms)
 */
#ifndef GPUOPS_PROFILE_FINDINGS_H
#define GPUOPS_PROFILE_FINDINGS_H

#include <jansson.h>
#include <stdio.h>

#include "profile/profile.h"
#include "profile/summary.h"

#define FINDINGS_IDLE_SHARE 0.30
#define FINDINGS_IDLE_MIN_WINDOW_NS 1000000
#define FINDINGS_TINY_MIN 100
#define FINDINGS_TINY_SHARE 0.50
#define FINDINGS_PAGEABLE_MIN 10
#define FINDINGS_COPY_BUSY_SHARE 0.10
#define FINDINGS_COPY_OVERLAP_MAX 0.20
#define FINDINGS_CLOCK_DROP 0.10
#define FINDINGS_DOMINANT_SHARE 0.50
#define FINDINGS_DOMINANT_MIN_NS 1000000

/*
 * The findings of a run, as a JSON array of {"id", "severity" ("warn" |
 * "info"), "title", "evidence" (words), "data" (the numbers), "remediation"},
 * most important first; empty when nothing crossed a threshold. New reference.
 */
json_t *findings_evaluate(const struct profile *p, const struct summary *s);
/* The findings for people. 0 or ERR_IO. */
int findings_text(FILE *out, const json_t *findings);

#endif
