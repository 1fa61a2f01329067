/*
 * folded.h — folded stacks and the flamegraph of a profiled run.
 *
 * A stack is "PROCESS;RANGE;...;KERNEL": the process (program name and pid),
 * the NVTX ranges open on the launching thread when the kernel was launched
 * (outermost first), and the kernel as the leaf; its weight is the kernel's
 * GPU time in nanoseconds. The launching thread and time come from the
 * kernel's runtime API record (same correlation id; --nvtx asks for them);
 * without one, the ranges open on any thread of the process at the kernel's
 * start are used. ';' inside a name becomes ':'.
 *
 * The flamegraph is drawn by gpuops (no script): one rectangle per frame,
 * width by GPU time, the root at the bottom, names where they fit, and a
 * <title> on each frame with its full name, time and share.
 */
#ifndef GPUOPS_PROFILE_FOLDED_H
#define GPUOPS_PROFILE_FOLDED_H

#include <jansson.h>
#include <stdio.h>

#include "profile/profile.h"

/* The stacks of a sorted profile as a JSON object: stack -> weight (ns,
 * integer). New reference, or NULL when out of memory. */
json_t *folded_stacks(const struct profile *p);
/* Write them as folded lines "stack weight\n", stacks in byte order. 0 or ERR_IO. */
int folded_write(FILE *out, const json_t *stacks);
/* Draw the flamegraph of these stacks (an empty run draws a note). 0 or ERR_IO / ERR_NOMEM. */
int folded_flamegraph(FILE *out, const json_t *stacks, const char *title);

#endif
