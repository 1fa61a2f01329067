/*
 * cmd_bench.c — `gpuops bench`: check and time the kernels of src/kernels on
 * GPU 0 (the CPU references without a GPU, labelled CPU), print each
 * variant's time, bandwidth, % of the ceiling measured in the same run,
 * speedup over the naive baseline and ratios to the vendor library and to
 * PyTorch (--torch FILE); gate against a stored baseline (--baseline FILE).
 *
 * Exit: 0; 1 a variant FAILED its check or regressed against the baseline;
 * 2 bad usage or input (unknown kernel/variant/size, a baseline from another
 * GPU model); 3 the GPU failed.
 *
 * Sections: arguments; --list; output; targets; the command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "base/table.h"
#include "base/timeutil.h"
#include "bench/gate.h"
#include "bench/harness.h"
#include "bench/suite.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "kernels/cudaplugin.h"
#include "version.h"

/* ---- arguments --------------------------------------------------------------------- */

enum fmt { FMT_TABLE, FMT_JSON, FMT_MARKDOWN, FMT_CSV };

struct bench_args {
  const char *kernel, *variant, *size, *format, *baseline, *save, *torch, *flush;
  bool list, hot, cpu;
  double max_noise_pct, threshold_pct, max_time_s;
  int max_samples;
  enum fmt fmt;
};

static int fmt_parse(const char *s, enum fmt *out) {
  static const char *const names[] = {"table", "json", "markdown", "csv"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, names[i])) {
      *out = (enum fmt)i;
      return 0;
    }
  return cli_usage_error("bench", "--format %s: expected table, json, markdown or csv", s);
}

static int check_args(struct bench_args *a) {
  if (a->format && fmt_parse(a->format, &a->fmt)) return EXIT_USAGE;
  if (!(a->max_noise_pct > 0 && a->max_noise_pct < 100))
    return cli_usage_error("bench", "--max-noise %g: a percentage in (0, 100), e.g. 0.5",
                           a->max_noise_pct);
  if (!(a->threshold_pct >= 0 && a->threshold_pct < 1000))
    return cli_usage_error("bench", "--threshold %g: a percentage >= 0, e.g. 5", a->threshold_pct);
  if (!(a->max_time_s > 0))
    return cli_usage_error("bench", "--max-time %g: seconds > 0", a->max_time_s);
  if (a->max_samples < 3)
    return cli_usage_error("bench", "--max-samples %d: at least 3", a->max_samples);
  if (a->flush && strcmp(a->flush, "write") && strcmp(a->flush, "read"))
    return cli_usage_error("bench", "--flush %s: expected write or read", a->flush);
  return 0;
}

/* ---- --list ------------------------------------------------------------------------ */

static int write_list(FILE *out, enum fmt f) {
  const char *hdr[] = {"kernel", "variants", "sizes (GPU default*, CPU default+)", "ceiling",
                       "summary"};
  struct table *t = table_new(5, hdr);
  if (!t) return err_set(ERR_NOMEM, "bench --list");
  int n;
  const struct bench_kernel *ks = bench_suite_kernels(&n);
  for (int i = 0; i < n; i++) {
    char v[1024] = "", s[512] = ""; /* k < sizeof: snprintf reports what it would write */
    size_t k = 0;
    for (int j = 0; j < ks[i].nvariants && k < sizeof v; j++)
      k += (size_t)snprintf(v + k, sizeof v - k, "%s%s", j ? " " : "", ks[i].variants[j]);
    if (ks[i].vendor && k < sizeof v) snprintf(v + k, sizeof v - k, " %s", ks[i].vendor);
    k = 0;
    for (int j = 0; j < ks[i].nsizes && k < sizeof s; j++) {
      const struct bench_size *z = &ks[i].sizes[j];
      k += (size_t)snprintf(s + k, sizeof s - k, "%s%s%s", j ? " " : "", z->name,
                            z->flags & BENCH_SIZE_GPU   ? "*"
                            : z->flags & BENCH_SIZE_CPU ? "+"
                                                        : "");
    }
    table_add_rowf(t, "%s|%s|%s|%s|%s", ks[i].name, v, s, ks[i].ceiling, ks[i].summary);
  }
  int rc = table_write(t, out,
                       f == FMT_JSON  ? TABLE_FMT_JSON
                       : f == FMT_CSV ? TABLE_FMT_CSV
                                      : TABLE_FMT_TABLE);
  table_free(t);
  return rc;
}

