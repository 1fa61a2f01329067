/*
 * outputs.h — the files of a profile folder, written from one profile:
 *
 *   trace.json       Chrome trace-event / Perfetto timeline (trace.h)
 *   summary.json     the summary (summary.h); summary.txt the same for people
 *   stacks.folded    folded stacks, "frame;frame;kernel ns" (folded.h)
 *   flamegraph.svg   drawn from them
 *   findings.json    the findings (findings.h); findings.txt for people
 *   records/         the record files the profile was read from (runner.h)
 */
#ifndef GPUOPS_PROFILE_OUTPUTS_H
#define GPUOPS_PROFILE_OUTPUTS_H

#include <stdio.h>

#include "profile/profile.h"

#define OUTPUTS_TOP 15 /* kernels listed in the summary */

/*
 * Write every file above (but records/) into dir, creating it. When text is
 * not NULL, the summary and findings are also printed there. p must be
 * sorted (profile_sort). 0, or ERR_IO / ERR_NOMEM with the file named.
 */
int outputs_write(const char *dir, const struct profile *p, FILE *text);

#endif
