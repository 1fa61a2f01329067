/* timeutil.h — monotonic and wall-clock time helpers. All times in nanoseconds. */
#ifndef GPUOPS_BASE_TIMEUTIL_H
#define GPUOPS_BASE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_mono_ns(void);  /* CLOCK_MONOTONIC: for intervals */
int64_t time_wall_ns(void);  /* CLOCK_REALTIME: for timestamps */
/* Format a wall time as ISO 8601 UTC ("2026-11-29T03:21:34Z") into buf; returns buf. */
char *time_iso8601(int64_t wall_ns, char *buf, size_t len);
/* Sleep for ns nanoseconds (restarts on EINTR). */
void time_sleep_ns(int64_t ns);

#endif