/* ---- output ------------------------------------------------------------------------ */

static void fmt_fig(char *buf, size_t len, double v, const char *f) {
  if (v > 0)
    snprintf(buf, len, f, v);
  else
    snprintf(buf, len, "-");
}

static struct table *results_table(const struct bench_run *run, const struct bench_torch *torch) {
  const char *hdr[] = {"kernel", "size",    "variant", "status", "median_us", "p90_us",  "noise_%",
                       "GB/s",   "TFLOP/s", "%ceil",   "x_base", "x_vendor",  "x_torch", "max_err"};
  struct table *t = table_new(14, hdr);
  if (!t) return NULL;
  for (int i = 0; i < run->nceilings; i++) {
    const struct bench_ceiling *c = &run->ceilings[i];
    double gbps = c->st.median > 0 ? c->bytes / (c->st.median * 1e-3) * 1e-9 : 0;
    char tf[32];
    fmt_fig(tf, sizeof tf, c->st.median > 0 ? c->flops / (c->st.median * 1e-3) * 1e-12 : 0, "%.1f");
    table_add_rowf(t, "ceiling|%.0f MB|%s|ok|%.1f|%.1f|%.2f|%.0f|%s|100.0|-|-|-|-", c->bytes * 1e-6,
                   c->name, c->st.median * 1e3, c->st.p90 * 1e3, 100 * c->st.noise, gbps, tf);
  }
  for (int i = 0; i < run->nresults; i++) {
    const struct bench_result *r = &run->results[i];
    struct bench_derived d;
    bench_derive(run, r, torch, &d);
    char med[32], p90[32], noise[32], gb[32], tf[32], pct[32], xb[32], xv[32], xt[32], err[32];
    bool ok = r->status == BENCH_OK;
    fmt_fig(med, sizeof med, ok ? r->st.median * 1e3 : 0, "%.1f");
    fmt_fig(p90, sizeof p90, ok ? r->st.p90 * 1e3 : 0, "%.1f");
    snprintf(noise, sizeof noise, ok ? "%.2f" : "-", 100 * r->st.noise);
    fmt_fig(gb, sizeof gb, d.gbps, "%.0f");
    fmt_fig(tf, sizeof tf, d.tflops >= 1.0 ? d.tflops : 0, "%.1f"); /* matrix work only */
    fmt_fig(pct, sizeof pct, d.pct_ceiling, "%.1f");
    fmt_fig(xb, sizeof xb, d.speedup, "%.2f");
    fmt_fig(xv, sizeof xv, d.vs_vendor, "%.3f");
    fmt_fig(xt, sizeof xt, d.vs_torch, "%.3f");
    if (r->status == BENCH_OK || r->status == BENCH_FAILED)
      snprintf(err, sizeof err, "%.2g", r->max_err);
    else
      snprintf(err, sizeof err, "-");
    const char *cells[] = {
        r->kernel, r->size, r->variant, bench_status_name(r->status), med, p90, noise, gb, tf, pct,
        xb,        xv,      xt,         err};
    table_add_row(t, cells);
  }
  return t;
}

static void write_markdown(FILE *out, const struct table *t, const char *const *hdr, int ncols) {
  for (int c = 0; c < ncols; c++) fprintf(out, "| %s ", hdr[c]);
  fprintf(out, "|\n");
  for (int c = 0; c < ncols; c++) fprintf(out, "|---");
  fprintf(out, "|\n");
  for (int r = 0; r < table_rows(t); r++) {
    for (int c = 0; c < ncols; c++)
      fprintf(out, "| %s ", table_cell(t, r, c) ? table_cell(t, r, c) : "");
    fprintf(out, "|\n");
  }
}

