/*
 * test_top.c — telemetry/top.c and `gpuops top --once`: the frame of every
 * GPU built from the simulated backend with a pinned clock
 * (GPUOPS_SIM_TIME_NS), so every value is known; injected faults show as
 * health flags with their action; the layout fits a narrow terminal; the
 * command prints the same frame, and the NVML path is checked against the
 * fake library.
 *
 * Sections: helpers; a healthy node; faults as flags; layout; MIG; the command;
 * the live view on a pseudo-terminal (draws, survives resizes down to 1x1, quits on q and Ctrl-C).
 */
#define _GNU_SOURCE /* nftw in testutil.h, asprintf */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "gpu/gpu.h"
#include "gpu/simstate.h"
#include "inventory/inventory.h"
#include "telemetry/top.h"
#include "testutil.h"

/* ---- helpers ---- */

#define T0 "1764382639000000000" /* 2025-11-29T02:17:19Z */

static char dir[256], state[512];

static void setup(void) {
  testutil_tmpdir(dir, sizeof dir, "top");
  snprintf(state, sizeof state, "%s/sim-state.json", dir);
  setenv("GPUOPS_SIM_TIME_NS", T0, 1);
  setenv("GPUOPS_SIM_STATE", state, 1);
  unsetenv("GPUOPS_SIM_NODE");
}
static void teardown(void) { testutil_rmrf(dir); }

TestSuite(top, .init = setup, .fini = teardown);

static void inject(int gpu, enum sim_fault_kind kind, int64_t value) {
  struct sim_fault f = {.gpu = gpu, .kind = kind, .value = value};
  snprintf(f.node, sizeof f.node, "sim-node-0");
  cr_assert_eq(simstate_add(state, &f), 0, "%s", err_msg());
}

static struct gpu_backend *open_sim(const struct inventory *inv, const char *node) {
  struct gpu_options o = {
      .kind = GPU_BACKEND_SIM, .inv = inv, .sim_node = node, .sim_state_path = state};
  struct gpu_backend *b = NULL;
  cr_assert_eq(gpu_open(&o, &b), 0, "%s", err_msg());
  return b;
}

/* The frame `gpuops top --once` makes: refresh, take queued XIDs, refresh, render. */
static void frame_of(struct gpu_backend *b, const char *host, int width, struct top *t,
                     struct top_frame *f) {
  cr_assert_eq(top_init(t, b, NULL, host), 0, "%s", err_msg());
  top_refresh(t);
  top_watch(t, 0);
  top_refresh(t);
  cr_assert_eq(top_render(t, width, f), 0, "%s", err_msg());
}

/* The table row of GPU i ("  3  H200  ..."): the line after the heads whose first word is i. */
static const struct top_line *row_of(const struct top_frame *f, int gpu) {
  char want[16];
  snprintf(want, sizeof want, "%d", gpu);
  for (int i = 2; i < f->n; i++) {
    const char *s = f->lines[i].text;
    while (*s == ' ') s++;
    size_t k = strlen(want);
    if (!strncmp(s, want, k) && s[k] == ' ') return &f->lines[i];
  }
  cr_assert_fail("no row for GPU %d", gpu);
  return NULL;
}

/* The k-th whitespace-separated word of a row (0: the GPU), in buf. */
static const char *word(const char *row, int k, char *buf, size_t len) {
  const char *s = row;
  for (int i = 0;; i++) {
    while (*s == ' ') s++;
    size_t n = strcspn(s, " ");
    if (i == k) {
      snprintf(buf, len, "%.*s", (int)n, s);
      return buf;
    }
    if (!s[n]) return "";
    s += n;
  }
}

static int count_lines_with(const struct top_frame *f, const char *needle) {
  int n = 0;
  for (int i = 0; i < f->n; i++) n += strstr(f->lines[i].text, needle) != NULL;
  return n;
}

static char *frame_text(const struct top_frame *f) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  cr_assert_eq(top_frame_write(f, m), 0);
  fclose(m);
  return buf;
}

/* ---- a healthy node ---- */

