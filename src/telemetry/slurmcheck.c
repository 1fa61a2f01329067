/*
 * slurmcheck.c — `gpuops health --slurm`: drain and resume through scontrol
 * (slurmcheck.h).
 *
 * Sections: running commands; reading a node; the health-check policy.
 */
#define _GNU_SOURCE
#include "telemetry/slurmcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"

/* ---- running commands ---- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: stdout+stderr to the pipe, exec, or exit 127. */
static void child_exec(const char *const argv[], int wfd) {
  dup2(wfd, STDOUT_FILENO);
  dup2(wfd, STDERR_FILENO);
  close(wfd);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  execvp(argv[0], (char *const *)argv);
  _exit(127);
}

/* Read the child's output until EOF or the deadline; 0, or ERR_TIMEOUT. */
static int drain_pipe(int rfd, char *out, size_t out_len, long long deadline_ms) {
  size_t len = 0;
  char sink[512];
  for (;;) {
    long long left = deadline_ms - now_ms();
    if (left <= 0) return ERR_TIMEOUT;
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    char *dst = out && len + 1 < out_len ? out + len : sink;
    size_t room = out && len + 1 < out_len ? out_len - 1 - len : sizeof sink;
    ssize_t n = read(rfd, dst, room);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    if (dst != sink) len += (size_t)n, out[len] = '\0';
  }
}

int slurmcheck_run(const char *const argv[], char *out, size_t out_len, int timeout_ms) {
  int fds[2];
  if (out && out_len) out[0] = '\0';
  if (pipe2(fds, O_CLOEXEC) < 0) return err_set(ERR_IO, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]);
    return err_set(ERR_IO, "fork for %s: %s", argv[0], strerror(errno));
  }
  if (pid == 0) child_exec(argv, fds[1]);
  close(fds[1]);
  int rc = drain_pipe(fds[0], out, out_len, now_ms() + timeout_ms);
  close(fds[0]);
  if (rc == ERR_TIMEOUT) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (rc == ERR_TIMEOUT)
    return err_set(ERR_TIMEOUT, "%s did not finish within %d ms (killed)", argv[0], timeout_ms);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return err_set(ERR_NOTFOUND, "cannot run %s (not on PATH? install the Slurm client)", argv[0]);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- reading a node ---- */

/* Copy the value of " KEY=" (up to the next space) from line into dst; false when absent. */
static bool field(const char *line, const char *key, char *dst, size_t len) {
  char pat[64];
  snprintf(pat, sizeof pat, " %s=", key);
  const char *p = NULL;
  if (!strncmp(line, pat + 1, strlen(pat + 1)))
    p = line + strlen(pat + 1); /* the line starts with KEY= */
  else if ((p = strstr(line, pat)))
    p += strlen(pat);
  if (!p) return false;
  size_t n = strcspn(p, " \n");
  if (n >= len) n = len - 1;
  memcpy(dst, p, n);
  dst[n] = '\0';
  return true;
}

/* Reason= runs to the " [user@time]" Slurm appends (or to the line's end). */
static void reason_field(const char *line, char *dst, size_t len) {
  dst[0] = '\0';
  const char *p = strstr(line, " Reason=");
  if (!p) return;
  p += strlen(" Reason=");
  const char *end = strstr(p, " [");
  size_t n = end ? (size_t)(end - p) : strcspn(p, "\n");
  if (n >= len) n = len - 1;
  memcpy(dst, p, n);
  dst[n] = '\0';
  if (!strcmp(dst, "(null)") || !strcmp(dst, "None")) dst[0] = '\0';
}