/* The run's header lines (table and markdown). */
static void write_header(FILE *out, const struct bench_run *run, const struct bench_torch *torch) {
  fprintf(out, "# gpuops bench: %s%s, %s mode, driver %s, %s\n", run->gpu_name,
          strcmp(run->mode, "cpu") ? "" : " (CPU references: no GPU)", run->mode,
          run->driver[0] ? run->driver : "-", run->cuda[0] ? run->cuda : "-");
  fprintf(out,
          "# commit %s, %s, host %s; SM clock %.0f -> %.0f MHz%s; L2 %s; max noise %.2f%%%s%s\n",
          run->commit, run->date, run->host, run->sm_clock_before_mhz, run->sm_clock_after_mhz,
          run->throttled ? " (THROTTLED: the clock dropped during the run)" : "",
          run->hot                      ? "hot (not flushed)"
          : !strcmp(run->flush, "read") ? "flushed by a read before each sample"
                                        : "flushed by a write before each sample",
          100 * run->max_noise, torch && torch->n ? "; torch " : "",
          torch && torch->n ? torch->version : "");
}

/* ---- targets ----------------------------------------------------------------------- */

/* Per (kernel, size): the fastest optimized variant against the bar. */
static void write_targets(FILE *out, const struct bench_run *run, const struct bench_torch *torch) {
  if (strcmp(run->mode, "gpu")) return;
  for (int i = 0; i < run->nresults; i++) {
    const struct bench_result *r = &run->results[i], *best = NULL;
    if (r->variant_no != 0) continue; /* one line per (kernel, size), at its baseline row */
    for (int j = 0; j < run->nresults; j++) {
      const struct bench_result *x = &run->results[j];
      if (x->variant_no >= 1 && x->status == BENCH_OK && !strcmp(x->kernel, r->kernel) &&
          !strcmp(x->size, r->size) && (!best || x->st.median < best->st.median))
        best = x;
    }
    if (!best) {
      fprintf(out, "target %-9s %-16s FAIL: no optimized variant timed\n", r->kernel, r->size);
      continue;
    }
    struct bench_derived d;
    bench_derive(run, best, torch, &d);
    bool two = d.speedup >= 2.0, ceil = d.pct_ceiling >= 90.0, ahead = d.vs_torch > 1.0;
    fprintf(out,
            "target %-9s %-16s %s: best %s, %.2fx baseline (>= 2x %s), %.1f%% of %s (>= 90%% %s), ",
            r->kernel, r->size, two && ceil && (ahead || !torch) ? "PASS" : "FAIL", best->variant,
            d.speedup, two ? "yes" : "NO", d.pct_ceiling, best->ceiling, ceil ? "yes" : "NO");
    if (d.vs_torch > 0)
      fprintf(out, "%.3fx PyTorch (ahead %s)\n", d.vs_torch, ahead ? "yes" : "NO");
    else
      fprintf(out, "PyTorch not given (--torch FILE)\n");
  }
}

static int write_output(FILE *out, const struct bench_args *a, const struct bench_run *run,
                        const struct bench_torch *torch) {
  if (a->fmt == FMT_JSON) {
    json_t *doc = bench_run_to_json(run, torch);
    if (!doc) return err_set(ERR_NOMEM, "bench: JSON");
    int rc = jsonio_write(out, doc);
    json_decref(doc);
    return rc;
  }
  struct table *t = results_table(run, torch);
  if (!t) return err_set(ERR_NOMEM, "bench: table");
  int rc = 0;
  if (a->fmt == FMT_CSV) {
    rc = table_write(t, out, TABLE_FMT_CSV);
  } else if (a->fmt == FMT_MARKDOWN) {
    write_header(out, run, torch);
    fprintf(out, "\n");
    const char *hdr[] = {"kernel",    "size",       "variant",  "status",    "median µs",
                         "p90 µs",    "noise %",    "GB/s",     "TFLOP/s",   "% ceiling",
                         "× baseline", "× vendor", "× PyTorch", "max err"};
    write_markdown(out, t, hdr, 14);
    fprintf(out, "\n");
    write_targets(out, run, torch);
  } else {
    write_header(out, run, torch);
    rc = table_write(t, out, TABLE_FMT_TABLE);
    write_targets(out, run, torch);
  }
  table_free(t);
  return rc;
}

