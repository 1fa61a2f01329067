/*
 * metrics.c — Nsight Compute metrics and the roofline (metrics.h).
 * Sections: ceilings; the CSV; derived values; the roofline; running ncu.
 */
#define _GNU_SOURCE
#include "profile/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/svg.h"
#include "profile/summary.h"

static const char *const metric_names[] = {
    "gpu__time_duration.sum",
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "launch__registers_per_thread",
    "l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum",
    "l1tex__t_bytes_pipe_lsu_mem_local_op_st.sum",
    "smsp__sass_thread_inst_executed_op_fadd_pred_on.sum",
    "smsp__sass_thread_inst_executed_op_fmul_pred_on.sum",
    "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum",
    "smsp__sass_thread_inst_executed_op_hadd_pred_on.sum",
    "smsp__sass_thread_inst_executed_op_hmul_pred_on.sum",
    "smsp__sass_thread_inst_executed_op_hfma_pred_on.sum",
};
#define N_METRICS (sizeof metric_names / sizeof metric_names[0])

/* ---- ceilings ---- */
int metrics_ceilings_load(const char *path, struct metrics_ceilings *c) {
  memset(c, 0, sizeof *c);
  c->flops_per_s = METRICS_DEFAULT_FLOPS;
  snprintf(c->source, sizeof c->source, "compute roof: FP32 SGEMM 50.6 TFLOP/s (H200, DESIGN.md)");
  if (!path) return 0;
  json_t *doc = NULL;
  int rc = jsonio_load_file(path, &doc);
  if (rc) return rc;
  size_t i;
  const json_t *e;
  json_array_foreach(json_object_get(doc, "ceilings"), i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    const json_t *gbps = json_object_get(e, "gbps"), *tflops = json_object_get(e, "tflops");
    if (name && !strcmp(name, "copy") && json_is_number(gbps)) c->bytes_per_s = json_number_value(gbps) * 1e9;
    if (name && (strstr(name, "sgemm") || strstr(name, "fp32")) && json_is_number(tflops)) {
      c->flops_per_s = json_number_value(tflops) * 1e12;
      snprintf(c->source, sizeof c->source, "compute roof: %s of %s", name, path);
    }
  }
  json_decref(doc);
  if (c->bytes_per_s <= 0) return err_set(ERR_PARSE, "%s: no \"copy\" ceiling with \"gbps\" (a gpuops bench JSON?)", path);
  size_t u = strlen(c->source);
  snprintf(c->source + u, sizeof c->source - u, "; memory roof: copy %.0f GB/s of %s", c->bytes_per_s / 1e9, path);
  return 0;
}

/* ---- the CSV ----
 * ncu quotes every field and kernel names run to kilobytes, past what
 * inventory/alibaba.h's reader holds, so this is a small splitter of its own. */
#define CSV_MAX_FIELDS 1024

/* Split one line (without its newline) into fields, in place; returns the count or -1 on a bad quote. */
static int csv_split(char *line, char **fields, int cap) {
  int n = 0;
  char *p = line;
  for (;;) {
    if (n == cap) return -1;
    if (*p == '"') {
      char *w = fields[n++] = ++p;
      for (;;) {
        if (!*p) return -1;
        if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
        else if (*p == '"') break;
        else *w++ = *p++;
      }
      *w = '\0';
      p++;
    } else {
      fields[n++] = p;
      p += strcspn(p, ",");
    }
    if (*p == '\0') return n;
    if (*p != ',') return -1;
    *p++ = '\0';
  }
}

/* A number as ncu prints it ("1,234.5", "n/a" -> invalid). */
static bool csv_number(const char *s, double *out) {
  char buf[64];
  size_t n = 0;
  for (; *s && n + 1 < sizeof buf; s++)
    if (*s != ',') buf[n++] = *s;
  buf[n] = '\0';
  char *end;
  *out = strtod(buf, &end);
  return n > 0 && *end == '\0';
}

/* One of the metric set (the raw page also carries ncu's own columns and device attributes). */
static bool is_metric(const char *name) {
  for (size_t i = 0; i < N_METRICS; i++)
    if (!strcmp(name, metric_names[i])) return true;
  return false;
}

