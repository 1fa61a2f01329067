/*
 * trace.h — a profiled run as a Chrome trace-event / Perfetto JSON timeline
 * (ui.perfetto.dev and chrome://tracing open it), and a checker of that
 * format used by the tests.
 *
 * Layout: one trace process per GPU ("GPU 0 (NVIDIA H200)", pid
 * TRACE_GPU_PID + NVML/CUDA index) with a track per stream (kernels, copies,
 * memsets as complete "X" events) and the NVML counters as counter tracks
 * ("C"); one trace process per profiled process (its real pid) with a track
 * per host thread: API calls ("X"), NVTX ranges ("B"/"E" where they nest on
 * their thread, "X" where start/end ranges overlap), NVTX marks and the
 * process's end ("i"), synchronisation waits; names of every process and
 * track as metadata ("M"). Times are microseconds from the run's first
 * event (ts), with durations (dur) in microseconds.
 */
#ifndef GPUOPS_PROFILE_TRACE_H
#define GPUOPS_PROFILE_TRACE_H

#include <jansson.h>
#include <stdio.h>

#include "profile/profile.h"

#define TRACE_GPU_PID 2130706432 /* 0x7F000000: above any Linux pid (at most 2^22) */

/* The trace document {"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}
 * of a sorted profile. New reference, or NULL when out of memory. */
json_t *trace_build(const struct profile *p);
/* trace_build, written compactly to out. 0, ERR_NOMEM or ERR_IO. */
int trace_write(FILE *out, const struct profile *p);

/*
 * Check doc against the trace-event format: an object with a "traceEvents"
 * array (or the bare array); each event an object with a known "ph" (X B E
 * C M i I); "name" a string (optional on E); "pid" and "tid" integers
 * ("tid" optional on C and process metadata); "ts" a number except on M;
 * X with a number "dur" >= 0; C with an "args" object of numbers; M one of
 * process_name/thread_name (args.name a string) or the sort indexes; i/I with
 * scope "s" g|p|t when given; and on each (pid, tid), in time order, every E
 * closing an open B (same name when it has one) and no B left open.
 * Returns the number of events, or ERR_PARSE with "event N: what" in err_msg().
 */
int trace_check(const json_t *doc);

#endif