/* ---- the command ------------------------------------------------------------------- */

/* command, commit, date, host of the run. */
static void stamp(struct bench_run *run, int argc, char **argv) {
  size_t k = (size_t)snprintf(run->command, sizeof run->command, "gpuops");
  for (int i = 0; i < argc && k < sizeof run->command; i++)
    k += (size_t)snprintf(run->command + k, sizeof run->command - k, " %s", argv[i]);
  snprintf(run->commit, sizeof run->commit, "%s", GPUOPS_GIT_COMMIT);
  time_iso8601(time_wall_ns(), run->date, sizeof run->date);
  if (gethostname(run->host, sizeof run->host)) snprintf(run->host, sizeof run->host, "?");
  run->host[sizeof run->host - 1] = 0;
}

/* GPU through the plugin when there is one (and not --cpu), else the CPU references. */
static int measure(const struct bench_args *a, const struct bench_options *o,
                   struct bench_run *run) {
  struct cudaplugin p;
  int n = 0;
  char why[512] = "--cpu";
  if (!a->cpu) {
    if (cudaplugin_load(&p) == 0) {
      if (p.api->device_count(&n, why, sizeof why) == 0 && n < 1)
        snprintf(why, sizeof why, "no CUDA device");
      if (n > 0) {
        int rc = bench_suite_run_gpu(p.api, o, run);
        cudaplugin_unload(&p);
        return rc;
      }
      cudaplugin_unload(&p);
    } else {
      snprintf(why, sizeof why, "%s", err_msg());
    }
  }
  fprintf(stderr, "gpuops bench: no GPU (%s): timing the CPU references, labelled CPU\n", why);
  return bench_suite_run_cpu(o, run);
}

/* The gate; returns the exit code it calls for (0, 1, 2). */
static int gate(const struct bench_args *a, const struct bench_run *base,
                const struct bench_run *run) {
  struct bench_gate g;
  int rc = bench_gate_check(base, run, a->threshold_pct / 100.0, stderr, &g);
  if (rc) {
    fprintf(stderr, "gpuops bench: --baseline %s refused: %s\n", a->baseline, err_msg());
    return EXIT_USAGE;
  }
  fprintf(stderr,
          "gpuops bench: gate against %s: %d compared, %d regressions, %d no longer timed\n",
          a->baseline, g.compared, g.regressions, g.missing);
  return g.regressions || g.missing ? EXIT_CHECK : EXIT_OK;
}

static int run_bench(const struct bench_args *a, const struct bench_options *o,
                     const struct cli_common *c, int argc, char **argv) {
  struct bench_run base, run;
  struct bench_torch torch = {0};
  bench_run_init(&base);
  bench_run_init(&run);
  int code = EXIT_OK, rc = 0;
  if (a->baseline && (rc = bench_run_load(a->baseline, &base))) goto out;
  if (a->torch && (rc = bench_torch_load(a->torch, &torch))) goto out;
  if ((rc = measure(a, o, &run))) goto out;
  stamp(&run, argc, argv);
  bool close_it = false;
  FILE *out = cli_output_open("bench", c, &close_it);
  if (!out) {
    code = EXIT_USAGE;
    goto out;
  }
  rc = write_output(out, a, &run, a->torch ? &torch : NULL);
  cli_output_close(out, close_it);
  if (rc) goto out;
  if (a->save) {
    json_t *doc = bench_run_to_json(&run, a->torch ? &torch : NULL);
    rc = doc ? jsonio_write_file(a->save, doc) : err_set(ERR_NOMEM, "bench: JSON");
    json_decref(doc);
    if (rc) goto out;
  }
  for (int i = 0; i < run.nresults; i++)
    if (run.results[i].status == BENCH_FAILED || run.results[i].status == BENCH_ERROR)
      code = EXIT_CHECK;
  if (a->baseline) {
    int g = gate(a, &base, &run);
    if (g > code) code = g;
  }
out:
  bench_run_free(&base);
  bench_run_free(&run);
  bench_torch_free(&torch);
  return rc ? cli_fail("bench", rc) : code;
}