int metrics_parse_csv(const char *buf, size_t len, json_t *out) {
  char *copy = strndup(buf, len), *save = NULL, *header[CSV_MAX_FIELDS], *f[CSV_MAX_FIELDS];
  if (!copy) return err_set(ERR_NOMEM, "out of memory");
  int rc = 0, line = 0, nh = -1, name_col = -1;
  for (char *l = strtok_r(copy, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
    line++;
    l[strcspn(l, "\r")] = '\0';
    if (l[0] != '"') continue; /* ==PROF== lines and blank ones */
    if (nh < 0) {
      if ((nh = csv_split(l, header, CSV_MAX_FIELDS)) < 0) rc = err_set(ERR_PARSE, "ncu CSV line %d: bad header", line);
      for (int i = 0; i < nh; i++)
        if (!strcmp(header[i], "Kernel Name")) name_col = i;
      if (rc == 0 && name_col < 0) rc = err_set(ERR_PARSE, "ncu CSV line %d: no \"Kernel Name\" column", line);
      continue;
    }
    int n = csv_split(l, f, CSV_MAX_FIELDS);
    if (n != nh) {
      rc = err_set(ERR_PARSE, "ncu CSV line %d: %d fields, the header has %d", line, n, nh);
      break;
    }
    double v;
    if (!strcmp(f[name_col], "") || !strcmp(f[0], "")) continue; /* the units row */
    json_t *m = json_object();
    for (int i = 0; i < n; i++)
      if (is_metric(header[i]) && csv_number(f[i], &v)) json_object_set_new(m, header[i], json_real(v));
    if (json_object_size(m) == 0) { /* the units row has names but no numbers */
      json_decref(m);
      continue;
    }
    json_array_append_new(out, json_pack("{s:s,s:o}", "kernel", f[name_col], "metrics", m));
  }
  free(copy);
  return rc;
}

/* ---- derived values ---- */
static double metric(const json_t *m, const char *name, bool *ok) {
  const json_t *v = json_object_get(m, name);
  if (!json_is_number(v)) *ok = false;
  return json_number_value(v);
}

void metrics_derive(json_t *kernel) {
  const json_t *m = json_object_get(kernel, "metrics");
  bool ok = true, okf = true;
  double t_ns = metric(m, "gpu__time_duration.sum", &ok);
  double bytes = metric(m, "dram__bytes_read.sum", &ok) + metric(m, "dram__bytes_write.sum", &ok);
  double flops = metric(m, "smsp__sass_thread_inst_executed_op_fadd_pred_on.sum", &okf) +
                 metric(m, "smsp__sass_thread_inst_executed_op_fmul_pred_on.sum", &okf) +
                 2 * metric(m, "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum", &okf);
  bool okh = true;
  double hflops = metric(m, "smsp__sass_thread_inst_executed_op_hadd_pred_on.sum", &okh) +
                  metric(m, "smsp__sass_thread_inst_executed_op_hmul_pred_on.sum", &okh) +
                  2 * metric(m, "smsp__sass_thread_inst_executed_op_hfma_pred_on.sum", &okh);
  if (okh) flops += hflops;
  bool ls = true;
  double spill = metric(m, "l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum", &ls) +
                 metric(m, "l1tex__t_bytes_pipe_lsu_mem_local_op_st.sum", &ls);
  json_object_set_new(kernel, "local_memory_bytes", jsonio_number(ls, spill));
  static const struct {
    const char *key, *metric;
  } plain[] = {{"registers", "launch__registers_per_thread"},
               {"occupancy_pct", "sm__warps_active.avg.pct_of_peak_sustained_active"},
               {"sm_throughput_pct", "sm__throughput.avg.pct_of_peak_sustained_elapsed"},
               {"dram_throughput_pct", "dram__throughput.avg.pct_of_peak_sustained_elapsed"}};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    bool have = true;
    double v = metric(m, plain[i].metric, &have);
    json_object_set_new(kernel, plain[i].key, jsonio_number(have, v));
  }
  json_object_set_new(kernel, "flops", jsonio_number(okf, flops));
  json_object_set_new(kernel, "dram_bytes", jsonio_number(ok, bytes));
  json_object_set_new(kernel, "time_ns", jsonio_number(ok, t_ns));
  bool have = ok && t_ns > 0;
  json_object_set_new(kernel, "dram_gbps", jsonio_number(have, have ? bytes / t_ns : 0));
  json_object_set_new(kernel, "flops_per_s", jsonio_number(have && okf, have ? flops / (t_ns * 1e-9) : 0));
  json_object_set_new(kernel, "intensity", jsonio_number(ok && okf && bytes > 0, bytes > 0 ? flops / bytes : 0));
}

