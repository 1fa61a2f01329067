/*
 * cmd_profile.c — `gpuops profile [-o DIR] [--nvtx] [--api] [--sample-ms MS]
 * [--metrics N] -- CMD ARGS...`: run a CUDA program unchanged under the
 * injection library, sample NVML alongside, and write the trace, summary,
 * folded stacks, flamegraph and findings into DIR (docs/profile.md).
 * `--records DIR` renders record files saved earlier instead of running.
 *
 * Exit status: the program's own (128 + signal when a signal killed it), so
 * `gpuops profile -- CMD` stands in for CMD in a script; gpuops' own errors
 * win: 2 usage or corrupt records, 3 command not found or injection library
 * missing (docs/profile.md).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "profile/metrics.h"
#include "profile/outputs.h"
#include "profile/record.h"
#include "profile/runner.h"

struct profile_args {
  const char *dir, *records, *ceilings;
  bool nvtx, api;
  int sample_ms, metrics;
};

static int load_records(struct profile *p, const char *dir) {
  char samples[2048];
  snprintf(samples, sizeof samples, "%s/nvml-samples.json", dir);
  int rc = record_load_dir(p, dir);
  if (rc == 0) profile_note(p, "no record files (*.jsonl) in %s", dir);
  if (rc >= 0) {
    int src = record_load_samples(p, samples);
    if (src < 0) rc = src;
  }
  if (rc >= 0) profile_sort(p);
  snprintf(p->command, sizeof p->command, "(records of %s)", dir);
  return rc < 0 ? rc : 0;
}

static int run_metrics(const struct profile_args *a, const struct profile *p, char **argv) {
  struct metrics_ceilings c;
  const char *ceil = a->ceilings;
  if (!ceil && access("bench/h200.json", R_OK) == 0) ceil = "bench/h200.json";
  int rc = metrics_ceilings_load(ceil, &c);
  if (rc == 0) rc = metrics_run(p, argv, a->metrics, a->dir, &c, stdout);
  if (rc < 0) fprintf(stderr, "gpuops profile: --metrics: %s\n", err_msg());
  return rc;
}

int cmd_profile(int argc, char **argv) {
  struct profile_args a = {.dir = "out/profile", .sample_ms = 100};
  const struct cli_option opts[] = {
      {"output", 'o', CLI_ARG_STRING, &a.dir, "DIR", "folder for the profile (default out/profile)"},
      {"nvtx", 0, CLI_ARG_FLAG, &a.nvtx, NULL, "record NVTX ranges (and runtime API calls, to place kernels in them)"},
      {"api", 0, CLI_ARG_FLAG, &a.api, NULL, "record every runtime and driver API call"},
      {"sample-ms", 0, CLI_ARG_INT, &a.sample_ms, "MS", "NVML sampling period (default 100; 0: none)"},
      {"metrics", 0, CLI_ARG_INT, &a.metrics, "N", "re-run the top N kernels under Nsight Compute (ncu) + roofline"},
      {"ceilings", 0, CLI_ARG_STRING, &a.ceilings, "FILE", "bench JSON with the roofline's ceilings (default bench/h200.json)"},
      {"records", 0, CLI_ARG_STRING, &a.records, "DIR", "render record files saved earlier instead of running"},
      {0}};
  const struct cli_spec spec = {"profile", "[-o DIR] [--nvtx] [--api] [--sample-ms MS] [--metrics N] -- CMD ARGS...",
                                "Run a CUDA program unchanged under CUPTI (libgpuops_inject.so) with NVML sampled "
                                "alongside, and write DIR/trace.json (Perfetto), summary, stacks.folded, "
                                "flamegraph.svg and findings. Exits with the program's status.",
                                CLI_BACKEND, opts, 0, -1};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (!a.records && npos == 0) return cli_usage_error("profile", "missing the command to run: gpuops profile -- CMD ARGS...");
  if (a.records && npos > 0) return cli_usage_error("profile", "--records renders saved records: give no command");
  if (a.sample_ms < 0 || a.metrics < 0) return cli_usage_error("profile", "--sample-ms and --metrics take a number >= 0");

  char **cmd = argv + 1;
  cmd[npos] = NULL;
  struct profile p;
  profile_init(&p);
  struct runner_options o = {.argv = cmd, .dir = a.dir, .nvtx = a.nvtx, .api = a.api, .sample_ms = a.sample_ms};
  o.gpu.kind = c.backend; /* AUTO: NVML or nothing, never a simulated fallback */
  rc = a.records ? load_records(&p, a.records) : runner_run(&o, &p);
  if (rc == ERR_NOTFOUND) {
    fprintf(stderr, "gpuops profile: %s\n", err_msg());
    profile_free(&p);
    return EXIT_ENV;
  }
  if (rc == 0) rc = outputs_write(a.dir, &p, stdout);
  if (rc == 0) printf("\nprofile: %s/ (trace.json opens in ui.perfetto.dev; flamegraph.svg; summary.json; findings.json)\n", a.dir);
  if (rc == 0 && a.metrics > 0 && !a.records && p.n_kernels > 0) run_metrics(&a, &p, cmd);
  int code = rc < 0 ? cli_fail("profile", rc) : p.exit_code > 0 ? p.exit_code : 0;
  profile_free(&p);
  return code;
}