Test(top, healthy_node_every_gpu_with_its_values) {
  struct gpu_backend *b = open_sim(NULL, NULL), *ref = open_sim(NULL, NULL);
  struct top t;
  struct top_frame f;
  frame_of(b, "testhost", 0, &t, &f);

  const char *title = f.lines[0].text;
  cr_expect_eq(f.lines[0].level, TOP_LINE_TITLE);
  cr_expect(!strncmp(title, "gpuops top | testhost | SIMULATED | node healthy |", 50), "%s", title);
  cr_expect(strstr(title, "| backend sim |"), "%s", title);
  cr_expect(strstr(title, "2025-11-29T02:17:19Z") && strstr(title, "8 GPUs") &&
                strstr(title, "node healthy"),
            "%s", title);
  cr_expect_eq(f.lines[1].level, TOP_LINE_HEAD);
  cr_expect(strstr(f.lines[1].text, "POWER/LIMIT") && strstr(f.lines[1].text, "HEALTH"), "%s",
            f.lines[1].text);
  cr_expect_eq(f.n, 2 + 8, "title, heads, 8 GPUs and no finding; got %d lines", f.n);

  for (int i = 0; i < 8; i++) {
    const struct top_line *r = row_of(&f, i);
    cr_expect_eq(r->level, TOP_LINE_OK, "GPU %d: %s", i, r->text);
    cr_expect(strstr(r->text, "H200") && strstr(r->text, "  ok"), "GPU %d: %s", i, r->text);
    /* The same instant through another backend: the row shows its temperature and power vs the 700
     * W limit. */
    struct gpu_sample s;
    cr_assert_eq(gpu_sample(ref, i, &s), 0, "%s", err_msg());
    double temp, w, clk;
    cr_assert(gpu_values_get(&s.dev, GPU_M_GPU_TEMP, &temp) &&
              gpu_values_get(&s.dev, GPU_M_POWER, &w) &&
              gpu_values_get(&s.dev, GPU_M_SM_CLOCK, &clk));
    char want[64];
    snprintf(want, sizeof want, " %.0fC ", temp);
    cr_expect(strstr(r->text, want), "GPU %d: want '%s' in %s", i, want, r->text);
    snprintf(want, sizeof want, " %.0f/700W %.0f%%", w, 100.0 * w / 700.0);
    cr_expect(strstr(r->text, want), "GPU %d: want '%s' in %s", i, want, r->text);
    snprintf(want, sizeof want, " %.0f/3201", clk);
    cr_expect(strstr(r->text, want), "GPU %d: want '%s' in %s", i, want, r->text);
  }
  top_frame_free(&f);
  top_free(&t);
  gpu_close(ref);
  gpu_close(b);
}

Test(top, first_refresh_leaves_gpm_columns_invalid_not_zero) {
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct top t;
  struct top_frame f;
  cr_assert_eq(top_init(&t, b, NULL, "h"), 0, "%s", err_msg());
  top_refresh(&t); /* one sample: GPM (SM/tensor/DRAM active) needs two */
  cr_assert_eq(top_render(&t, 0, &f), 0);
  char w[32];
  for (int i = 0; i < 8; i++) { /* words: GPU NAME UTIL SM TENSOR DRAM ... */
    const char *r = row_of(&f, i)->text;
    cr_expect_str_neq(word(r, 2, w, sizeof w), "-", "UTIL is valid at once: %s", r);
    for (int k = 3; k <= 5; k++)
      cr_expect_str_eq(word(r, k, w, sizeof w), "-", "SM/TENSOR/DRAM should be '-': %s", r);
  }
  top_frame_free(&f);
  top_refresh(&t);
  cr_assert_eq(top_render(&t, 0, &f), 0);
  for (int i = 0; i < 8; i++) {
    const char *r = row_of(&f, i)->text;
    for (int k = 3; k <= 5; k++)
      cr_expect(strchr(word(r, k, w, sizeof w), '%'), "GPM valid after the second sample: %s", r);
  }
  top_frame_free(&f);
  top_free(&t);
  gpu_close(b);
}

/* ---- faults as flags ---- */