/* ---- the roofline ---- */
#define RL_W 760.0
#define RL_H 480.0
#define RL_L 80.0
#define RL_R 30.0
#define RL_T 40.0
#define RL_B 60.0
#define RL_XMIN 1e-2
#define RL_XMAX 1e3
#define RL_YMIN 1e9
#define RL_YMAX 1e15

static double rl_x(double i) {
  return RL_L + (log10(i) - log10(RL_XMIN)) / (log10(RL_XMAX) - log10(RL_XMIN)) * (RL_W - RL_L - RL_R);
}
static double rl_y(double p) {
  return RL_H - RL_B - (log10(p) - log10(RL_YMIN)) / (log10(RL_YMAX) - log10(RL_YMIN)) * (RL_H - RL_T - RL_B);
}
static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static void rl_axes(struct svg *s) {
  svg_rect(s, RL_L, RL_T, RL_W - RL_L - RL_R, RL_H - RL_T - RL_B, NULL, "#888888");
  for (double x = RL_XMIN; x <= RL_XMAX * 1.001; x *= 10) {
    svg_line(s, rl_x(x), RL_T, rl_x(x), RL_H - RL_B, "#e6e9ef", 1, NULL);
    svg_text(s, rl_x(x), RL_H - RL_B + 16, "middle", 11, 0, "#1d2330", "%g", x);
  }
  for (double y = RL_YMIN; y <= RL_YMAX * 1.001; y *= 10) {
    svg_line(s, RL_L, rl_y(y), RL_W - RL_R, rl_y(y), "#e6e9ef", 1, NULL);
    svg_text(s, RL_L - 6, rl_y(y) + 4, "end", 11, 0, "#1d2330", "%g", y / 1e12);
  }
  svg_text(s, (RL_L + RL_W - RL_R) / 2, RL_H - 20, "middle", 12, 0, "#1d2330",
           "arithmetic intensity (FLOP per DRAM byte)");
  svg_text(s, 18, (RL_T + RL_H - RL_B) / 2, "middle", 12, -90, "#1d2330", "TFLOP/s (FP32+FP16, no tensor cores)");
}

static void rl_roofs(struct svg *s, const struct metrics_ceilings *c) {
  double ridge = c->bytes_per_s > 0 ? c->flops_per_s / c->bytes_per_s : RL_XMIN;
  if (c->bytes_per_s > 0) {
    double x0 = RL_XMIN, y0 = c->bytes_per_s * x0, x1 = clampd(ridge, RL_XMIN, RL_XMAX);
    if (y0 < RL_YMIN) x0 = RL_YMIN / c->bytes_per_s, y0 = RL_YMIN;
    svg_line(s, rl_x(x0), rl_y(y0), rl_x(x1), rl_y(c->bytes_per_s * x1), "#1f77b4", 2, NULL);
    svg_text(s, rl_x(x0) + 6, rl_y(y0) - 8, "start", 11, 0, "#1f77b4", "memory %.0f GB/s", c->bytes_per_s / 1e9);
  }
  svg_line(s, rl_x(clampd(ridge, RL_XMIN, RL_XMAX)), rl_y(c->flops_per_s), rl_x(RL_XMAX), rl_y(c->flops_per_s),
           "#d62728", 2, NULL);
  svg_text(s, RL_W - RL_R - 4, rl_y(c->flops_per_s) - 6, "end", 11, 0, "#d62728", "compute %.1f TFLOP/s",
           c->flops_per_s / 1e12);
}

