/* timeutil.c — clock_gettime wrappers. */
#include "base/timeutil.h"

#include <errno.h>
#include <time.h>

static int64_t read_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t time_mono_ns(void) { return read_clock(CLOCK_MONOTONIC); }
int64_t time_wall_ns(void) { return read_clock(CLOCK_REALTIME); }

char *time_iso8601(int64_t wall_ns, char *buf, size_t len) {
  time_t secs = (time_t)(wall_ns / 1000000000LL);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void time_sleep_ns(int64_t ns) {
  struct timespec req = {ns / 1000000000LL, ns % 1000000000LL}, rem;
  while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}
