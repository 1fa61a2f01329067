/*
 * runner.c — running a command under the injection library (runner.h).
 * Sections: finding the libraries; the output folder; the child; sampling;
 * the run.
 */
#define _GNU_SOURCE
#include "profile/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "profile/record.h"

/* ---- finding the libraries ---- */
/* The first of dirs[]/name that exists, into buf; tried[] collects the places for the message. */
static int first_in(const char *const *dirs, int n, const char *name, char *buf, size_t len, char *tried,
                    size_t tlen) {
  for (int i = 0; i < n; i++) {
    if (!dirs[i] || !dirs[i][0]) continue;
    snprintf(buf, len, "%s/%s", dirs[i], name);
    if (access(buf, R_OK) == 0) return 0;
    size_t u = strlen(tried);
    snprintf(tried + u, tlen - u, "%s%s", u ? ", " : "", buf);
  }
  return -1;
}

static void exe_dir(char *buf, size_t len, const char *suffix) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  buf[0] = '\0';
  if (n <= 0) return;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(buf, len, "%s%s", exe, suffix);
}

int runner_find_inject(char *buf, size_t len) {
  const char *env = getenv("GPUOPS_INJECT_LIBRARY");
  if (env && *env) {
    snprintf(buf, len, "%s", env);
    if (access(buf, R_OK) == 0) return 0;
    return err_set(ERR_NOLIB, "GPUOPS_INJECT_LIBRARY=%s: %s", env, strerror(errno));
  }
  char here[PATH_MAX], lib[PATH_MAX], tried[4096] = "";
  exe_dir(here, sizeof here, "");
  exe_dir(lib, sizeof lib, "/../lib");
#ifdef GPUOPS_BUILD_DIR
  const char *build = GPUOPS_BUILD_DIR;
#else
  const char *build = NULL;
#endif
  const char *dirs[] = {here, lib, build};
  if (first_in(dirs, 3, "libgpuops_inject.so", buf, len, tried, sizeof tried) == 0) return 0;
  return err_set(ERR_NOLIB,
                 "libgpuops_inject.so not found (tried %s): build gpuops where the CUDA toolkit's CUPTI headers are "
                 "installed, or set GPUOPS_INJECT_LIBRARY",
                 tried);
}

int runner_find_cupti(const char *inject_path, char *buf, size_t len) {
  const char *env = getenv("GPUOPS_CUPTI_LIBRARY");
  if (env && *env) {
    snprintf(buf, len, "%s", env);
    return access(buf, R_OK) == 0 ? 0 : err_set(ERR_NOLIB, "GPUOPS_CUPTI_LIBRARY=%s: %s", env, strerror(errno));
  }
  char beside[PATH_MAX], h1[PATH_MAX] = "", h2[PATH_MAX] = "", tried[8192] = "";
  snprintf(beside, sizeof beside, "%s", inject_path ? inject_path : ".");
  char *slash = strrchr(beside, '/');
  if (slash) *slash = '\0';
  const char *home = getenv("CUDA_HOME");
  if (home) {
    snprintf(h1, sizeof h1, "%s/lib64", home);
    snprintf(h2, sizeof h2, "%s/extras/CUPTI/lib64", home);
  }
  const char *dirs[] = {beside, h1, h2, "/usr/local/cuda/lib64", "/usr/local/cuda/extras/CUPTI/lib64",
                        "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"};
  static const char *names[] = {"libcupti.so.13", "libcupti.so.12", "libcupti.so"};
  for (int i = 0; i < 3; i++)
    if (first_in(dirs, 7, names[i], buf, len, tried, sizeof tried) == 0) return 0;
  return err_set(ERR_NOLIB, "libcupti not found (tried %s): install the CUDA toolkit or set GPUOPS_CUPTI_LIBRARY",
                 tried);
}

/* ---- the output folder ---- */
int runner_mkdir(const char *dir) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return err_set(ERR_IO, "cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return err_set(ERR_IO, "cannot create %s: %s", buf, strerror(errno));
  return 0;
}

/* Remove the record files of an earlier run in the same folder. */
static void clear_records(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > 6 && !strcmp(e->d_name + n - 6, ".jsonl")) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  }
  closedir(d);
}

