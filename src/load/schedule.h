/*
 * schedule.h — fixed open-loop schedules from a file of intervals: one gap
 * (the time from one request's intended send to the next) per line, in
 * microseconds, or with a unit (us, ms, s); blank lines and lines starting
 * with '#' are ignored. The load generator cycles through the gaps until its
 * duration is spent, so a recorded trace of inter-arrival times replays as
 * the arrival process.
 *
 * Threads: no shared state.
 */
#ifndef GPUOPS_LOAD_SCHEDULE_H
#define GPUOPS_LOAD_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read the gaps of path into *gaps_ns (malloc'ed, caller frees; *n of them).
 * Returns 0; ERR_IO when the file cannot be read; ERR_PARSE with
 * "path:line: ..." for a bad line (not a number, negative, unknown unit, more
 * than one hour), or when no line holds a gap, or every gap is 0.
 */
int load_schedule_read(const char *path, int64_t **gaps_ns, size_t *n);

/* Mean gap of the schedule as a rate (requests/s); 0 when empty. */
double load_schedule_rate(const int64_t *gaps_ns, size_t n);

#endif