int cmd_bench(int argc, char **argv) {
  struct bench_args a = {
      .max_noise_pct = 0.5, .threshold_pct = 5.0, .max_time_s = 1.0, .max_samples = 500};
  const struct cli_option opts[] = {
      {"kernel", 0, CLI_ARG_STRING, &a.kernel, "NAME", "only this kernel (--list shows them)"},
      {"variant", 0, CLI_ARG_STRING, &a.variant, "V",
       "only this variant: number, name or both (2, regs, 2-regs), or the vendor row (cub, cublaslt)"},
      {"size", 0, CLI_ARG_STRING, &a.size, "S",
       "only this size (default: the benchmark sizes; CPU: small ones)"},
      {"list", 0, CLI_ARG_FLAG, &a.list, NULL, "list kernels, variants and sizes"},
      {"format", 0, CLI_ARG_STRING, &a.format, "FMT", "table (default), json, markdown or csv"},
      {"baseline", 0, CLI_ARG_STRING, &a.baseline, "FILE.json",
       "gate: exit 1 when a variant is slower than this baseline (same GPU model) beyond "
       "max(noise, threshold)"},
      {"save-baseline", 0, CLI_ARG_STRING, &a.save, "FILE",
       "write this run as JSON (a baseline) to FILE"},
      {"threshold", 0, CLI_ARG_DOUBLE, &a.threshold_pct, "PCT",
       "gate threshold in percent (default 5)"},
      {"torch", 0, CLI_ARG_STRING, &a.torch, "FILE",
       "PyTorch medians on the same shapes (scripts/gpu-bench)"},
      {"hot", 0, CLI_ARG_FLAG, &a.hot, NULL, "do not flush L2 between samples"},
      {"flush", 0, CLI_ARG_STRING, &a.flush, "write|read",
       "flush L2 by writing 2 x L2 (default, as NVBench) or by reading it (no dirty lines left)"},
      {"max-noise", 0, CLI_ARG_DOUBLE, &a.max_noise_pct, "PCT",
       "sample until the noise (relative std. dev.) is under PCT percent (default 0.5)"},
      {"max-time", 0, CLI_ARG_DOUBLE, &a.max_time_s, "SECONDS",
       "or until this much time per variant (default 1)"},
      {"max-samples", 0, CLI_ARG_INT, &a.max_samples, "N", "or N samples (default 500)"},
      {"cpu", 0, CLI_ARG_FLAG, &a.cpu, NULL, "time the CPU references even when there is a GPU"},
      {0}};
  const struct cli_spec spec = {
      "bench",
      "[--kernel NAME] [--variant V] [--size S] [--list] [--format table|json|markdown|csv] [-o "
      "FILE] "
      "[--baseline FILE.json] [--save-baseline FILE] [--torch FILE] [--hot] [--max-noise PCT]",
      "Check, then time the kernels of src/kernels on GPU 0 against the ceilings measured in the "
      "same run "
      "(docs/kernels.md). Without a GPU, times the CPU references, labelled CPU.\nExit 0; 1 a "
      "variant FAILED "
      "or regressed; 2 bad usage, unknown kernel/variant/size, or a baseline from another GPU "
      "model; 3 the "
      "GPU failed.",
      CLI_OUTPUT,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = check_args(&a))) return rc;
  struct bench_options o = {a.kernel, a.variant, a.size, a.hot, a.flush && !strcmp(a.flush, "read"),
                            {0},      stderr};
  bench_stop_defaults(&o.stop);
  o.stop.max_noise = a.max_noise_pct / 100.0;
  o.stop.max_time_s = a.max_time_s;
  o.stop.max_samples = a.max_samples;
  if (bench_suite_validate(&o)) return cli_usage_error("bench", "%s", err_msg());
  if (a.list) {
    bool close_it = false;
    FILE *out = cli_output_open("bench", &c, &close_it);
    if (!out) return EXIT_USAGE;
    rc = write_list(out, a.fmt);
    cli_output_close(out, close_it);
    return rc ? cli_fail("bench", rc) : EXIT_OK;
  }
  return run_bench(&a, &o, &c, argc, argv);
}
