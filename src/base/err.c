/* err.c — the error table's names and the thread-local message. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char msg[1024];
static _Thread_local int last_code;

const char *err_name(int code) {
  switch (code) {
#define ERR_CASE(name, value, desc, exit) \
  case value:                             \
    return #name;
    ERR_TABLE(ERR_CASE)
#undef ERR_CASE
  }
  return "ERR_UNKNOWN";
}

const char *err_desc(int code) {
  switch (code) {
#define ERR_CASE(name, value, desc, exit) \
  case value:                             \
    return desc;
    ERR_TABLE(ERR_CASE)
#undef ERR_CASE
  }
  return "unknown error";
}

int err_exit_code(int code) {
  switch (code) {
#define ERR_CASE(name, value, desc, exit) \
  case value:                             \
    return exit;
    ERR_TABLE(ERR_CASE)
#undef ERR_CASE
  }
  return 1;
}

int err_set(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  last_code = code;
  return code;
}

int err_wrap(int code, const char *fmt, ...) {
  char old[sizeof msg];
  snprintf(old, sizeof old, "%s", msg[0] ? msg : err_desc(code));
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Append ": <old message>" after the prefix, truncating at the buffer's end. */
  size_t used = k < 0 ? 0 : ((size_t)k < sizeof msg ? (size_t)k : sizeof msg - 1);
  size_t room = sizeof msg - used;
  if (room > 3) {
    memcpy(msg + used, ": ", 2);
    size_t olen = strlen(old);
    if (olen > room - 3) olen = room - 3;
    memcpy(msg + used + 2, old, olen);
    msg[used + 2 + olen] = '\0';
  }
  last_code = code;
  return code;
}

const char *err_msg(void) { return msg[0] ? msg : err_desc(last_code); }

int err_last(void) { return last_code; }

void err_clear(void) {
  msg[0] = '\0';
  last_code = 0;
}