int metrics_roofline(FILE *out, const json_t *kernels, const struct metrics_ceilings *c) {
  struct svg s;
  int rc = svg_begin(&s, out, RL_W, RL_H);
  if (rc) return rc;
  svg_text(&s, RL_W / 2, 22, "middle", 14, 0, "#1d2330", "Roofline: the top kernels under Nsight Compute");
  rl_axes(&s);
  rl_roofs(&s, c);
  size_t i;
  const json_t *k;
  json_array_foreach(kernels, i, k) {
    const json_t *in = json_object_get(k, "intensity"), *fl = json_object_get(k, "flops_per_s");
    double x = json_is_number(in) ? clampd(json_number_value(in), RL_XMIN, RL_XMAX) : RL_XMIN;
    double y = json_is_number(fl) ? clampd(json_number_value(fl), RL_YMIN, RL_YMAX) : RL_YMIN;
    svg_group_begin(&s, "%s: %.3g FLOP/B, %.3g TFLOP/s, %.1f GB/s", json_string_value(json_object_get(k, "kernel")),
                    json_number_value(in), json_number_value(fl) / 1e12,
                    json_number_value(json_object_get(k, "dram_gbps")));
    svg_rect(&s, rl_x(x) - 4, rl_y(y) - 4, 8, 8, svg_color((int)i), "#1d2330");
    svg_text(&s, rl_x(x) + 7, rl_y(y) + 4, "start", 11, 0, "#1d2330", "%d", (int)i + 1);
    svg_group_end(&s);
  }
  svg_text(&s, RL_L, RL_H - 4, "start", 9, 0, "#5a6375", "%.160s", c->source);
  return svg_end(&s);
}

/* ---- running ncu ---- */
/* The name the kernel was recorded under (mangled), from the name index. */
static const char *original_name(const struct profile *p, int idx) {
  const char *key;
  json_t *v;
  json_object_foreach(p->name_index, key, v) if (json_integer_value(v) == idx) return key;
  return p->names[idx];
}

/* Run argv, output to a file; returns the exit status or -1. */
static int run_to_file(char *const *argv, const char *log) {
  fflush(NULL); /* or the child's freopen writes our buffered output a second time */
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = freopen(log, "w", stdout);
    if (f && dup2(fileno(f), 2) < 0) _exit(127);
    execvp(argv[0], argv);
    _exit(127);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool on_path(const char *name) {
  const char *path = getenv("PATH");
  char buf[4096];
  for (const char *p = path; p && *p;) {
    size_t n = strcspn(p, ":");
    snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
    if (access(buf, X_OK) == 0) return true;
    p += n + (p[n] == ':');
  }
  return false;
}

/* Profile one kernel into dir/ncu-K.ncu-rep, then export its raw page as CSV into *csv. */
static int one_kernel(const char *mangled, int calls, char *const *argv, const char *dir, int k, json_t *out) {
  char rep[2048], log[2048], regex[4200], metrics[2048] = "", skip[16];
  snprintf(rep, sizeof rep, "%s/ncu-%d", dir, k);
  snprintf(log, sizeof log, "%s/ncu-%d.log", dir, k);
  size_t r = (size_t)snprintf(regex, sizeof regex, "regex:^");
  for (const char *c = mangled; *c && r + 3 < sizeof regex; c++) {
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", *c)) regex[r++] = '\\';
    regex[r++] = *c;
  }
  snprintf(regex + r, sizeof regex - r, "$");
  for (size_t i = 0; i < N_METRICS; i++) {
    size_t u = strlen(metrics);
    snprintf(metrics + u, sizeof metrics - u, "%s%s", i ? "," : "", metric_names[i]);
  }
  snprintf(skip, sizeof skip, "%d", calls > 1 ? 1 : 0);
  int argc = 0;
  while (argv[argc]) argc++;
  char **cmd = calloc((size_t)argc + 20, sizeof *cmd);
  if (!cmd) return err_set(ERR_NOMEM, "out of memory");
  int n = 0;
  const char *pre[] = {"ncu", "--clock-control", "none", "--kernel-name-base", "mangled", "--kernel-name", regex,
                       "--launch-skip", skip, "--launch-count", "1", "--metrics", metrics, "-f", "-o", rep};
  for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) cmd[n++] = (char *)pre[i];
  for (int i = 0; i < argc; i++) cmd[n++] = argv[i];
  cmd[n] = NULL;
  run_to_file(cmd, log); /* the program's own exit status is not ncu's verdict: the report says */
  char imp[2100], csvpath[2100];
  snprintf(imp, sizeof imp, "%s.ncu-rep", rep);
  snprintf(csvpath, sizeof csvpath, "%s/ncu-%d.csv", dir, k);
  char *exp[] = {"ncu", "--import", imp, "--csv", "--page", "raw", "--print-units", "base", NULL};
  int st = run_to_file(exp, csvpath);
  free(cmd);
  if (st != 0) return err_set(ERR_CHECK, "ncu found no launch of %s (see %s)", mangled, log);
  FILE *f = fopen(csvpath, "r");
  if (!f) return err_set(ERR_IO, "cannot read %s", csvpath);
  char *buf = NULL;
  size_t len = 0;
  ssize_t got = getdelim(&buf, &len, '\0', f);
  fclose(f);
  int rc = got > 0 ? metrics_parse_csv(buf, (size_t)got, out) : err_set(ERR_CHECK, "%s is empty", csvpath);
  free(buf);
  return rc;
}