Test(top, injected_faults_show_as_flags_with_their_action) {
  inject(2, SIM_FAULT_THERMAL, 0);
  inject(3, SIM_FAULT_ECC_UNCORRECTABLE, 2);
  inject(5, SIM_FAULT_FALLEN_OFF_BUS, 79);
  inject(6, SIM_FAULT_ROW_REMAP_FAILURE, 0);
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct top t;
  struct top_frame f;
  frame_of(b, "h", 0, &t, &f);

  cr_expect(strstr(f.lines[0].text, "node failed, action "), "%s", f.lines[0].text);
  const struct top_line *r2 = row_of(&f, 2), *r3 = row_of(&f, 3), *r5 = row_of(&f, 5),
                        *r6 = row_of(&f, 6);
  /* thermal: the clock-event reasons and the thermal check */
  cr_expect(strstr(r2->text, "hw_slowdown,sw_thermal,hw_thermal"), "%s", r2->text);
  cr_expect(strstr(r2->text, " 95C "), "%s", r2->text);
  cr_expect(strstr(r2->text, "thermal") && r2->level >= TOP_LINE_WARN, "%s", r2->text);
  /* uncorrectable ECC: FAIL, reset the GPU */
  cr_expect_eq(r3->level, TOP_LINE_FAIL, "%s", r3->text);
  cr_expect(strstr(r3->text, "FAIL ") && strstr(r3->text, "ecc_uncorrectable") &&
                strstr(r3->text, "reset_gpu"),
            "%s", r3->text);
  /* lost: no values (not zeros), FAIL gpu_lost */
  cr_expect_eq(r5->level, TOP_LINE_FAIL, "%s", r5->text);
  cr_expect(strstr(r5->text, "gpu_lost") && !strstr(r5->text, "%") && !strstr(r5->text, "C "), "%s",
            r5->text);
  /* row-remap failure: drain for repair */
  cr_expect(strstr(r6->text, "row_remap") && strstr(r6->text, "drain_and_repair"), "%s", r6->text);
  /* healthy neighbours stay healthy */
  cr_expect(strstr(row_of(&f, 0)->text, "  ok"), "%s", row_of(&f, 0)->text);
  cr_expect_eq(row_of(&f, 7)->level, TOP_LINE_OK);
  /* one finding line per failing check, naming GPU, status, check and action */
  cr_expect_eq(count_lines_with(&f, "GPU 3 fail ecc_uncorrectable"), 1);
  cr_expect_eq(count_lines_with(&f, "GPU 5 fail gpu_lost"), 1);
  cr_expect_eq(count_lines_with(&f, "GPU 6 fail row_remap"), 1);
  cr_expect_eq(count_lines_with(&f, "GPU 0 "), 0);
  top_frame_free(&f);
  top_free(&t);
  gpu_close(b);
}

Test(top, xid_flag_and_driver_recovery_action_first) {
  inject(1, SIM_FAULT_XID, 13);
  inject(4, SIM_FAULT_XID, 13);
  inject(4, SIM_FAULT_RECOVERY_ACTION, GPU_RECOVERY_NODE_REBOOT);
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct top t;
  struct top_frame f;
  frame_of(b, "h", 0, &t, &f);
  const struct top_line *r1 = row_of(&f, 1), *r4 = row_of(&f, 4);
  cr_expect(strstr(r1->text, "xid:13") && r1->level >= TOP_LINE_WARN, "%s", r1->text);
  cr_expect(!strstr(r1->text, "reboot_node"), "%s", r1->text);
  cr_expect(strstr(r4->text, "recovery_action") && strstr(r4->text, "reboot_node"), "%s", r4->text);
  cr_expect(strstr(f.lines[0].text, "action reboot_node"), "%s", f.lines[0].text);
  top_frame_free(&f);
  top_free(&t);
  gpu_close(b);
}

Test(top, xid_event_after_start_is_watched) {
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct top t;
  cr_assert_eq(top_init(&t, b, NULL, "h"), 0, "%s", err_msg());
  top_refresh(&t);
  cr_expect_eq(top_watch(&t, 0), 0);
  inject(7, SIM_FAULT_XID, 31);
  cr_expect_eq(top_watch(&t, 2000), 1, "the injected XID arrives as one event");
  cr_expect(t.watching);
  const struct xid_seen *s = xid_history_find(&t.xids[7], 31);
  cr_assert_not_null(s);
  cr_expect_eq(s->count, 1);
  top_free(&t);
  gpu_close(b);
}