/* ---- the child ---- */
struct child_env {
  char inject[PATH_MAX], cupti[PATH_MAX], prefix[PATH_MAX], flags[32];
  bool have_cupti;
};

/* In the child: set the environment, restore signals, exec; on failure send errno up the pipe. */
static void child(const struct runner_options *o, const struct child_env *ce, int fd) {
  setenv("CUDA_INJECTION64_PATH", ce->inject, 1);
  setenv("GPUOPS_PROFILE_OUT", ce->prefix, 1);
  setenv("GPUOPS_PROFILE_FLAGS", ce->flags, 1);
  if (ce->have_cupti) {
    setenv("GPUOPS_PROFILE_CUPTI", ce->cupti, 1);
    if (o->nvtx) setenv("NVTX_INJECTION64_PATH", ce->cupti, 1);
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  execvp(o->argv[0], o->argv);
  int e = errno;
  if (write(fd, &e, sizeof e) < 0) _exit(127);
  _exit(127);
}

/* ---- sampling ---- */
static void sample_all(struct gpu_backend *b, int n, struct profile *p) {
  static const struct {
    enum gpu_metric m;
    enum prof_counter c;
  } map[] = {{GPU_M_GPU_UTIL, PROF_C_UTIL},   {GPU_M_GPM_SM_ACTIVE, PROF_C_SM_ACTIVE},
             {GPU_M_SM_CLOCK, PROF_C_SM_CLOCK}, {GPU_M_MEM_CLOCK, PROF_C_MEM_CLOCK},
             {GPU_M_POWER, PROF_C_POWER},     {GPU_M_FB_USED, PROF_C_FB_USED}};
  for (int i = 0; i < n; i++) {
    struct gpu_sample s;
    if (gpu_sample(b, i, &s) < 0 || s.lost) continue;
    struct prof_sample x = {.t = s.t_ns, .dev = i};
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
      if (gpu_values_get(&s.dev, map[k].m, &x.v[map[k].c])) x.valid |= 1u << map[k].c;
    double reasons;
    if ((x.have_reasons = gpu_values_get(&s.dev, GPU_M_CLOCK_REASONS, &reasons))) x.clock_reasons = (uint64_t)reasons;
    profile_add_sample(p, &x);
  }
}

/* Open the backend to sample; a failure is a note, never an error (the trace needs no NVML). */
static struct gpu_backend *open_sampler(const struct runner_options *o, struct profile *p, int *n) {
  struct gpu_backend *b = NULL;
  *n = 0;
  if (o->sample_ms <= 0) return NULL;
  if (gpu_open(&o->gpu, &b) < 0) {
    profile_note(p, "no NVML samples: %s", err_msg());
    return NULL;
  }
  *n = gpu_count(b);
  struct gpu_info info;
  if (*n > 0 && gpu_get_info(b, 0, &info) == 0) snprintf(p->gpu_name, sizeof p->gpu_name, "%s", info.name);
  p->simulated_samples = b->simulated;
  if (b->simulated) profile_note(p, "NVML samples are SIMULATED (--backend sim): not this machine's GPUs");
  if (*n <= 0) profile_note(p, "no NVML samples: no GPU listed");
  for (int i = 0; i < *n; i++) { /* prime GPM (its metrics are the difference of two samples) */
    struct gpu_sample s;
    gpu_sample(b, i, &s);
  }
  return b;
}

/* Reap the child, sampling every o->sample_ms meanwhile. Returns its wait status. */
static int wait_sampling(pid_t pid, const struct runner_options *o, struct profile *p) {
  int n, status = 0;
  struct gpu_backend *b = open_sampler(o, p, &n);
  int64_t period = (int64_t)o->sample_ms * 1000000, next = time_mono_ns();
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    int64_t now = time_mono_ns();
    if (b && n > 0 && now >= next) {
      sample_all(b, n, p);
      next += period;
      if (next < now) next = now + period;
    }
    time_sleep_ns(2000000); /* 2 ms: a prompt reap without a busy loop */
  }
  if (b && n > 0) sample_all(b, n, p); /* one after the end, to close the counter tracks */
  gpu_close(b);
  return status;
}

