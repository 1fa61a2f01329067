/*
 * server.h — a server under test as a separate process: start a command (the
 * tuner starts `gpuops serve MODEL_DIR --listen 127.0.0.1:0 ...`), pinned to
 * a CPU set, with its stdout and stderr going to a log file; find the
 * address it bound in its ready line ("listening on http://HOST:PORT", or
 * gpuops serve's "ready at http://HOST:PORT"); wait for
 * GET /v2/health/ready to answer 200; stop it with SIGTERM (SIGKILL when it
 * does not exit in time). The load generator runs in this process, never in
 * the server's.
 *
 * Sections: CPU sets, the process.
 * Threads: one server per struct; no shared state (fork + exec).
 */
#ifndef GPUOPS_LOAD_SERVER_H
#define GPUOPS_LOAD_SERVER_H

#define _GNU_SOURCE
#include <sched.h>
#include <stdbool.h>
#include <sys/types.h>

/* --- CPU sets --- */

/*
 * Parse a taskset-style list "0-3,6" into *set. 0 or ERR_INVALID (message
 * names the bad part and what the machine has).
 */
int load_cpus_parse(const char *s, cpu_set_t *set);
/* Pin the calling thread (and what it starts later) to set. 0 or ERR_INVALID (errno text). */
int load_cpus_pin(const cpu_set_t *set);

/* --- the process --- */

struct load_server {
  pid_t pid;          /* 0 when not running */
  char url[128];      /* "http://127.0.0.1:PORT", from the ready line */
  char log_path[256]; /* its stdout + stderr */
};

/*
 * Start argv (argv[0] a path, NULL-terminated) with stdout and stderr to
 * log_path (replaced), pinned to cpus (NULL: not pinned), and wait up to
 * timeout_s for its ready line and for /v2/health/ready to answer 200.
 * Returns 0 with s->url set; ERR_INVALID when argv[0] cannot be executed;
 * ERR_UNREACHABLE when the process exited or never became ready in time (it
 * is stopped; the message quotes the end of its log). The caller stops a
 * started server with load_server_stop.
 */
int load_server_start(char *const argv[], const cpu_set_t *cpus, const char *log_path,
                      double timeout_s, struct load_server *s);

/*
 * SIGTERM, then wait up to timeout_s for the exit (SIGKILL after that).
 * Returns the exit status (0..255), 128 + signal when it was killed by one,
 * or 0 when nothing was running. Safe to call twice.
 */
int load_server_stop(struct load_server *s, double timeout_s);

#endif