/* ---- layout ---- */

Test(top, narrow_terminal_drops_columns_then_cuts) {
  inject(3, SIM_FAULT_ECC_UNCORRECTABLE, 1);
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct top t;
  struct top_frame wide, narrow, tiny;
  frame_of(b, "h", 0, &t, &wide);
  cr_assert_eq(top_render(&t, 80, &narrow), 0);
  cr_assert_eq(top_render(&t, 12, &tiny), 0);
  cr_expect(strstr(wide.lines[1].text, "TENSOR") && strlen(wide.lines[1].text) > 80, "%s",
            wide.lines[1].text);
  cr_expect_eq(narrow.n, wide.n);
  for (int i = 0; i < narrow.n; i++)
    cr_expect_leq(strlen(narrow.lines[i].text), 80, "%s", narrow.lines[i].text);
  for (int i = 0; i < tiny.n; i++)
    cr_expect_leq(strlen(tiny.lines[i].text), 12, "%s", tiny.lines[i].text);
  const char *head = narrow.lines[1].text;
  cr_expect(
      strstr(head, "GPU") && strstr(head, "UTIL") && strstr(head, "HEALTH") && strstr(head, "TEMP"),
      "%s", head);
  cr_expect(!strstr(head, "TENSOR") && !strstr(head, "HBM"), "least important columns go first: %s",
            head);
  cr_expect(strstr(row_of(&narrow, 3)->text, "FAIL"), "%s", row_of(&narrow, 3)->text);
  cr_expect(strstr(narrow.lines[0].text, "SIMULATED | node failed, action reset_gpu"),
            "the verdict survives the cut: %s", narrow.lines[0].text);
  top_frame_free(&wide);
  top_frame_free(&narrow);
  top_frame_free(&tiny);
  top_free(&t);
  gpu_close(b);
}

/* ---- MIG ---- */

Test(top, mig_instances_get_rows_and_the_frame_is_reproducible) {
  char spec[512];
  snprintf(spec, sizeof spec, "%s/fleet-mixed.yaml", getenv("GPUOPS_FIXTURES"));
  struct inventory inv;
  inventory_init(&inv);
  cr_assert_eq(inventory_load_yaml(&inv, spec), 0, "%s", err_msg());
  struct gpu_backend *b1 = open_sim(&inv, "h200-0"), *b2 = open_sim(&inv, "h200-0");
  struct top t1, t2;
  struct top_frame f1, f2;
  frame_of(b1, "h", 0, &t1, &f1);
  frame_of(b2, "h", 0, &t2, &f2);
  char *a = frame_text(&f1), *c = frame_text(&f2);
  cr_expect_str_eq(a, c, "same pinned clock, same frame");
  cr_expect_eq(count_lines_with(&f1, "0/gi"), 3, "GPU 0 runs 3 MIG instances:\n%s", a);
  cr_expect_eq(count_lines_with(&f1, "3g.71gb"), 1, "%s", a);
  cr_expect_eq(count_lines_with(&f1, "1g.18gb"), 1, "%s", a);
  /* NVML gives no utilisation in MIG mode: '-', not 0 % */
  char w[32];
  const char *r0 = row_of(&f1, 0)->text, *r1 = row_of(&f1, 1)->text;
  cr_expect_str_eq(word(r0, 2, w, sizeof w), "-", "UTIL of a MIG GPU should be '-': %s", r0);
  cr_expect(strchr(word(r0, 3, w, sizeof w), '%'), "whole-GPU SM active is still given: %s", r0);
  cr_expect(strchr(word(r1, 2, w, sizeof w), '%'), "GPU 1 runs without MIG: %s", r1);
  free(a);
  free(c);
  top_frame_free(&f1);
  top_frame_free(&f2);
  top_free(&t1);
  top_free(&t2);
  gpu_close(b1);
  gpu_close(b2);
  inventory_free(&inv);
}

/* ---- the command ---- */