int slurmcheck_node_parse(const char *line, struct slurmcheck_node *out) {
  memset(out, 0, sizeof *out);
  if (!field(line, "NodeName", out->name, sizeof out->name) ||
      !field(line, "State", out->state, sizeof out->state))
    return err_set(ERR_PARSE, "not a `scontrol show node -o` line (no NodeName=/State=): %.80s",
                   line);
  reason_field(line, out->reason, sizeof out->reason);
  const char *s = out->state;
  out->drain = strstr(s, "DRAIN") != NULL;
  out->down = !strncmp(s, "DOWN", 4) || strstr(s, "+DOWN") || strstr(s, "FAIL") ||
              strstr(s, "NOT_RESPONDING") || strstr(s, "INVAL");
  out->reboot = strstr(s, "REBOOT") != NULL;
  out->allocated =
      !strncmp(s, "ALLOCATED", 9) || !strncmp(s, "MIXED", 5) || !strncmp(s, "COMPLETING", 10);
  return 0;
}

int slurmcheck_node_show(const char *node, struct slurmcheck_node *out) {
  char buf[8192];
  const char *argv[] = {"scontrol", "show", "node", "-o", node, NULL};
  int rc = slurmcheck_run(argv, buf, sizeof buf, 15000);
  if (rc < 0) return rc;
  if (rc != 0)
    return err_set(ERR_NOTFOUND, "scontrol show node %s: exit %d: %.200s", node, rc, buf);
  rc = slurmcheck_node_parse(buf, out);
  return rc < 0 ? err_wrap(rc, "node %s", node) : 0;
}

int slurmcheck_node_update(const char *node, bool drain, const char *reason) {
  char name[96], state[32], why[320], buf[1024];
  snprintf(name, sizeof name, "nodename=%s", node);
  snprintf(state, sizeof state, "state=%s", drain ? "drain" : "resume");
  snprintf(why, sizeof why, "reason=%s", reason && *reason ? reason : "gpuops");
  const char *argv[] = {"scontrol", "update", name, state, drain ? why : NULL, NULL};
  int rc = slurmcheck_run(argv, buf, sizeof buf, 15000);
  if (rc < 0) return rc;
  if (rc != 0)
    return err_set(ERR_STATE, "scontrol update %s %s: exit %d: %.200s", name, state, rc, buf);
  return 0;
}

/* ---- the health-check policy ---- */

const char *slurmcheck_action_name(enum slurmcheck_action a) {
  static const char *const names[] = {"nothing", "drained", "resumed", "left_drained"};
  return (unsigned)a <= SLURMCHECK_LEFT_DRAINED ? names[a] : "?";
}

static bool unhealthy(const struct health_report *r, bool fail_on_warn) {
  return r->verdict == HEALTH_FAILED || (fail_on_warn && r->verdict == HEALTH_DEGRADED);
}

int slurmcheck_apply(const char *node, const struct health_report *r, bool fail_on_warn,
                     enum slurmcheck_action *done, char *reason_out, size_t reason_len) {
  struct slurmcheck_node sn;
  char reason[256];
  *done = SLURMCHECK_NOTHING;
  if (reason_out && reason_len) reason_out[0] = '\0';
  int rc = slurmcheck_node_show(node, &sn);
  if (rc < 0) return rc;
  bool ours = !strncmp(sn.reason, SLURMCHECK_REASON_PREFIX, strlen(SLURMCHECK_REASON_PREFIX));
  if (unhealthy(r, fail_on_warn)) {
    if (sn.drain || sn.down) {
      *done = ours ? SLURMCHECK_NOTHING : SLURMCHECK_LEFT_DRAINED;
      if (reason_out) snprintf(reason_out, reason_len, "%s", sn.reason);
      return 0;
    }
    /* Slurm keeps reasons short; the summary starts with the verdict and action. */
    snprintf(reason, sizeof reason, "%s%.200s", SLURMCHECK_REASON_PREFIX, r->summary);
    if ((rc = slurmcheck_node_update(node, true, reason)) < 0) return rc;
    *done = SLURMCHECK_DRAINED;
    if (reason_out) snprintf(reason_out, reason_len, "%s", reason);
    return 0;
  }
  if (sn.drain && ours) {
    if ((rc = slurmcheck_node_update(node, false, NULL)) < 0) return rc;
    *done = SLURMCHECK_RESUMED;
  }
  return 0;
}
