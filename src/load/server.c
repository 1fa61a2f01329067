/*
 * server.c — a server under test as a child process (server.h).
 *
 * The child writes to a log file rather than a pipe, so a server that logs
 * per request can never block on a pipe nobody reads once it is ready.
 *
 * Sections: CPU sets, waiting, the process.
 */
#include "load/server.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/timeutil.h"

/* --- CPU sets --- */

int load_cpus_parse(const char *s, cpu_set_t *set) {
  CPU_ZERO(set);
  long ncpu = sysconf(_SC_NPROCESSORS_CONF);
  const char *p = s;
  while (*p) {
    char *e;
    long a = strtol(p, &e, 10), b = a;
    if (e == p) break;
    if (*e == '-') {
      const char *q = e + 1;
      b = strtol(q, &e, 10);
      if (e == q) break;
    }
    if (a < 0 || b < a || b >= ncpu || b >= CPU_SETSIZE)
      return err_set(ERR_INVALID, "cpu list '%s': %ld-%ld is not within 0-%ld (this machine)", s,
                     a, b, ncpu - 1);
    for (long i = a; i <= b; i++) CPU_SET((int)i, set);
    p = e;
    if (*p == ',') p++;
    else if (*p) break;
  }
  if (*p || !CPU_COUNT(set))
    return err_set(ERR_INVALID, "cpu list '%s' is not like 0-3,6 (CPUs 0-%ld here)", s, ncpu - 1);
  return 0;
}

int load_cpus_pin(const cpu_set_t *set) {
  if (sched_setaffinity(0, sizeof *set, set) < 0)
    return err_set(ERR_INVALID, "cannot pin to the CPU list: %s", strerror(errno));
  return 0;
}

/* --- waiting --- */

/* The end of the log, for error messages. */
static void log_tail(const char *path, char *buf, size_t len) {
  buf[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long end = ftell(f), from = end > (long)len - 1 ? end - (long)len + 1 : 0;
  fseek(f, from, SEEK_SET);
  size_t n = fread(buf, 1, len - 1, f);
  buf[n] = 0;
  for (char *c = buf; *c; c++)
    if (*c == '\n') *c = ' ';
  fclose(f);
}

/*
 * The URL from the first ready line of the log ("... listening on http://..."
 * as the exporter prints it, or "... ready at http://..." as gpuops serve
 * does); false when not there yet.
 */
static bool find_ready_line(const char *path, char *url, size_t len) {
  static const char *marks[] = {"listening on http://", "ready at http://"};
  FILE *f = fopen(path, "r");
  char line[512];
  bool found = false;
  while (f && !found && fgets(line, sizeof line, f)) {
    char *at = NULL;
    for (int m = 0; m < 2 && !at; m++)
      if ((at = strstr(line, marks[m]))) at += strlen(marks[m]) - strlen("http://");
    if (!at) continue;
    size_t n = strcspn(at, " \t\r\n,;()");
    if (n > 0 && n < len) {
      memcpy(url, at, n);
      url[n] = 0;
      while (n > 1 && url[n - 1] == '/') url[--n] = 0;
      found = true;
    }
  }
  if (f) fclose(f);
  return found;
}

static bool health_ready(const char *base) {
  char url[256];
  snprintf(url, sizeof url, "%s/v2/health/ready", base);
  CURL *e = curl_easy_init();
  if (!e) return false;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, NULL);
  FILE *devnull = fopen("/dev/null", "w");
  curl_easy_setopt(e, CURLOPT_WRITEDATA, devnull);
  long status = 0;
  bool ok = curl_easy_perform(e) == CURLE_OK &&
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
  curl_easy_cleanup(e);
  if (devnull) fclose(devnull);
  return ok;
}

/* --- the process --- */

static void child(char *const argv[], const cpu_set_t *cpus, int log_fd, int err_fd) {
  dup2(log_fd, STDOUT_FILENO);
  dup2(log_fd, STDERR_FILENO);
  if (cpus && sched_setaffinity(0, sizeof *cpus, cpus) < 0) {
    int e = errno;
    if (write(err_fd, &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  execv(argv[0], argv);
  int e = errno;
  if (write(err_fd, &e, sizeof e) < 0) _exit(127);
  _exit(127);
}

/* Fork and exec; a pipe closed on exec tells whether exec worked. */
static int spawn(char *const argv[], const cpu_set_t *cpus, const char *log_path, pid_t *pid) {
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), p[2];
  if (log_fd < 0) return err_set(ERR_IO, "server log %s: %s", log_path, strerror(errno));
  if (pipe2(p, O_CLOEXEC) < 0) {
    close(log_fd);
    return err_set(ERR_IO, "pipe: %s", strerror(errno));
  }
  fflush(NULL);
  *pid = fork();
  if (*pid == 0) child(argv, cpus, log_fd, p[1]);
  close(log_fd);
  close(p[1]);
  int e = 0, rc = 0;
  if (*pid < 0) {
    rc = err_set(ERR_IO, "fork: %s", strerror(errno));
  } else if (read(p[0], &e, sizeof e) == (ssize_t)sizeof e) { /* exec failed */
    waitpid(*pid, NULL, 0);
    *pid = 0;
    rc = err_set(ERR_INVALID, "cannot start %s: %s (check --serve-cmd / the CPU list)", argv[0],
                 strerror(e));
  }
  close(p[0]);
  return rc;
}

int load_server_start(char *const argv[], const cpu_set_t *cpus, const char *log_path,
                      double timeout_s, struct load_server *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->log_path, sizeof s->log_path, "%s", log_path);
  int rc = spawn(argv, cpus, log_path, &s->pid);
  if (rc < 0) return rc;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int64_t deadline = time_mono_ns() + (int64_t)(timeout_s * 1e9);
  bool have_url = false;
  while (time_mono_ns() < deadline) {
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      break;
    }
    if (!have_url) have_url = find_ready_line(log_path, s->url, sizeof s->url);
    if (have_url && health_ready(s->url)) return 0;
    time_sleep_ns(20000000);
  }
  char tail[400];
  log_tail(log_path, tail, sizeof tail);
  bool exited = s->pid == 0;
  load_server_stop(s, 2);
  return err_set(ERR_UNREACHABLE, "%s %s (%s: ...%s)", argv[0],
                 exited ? "exited before it was ready"
                 : have_url ? "never answered /v2/health/ready with 200"
                            : "printed no 'listening on http://...' line",
                 log_path, tail);
}

int load_server_stop(struct load_server *s, double timeout_s) {
  if (s->pid <= 0) return 0;
  kill(s->pid, SIGTERM);
  int64_t deadline = time_mono_ns() + (int64_t)(timeout_s * 1e9);
  int status = 0;
  pid_t got = 0;
  while ((got = waitpid(s->pid, &status, WNOHANG)) == 0 && time_mono_ns() < deadline)
    time_sleep_ns(10000000);
  if (got == 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
  }
  s->pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