struct run {
  int status;
  char *out, *err;
};

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  char *buf = NULL;
  size_t cap = 0, len = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) buf = realloc(buf, cap = 2 * cap + 8192);
    size_t got = fread(buf + len, 1, 4096, f);
    len += got;
    if (got == 0) break;
  }
  buf[len] = '\0';
  fclose(f);
  return buf;
}

/* `env ENV gpuops ARGS </dev/null`, stdout and stderr captured. */
static struct run run(const char *env, const char *args) {
  char cmd[4096], outp[300], errp[300];
  snprintf(outp, sizeof outp, "%s/stdout", dir);
  snprintf(errp, sizeof errp, "%s/stderr", dir);
  snprintf(cmd, sizeof cmd,
           "env GPUOPS_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 %s %s %s </dev/null >%s 2>%s",
           env, getenv("GPUOPS_BIN"), args, outp, errp);
  int st = system(cmd);
  return (struct run){WIFEXITED(st) ? WEXITSTATUS(st) : 128, slurp(outp), slurp(errp)};
}

static void run_free(struct run *r) {
  free(r->out);
  free(r->err);
}

Test(top, once_prints_the_library_frame) {
  inject(3, SIM_FAULT_ECC_UNCORRECTABLE, 1);
  struct run r = run("", "top --once --backend sim --interval 0.1");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  struct gpu_backend *b = open_sim(NULL, NULL);
  struct top t;
  struct top_frame f;
  frame_of(b, NULL, 0, &t, &f);
  char *want = frame_text(&f);
  cr_expect_str_eq(r.out, want);
  cr_expect(strstr(r.out, "GPU 3 fail ecc_uncorrectable"), "%s", r.out);
  free(want);
  top_frame_free(&f);
  top_free(&t);
  gpu_close(b);
  run_free(&r);
}

Test(top, once_with_width_and_output_file) {
  char args[512], path[300];
  snprintf(path, sizeof path, "%s/frame.txt", dir);
  snprintf(args, sizeof args, "top --once --backend sim --interval 0.1 --width 60 -o %s", path);
  struct run r = run("", args);
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_expect_str_eq(r.out, "");
  char *text = slurp(path);
  int lines = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++)
    cr_expect_leq(strlen(line), 60, "%s", line);
  cr_expect_eq(lines, 10);
  free(text);
  run_free(&r);
}

Test(top, nvml_through_the_fake_library) {
  char env[1024];
  snprintf(env, sizeof env, "GPUOPS_NVML_LIBRARY=%s GPUOPS_FAKE_NVML_FIXTURE=%s/nvml-h200.json",
           getenv("GPUOPS_FAKE_NVML"), getenv("GPUOPS_FIXTURES"));
  struct run r = run(env, "top --once --backend nvml --interval 0.1");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_expect(strstr(r.out, "| backend nvml |") && strstr(r.out, "2 GPUs"), "%s", r.out);
  cr_expect(!strstr(r.out, "SIMULATED"), "%s", r.out);
  cr_expect(strstr(r.out, " 612/700W 87%") && strstr(r.out, " 52C ") && strstr(r.out, "1755/3201"),
            "%s", r.out);
  cr_expect(strstr(r.out, "sw_power_cap"), "clock-event reason 4: %s", r.out);
  run_free(&r);

  snprintf(env, sizeof env, "GPUOPS_NVML_LIBRARY=%s GPUOPS_FAKE_NVML_FIXTURE=%s/nvml-lost.json",
           getenv("GPUOPS_FAKE_NVML"), getenv("GPUOPS_FIXTURES"));
  r = run(env, "top --once --backend nvml --interval 0.1");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_expect(strstr(r.out, "GPU 1 fail gpu_lost"), "%s", r.out);
  run_free(&r);
}