int metrics_run(const struct profile *p, char *const *argv, int n, const char *dir,
                const struct metrics_ceilings *c, FILE *text) {
  if (!on_path("ncu")) return err_set(ERR_NOLIB, "--metrics needs Nsight Compute: ncu is not on PATH");
  struct summary s;
  int rc = summary_compute(p, &s);
  if (rc) return rc;
  json_t *kernels = json_array();
  int done = 0;
  for (int i = 0; i < s.n_kernels && i < n; i++) {
    size_t before = json_array_size(kernels);
    if (one_kernel(original_name(p, s.kernels[i].name), s.kernels[i].calls, argv, dir, i + 1, kernels) < 0) {
      if (text) fprintf(text, "metrics: %s\n", err_msg());
      continue;
    }
    for (size_t j = before; j < json_array_size(kernels); j++) {
      json_t *k = json_array_get(kernels, j);
      json_object_set_new(k, "kernel", json_string(p->names[s.kernels[i].name]));
      metrics_derive(k);
    }
    done += json_array_size(kernels) > before;
  }
  char path[2048];
  json_t *doc = json_pack("{s:O,s:{s:f,s:f,s:s}}", "kernels", kernels, "ceilings", "bytes_per_s", c->bytes_per_s,
                          "flops_per_s", c->flops_per_s, "source", c->source);
  snprintf(path, sizeof path, "%s/metrics.json", dir);
  rc = jsonio_write_file(path, doc);
  snprintf(path, sizeof path, "%s/roofline.svg", dir);
  FILE *f = rc == 0 ? fopen(path, "w") : NULL;
  if (rc == 0 && !f) rc = err_set(ERR_IO, "cannot write %s: %s", path, strerror(errno));
  if (f) {
    rc = metrics_roofline(f, kernels, c);
    if (fclose(f) != 0 && rc == 0) rc = err_set(ERR_IO, "cannot write %s", path);
  }
  if (text && rc == 0) {
    fprintf(text, "metrics: %d kernel(s) measured under ncu: %s/metrics.json, roofline.svg\n", done, dir);
    size_t j;
    const json_t *k;
    json_array_foreach(kernels, j, k)
      fprintf(text, "  %zu. %.60s: %.3g FLOP/B, %.3g TFLOP/s, DRAM %.0f GB/s, SM %.0f%%, occupancy %.0f%%, %.0f regs, "
                    "%.0f local-memory bytes\n",
              j + 1, json_string_value(json_object_get(k, "kernel")), json_number_value(json_object_get(k, "intensity")),
              json_number_value(json_object_get(k, "flops_per_s")) / 1e12,
              json_number_value(json_object_get(k, "dram_gbps")),
              json_number_value(json_object_get(k, "sm_throughput_pct")),
              json_number_value(json_object_get(k, "occupancy_pct")), json_number_value(json_object_get(k, "registers")),
              json_number_value(json_object_get(k, "local_memory_bytes")));
  }
  json_decref(doc);
  json_decref(kernels);
  summary_free(&s);
  return rc < 0 ? rc : done;
}
