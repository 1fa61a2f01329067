/* log.c — leveled logging to stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level level = LOG_WARN;

void log_set_level(enum log_level l) { level = l; }
enum log_level log_get_level(void) { return level; }

void log_msg(enum log_level l, const char *fmt, ...) {
  static const char *names[] = {"debug", "info", "warning", "error"};
  if (l < level || l >= LOG_SILENT) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "gpuops: %s: %s\n", names[l], buf);
}
