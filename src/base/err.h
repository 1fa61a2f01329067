/*
 * err.h — the one error table of gpuops.
 *
 * Every library function returns 0 on success or a negative code from the
 * X-macro table below. The human message that goes with the most recent
 * failure on the calling thread is set with err_set() and read with err_msg();
 * it says what went wrong, where, and how to fix it when that is known.
 *
 * Sections: the table; codes; message functions; the exit-code mapping.
 */
#ifndef GPUOPS_BASE_ERR_H
#define GPUOPS_BASE_ERR_H

/* X(NAME, value, short description, process exit code) */
#define ERR_TABLE(X)                                                        \
  X(OK, 0, "success", 0)                                                    \
  X(ERR_INVALID, -1, "invalid argument or input", 2)                        \
  X(ERR_NOMEM, -2, "out of memory", 1)                                      \
  X(ERR_IO, -3, "input/output error", 2)                                    \
  X(ERR_PARSE, -4, "malformed input", 2)                                    \
  X(ERR_NOTFOUND, -5, "not found", 2)                                       \
  X(ERR_UNSUPPORTED, -6, "not supported", 3)                                \
  X(ERR_NOLIB, -7, "library not available", 3)                              \
  X(ERR_NODEVICE, -8, "no GPU device", 3)                                   \
  X(ERR_GPU_LOST, -9, "GPU is lost (fell off the bus)", 1)                  \
  X(ERR_DRIVER, -10, "driver call failed", 3)                               \
  X(ERR_TIMEOUT, -11, "timed out", 1)                                       \
  X(ERR_RANGE, -12, "value out of range", 2)                                \
  X(ERR_STATE, -13, "operation not valid in the current state", 1)          \
  X(ERR_EXISTS, -14, "already exists", 2)                                   \
  X(ERR_CHECK, -15, "check failed", 1)                                      \
  X(ERR_INTERNAL, -16, "internal error", 1)                                 \
  X(ERR_UNREACHABLE, -17, "server unreachable", 3)

enum err_code {
#define ERR_ENUM(name, value, desc, exit) name = value,
  ERR_TABLE(ERR_ENUM)
#undef ERR_ENUM
};

/* Symbolic name of a code ("ERR_INVALID"); "ERR_UNKNOWN" for codes not in the table. */
const char *err_name(int code);
/* One-line description of a code ("invalid argument or input"). */
const char *err_desc(int code);
/* Process exit code for a library code (0/1/2/3, DESIGN.md "Exit codes"). */
int err_exit_code(int code);

/*
 * Set the calling thread's message (printf format) and return `code`, so a
 * failure reads `return err_set(ERR_PARSE, "%s:%d: ...", file, line);`.
 */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading fleet: <old>"); returns code. */
int err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last message; never NULL (the description of the last code if none was set). */
const char *err_msg(void);
/* The code passed to the last err_set() on this thread. */
int err_last(void);
/* Forget the calling thread's message. */
void err_clear(void);

#endif