Test(top, usage_and_environment_errors) {
  struct run r = run("", "top --once --backend nvml");
  cr_expect_eq(r.status, 3, "no NVML: environment missing; stderr: %s", r.err);
  run_free(&r);
  r = run("", "top --once --backend sim --interval 0");
  cr_expect_eq(r.status, 2, "stderr: %s", r.err);
  cr_expect(strstr(r.err, "--interval"), "%s", r.err);
  run_free(&r);
  r = run("", "top --onec");
  cr_expect_eq(r.status, 2);
  cr_expect(strstr(r.err, "--once"), "a hint: %s", r.err);
  run_free(&r);
  r = run("", "top --backend sim"); /* the live view without a terminal */
  cr_expect_eq(r.status, 2, "stderr: %s", r.err);
  cr_expect(strstr(r.err, "--once"), "%s", r.err);
  run_free(&r);
  r = run("", "top --once --backend sim --thresholds /nonexistent/thresholds.yaml");
  cr_expect_eq(r.status, 2, "stderr: %s", r.err);
  run_free(&r);
}

/* ---- the live view on a pseudo-terminal ---- */

struct live {
  pid_t pid;
  int fd;     /* the terminal's master side */
  char *seen; /* everything the view wrote */
  size_t len, cap;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read what the view writes for up to seconds, or until needle has been seen (NULL: the whole
 * time). */
static bool live_read(struct live *l, double seconds, const char *needle) {
  double end = now_s() + seconds;
  while (now_s() < end) {
    if (needle && l->seen && strstr(l->seen, needle)) return true;
    struct pollfd p = {.fd = l->fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) continue;
    if (l->len + 4096 + 1 > l->cap) l->seen = realloc(l->seen, l->cap = 2 * l->cap + 65536);
    ssize_t n = read(l->fd, l->seen + l->len, 4096);
    if (n <= 0) break; /* the view exited */
    l->len += (size_t)n;
    l->seen[l->len] = '\0';
  }
  return needle && l->seen && strstr(l->seen, needle);
}

static void live_resize(struct live *l, unsigned short rows, unsigned short cols) {
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  cr_assert_eq(ioctl(l->fd, TIOCSWINSZ, &ws), 0); /* the kernel sends SIGWINCH to the view */
}

static void live_start(struct live *l) {
  memset(l, 0, sizeof *l);
  struct winsize ws = {.ws_row = 30, .ws_col = 120};
  l->pid = forkpty(&l->fd, NULL, NULL, &ws);
  cr_assert_geq(l->pid, 0, "forkpty");
  if (l->pid == 0) {
    setenv("TERM", "xterm", 1);
    execl(getenv("GPUOPS_BIN"), "gpuops", "top", "--backend", "sim", "--interval", "0.2",
          (char *)NULL);
    _exit(127);
  }
  cr_assert(live_read(l, 20, "gpuops top |"), "the view draws its title; it wrote: %.500s",
            l->seen ? l->seen : "");
}

/* Wait up to 20 s for the view to exit; its exit status, or -1 when it had to be killed. */
static int live_wait(struct live *l) {
  int st = 0;
  double end = now_s() + 20;
  while (waitpid(l->pid, &st, WNOHANG) == 0) {
    live_read(l, 0.05, NULL);
    if (now_s() > end) {
      kill(l->pid, SIGKILL);
      waitpid(l->pid, &st, 0);
      return -1;
    }
  }
  close(l->fd);
  free(l->seen);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(top, live_view_survives_resizes_and_quits_on_q) {
  inject(2, SIM_FAULT_ECC_UNCORRECTABLE, 1);
  struct live l;
  live_start(&l);
  cr_expect(live_read(&l, 20, "ecc_uncorrectable"), "the fault shows in the live view");
  static const unsigned short sizes[][2] = {{8, 30}, {1, 1}, {3, 200}, {50, 20}, {40, 160}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    live_resize(&l, sizes[i][0], sizes[i][1]);
    live_read(&l, 0.5, NULL);
  }
  cr_expect_eq(write(l.fd, "jjkr", 4), 4); /* scroll down, up, refresh now */
  live_read(&l, 0.5, NULL);
  cr_expect_eq(write(l.fd, "q", 1), 1);
  cr_expect_eq(live_wait(&l), 0, "q quits cleanly");
}

Test(top, live_view_quits_on_ctrl_c) {
  struct live l;
  live_start(&l);
  cr_expect_eq(write(l.fd, "\x03", 1), 1); /* the terminal turns it into SIGINT */
  cr_expect_eq(live_wait(&l), 0, "Ctrl-C ends the view and restores the terminal");
}