/* SIGTERM/SIGHUP to gpuops while the program runs go on to the program (a
 * `timeout` or a batch system stopping the job), and gpuops still writes what
 * was recorded. */
static volatile pid_t running_child;
static void forward_signal(int sig) {
  if (running_child > 0) kill(running_child, sig);
}

/* ---- the run ---- */
static void command_line(char *buf, size_t len, char *const *argv) {
  buf[0] = '\0';
  for (int i = 0; argv[i]; i++) {
    size_t u = strlen(buf);
    snprintf(buf + u, len - u, "%s%s", i ? " " : "", argv[i]);
  }
}

static int prepare(const struct runner_options *o, struct child_env *ce, struct profile *p, char *records,
                   size_t rlen) {
  int rc = runner_find_inject(ce->inject, sizeof ce->inject);
  if (rc) return rc;
  ce->have_cupti = runner_find_cupti(ce->inject, ce->cupti, sizeof ce->cupti) == 0;
  if (!ce->have_cupti) profile_note(p, "%s (the injection library will try the loader's path)", err_msg());
  snprintf(records, rlen, "%s/records", o->dir);
  if ((rc = runner_mkdir(records)) < 0) return rc;
  clear_records(records);
  snprintf(ce->prefix, sizeof ce->prefix, "%s/rec", records);
  snprintf(ce->flags, sizeof ce->flags, "%s%s", o->api ? "api" : o->nvtx ? "runtime" : "", o->nvtx ? ",nvtx" : "");
  return 0;
}

static void note_outcome(struct profile *p, int status) {
  if (WIFEXITED(status)) p->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    p->term_signal = WTERMSIG(status);
    p->exit_code = 128 + p->term_signal;
    profile_note(p, "the program was killed by signal %d (%s); what its processes flushed is kept", p->term_signal,
                 strsignal(p->term_signal));
  }
  if (p->n_procs == 0)
    profile_note(p, "no CUDA activity recorded: the program never initialised CUDA (not a CUDA program, or it "
                    "failed before the driver loaded the injection library)");
}

int runner_run(const struct runner_options *o, struct profile *p) {
  struct child_env ce = {0};
  char records[PATH_MAX];
  command_line(p->command, sizeof p->command, o->argv);
  int rc = prepare(o, &ce, p, records, sizeof records), fds[2];
  if (rc) return rc;
  if (pipe2(fds, O_CLOEXEC) != 0) return err_set(ERR_IO, "pipe: %s", strerror(errno));
  struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward_signal}, old_int, old_quit, old_term,
                   old_hup;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  sigaction(SIGTERM, &fwd, &old_term);
  sigaction(SIGHUP, &fwd, &old_hup);
  p->run_start = time_wall_ns();
  fflush(NULL); /* nothing buffered may reach the child */
  pid_t pid = fork();
  if (pid == 0) child(o, &ce, fds[1]);
  close(fds[1]);
  int child_errno = 0;
  ssize_t got = pid > 0 ? read(fds[0], &child_errno, sizeof child_errno) : -1;
  close(fds[0]);
  int status = 0;
  if (pid < 0) rc = err_set(ERR_IO, "fork: %s", strerror(errno));
  else if (got == (ssize_t)sizeof child_errno) {
    waitpid(pid, &status, 0);
    rc = err_set(ERR_NOTFOUND, "cannot run '%s': %s%s", o->argv[0], strerror(child_errno),
                 child_errno == ENOENT ? " (not found on PATH)" : "");
  } else {
    running_child = pid;
    status = wait_sampling(pid, o, p);
    running_child = 0;
  }
  p->run_end = time_wall_ns();
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  if (rc) return rc;
  log_info("profile: %s exited; reading %s", o->argv[0], records);
  if ((rc = record_load_dir(p, records)) < 0) return rc;
  char samples[PATH_MAX + 32];
  snprintf(samples, sizeof samples, "%s/nvml-samples.json", records);
  if (p->n_samples && record_save_samples(p, samples) < 0) profile_note(p, "%s", err_msg());
  note_outcome(p, status);
  profile_sort(p);
  return 0;
}
