/*
 * cmd_tune.c — `gpuops tune MODEL_DIR --sla p99=50ms`: start `gpuops serve`
 * once per batcher configuration (a separate process, optionally on its own
 * cores), search each for the highest load meeting the SLA, and print the
 * configuration with the highest throughput, every configuration and point
 * tried, and a chart (load/tune.h does the work).
 *
 * Sections: options, the command.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "load/server.h"
#include "load/tune.h"

/* --- options --- */

/* "1,4,16" into out[] (each in 0..max, at least min). 0 or a usage error's exit code. */
static int int_list(const char *opt, const char *s, int min, int max, int *out, int *n) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *e;
    long v = strtol(p, &e, 10);
    if (e == p || (*e && *e != ',') || v < min || v > max)
      return cli_usage_error("tune", "%s '%s': give integers %d..%d separated by commas", opt, s,
                             min, max);
    if (*n == TUNE_MAX_GRID)
      return cli_usage_error("tune", "%s '%s': at most %d values", opt, s, TUNE_MAX_GRID);
    out[(*n)++] = (int)v;
    p = *e ? e + 1 : e;
  }
  return *n ? 0 : cli_usage_error("tune", "%s is empty", opt);
}

/* "SERVER:LOAD" CPU lists, e.g. "2-7:0-1". */
static int cpu_lists(const char *s, cpu_set_t *server, cpu_set_t *load) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  char *colon = strchr(buf, ':');
  if (!colon)
    return cli_usage_error("tune", "--cpu-list '%s' is not SERVER:LOAD (e.g. 2-7:0-1)", s);
  *colon = 0;
  if (load_cpus_parse(buf, server) < 0 || load_cpus_parse(colon + 1, load) < 0)
    return cli_usage_error("tune", "--cpu-list: %s", err_msg());
  return 0;
}

struct tune_args {
  const char *sla, *serve_cmd, *batches, *delays, *instances, *rate_range, *conc_range;
  const char *cpu_list, *chart, *shape;
  double window, duration, stability, timeout;
  int local_steps, batch, bodies;
  bool binary;
};

/* Everything but the CPU lists into the spec. 0 or a usage error's exit code. */
static int fill_spec(const struct tune_args *a, struct tune_spec *s) {
  int rc;
  if (!a->sla) return cli_usage_error("tune", "--sla is required (e.g. --sla p99=50ms)");
  if (sla_parse(a->sla, &s->sla) < 0) return cli_usage_error("tune", "%s", err_msg());
  if (a->batches &&
      (rc = int_list("--batch-sizes", a->batches, 1, 4096, s->batches, &s->n_batches)))
    return rc;
  if (a->delays && (rc = int_list("--delays-us", a->delays, 0, 10000000, s->delays, &s->n_delays)))
    return rc;
  if (a->instances &&
      (rc = int_list("--instances", a->instances, 1, 64, s->instances, &s->n_instances)))
    return rc;
  if (a->rate_range && a->conc_range)
    return cli_usage_error("tune", "give --rate-range or --concurrency-range, not both");
  s->load.mode = a->rate_range ? LOAD_OPEN : LOAD_CLOSED;
  const char *range = a->rate_range ? a->rate_range : a->conc_range ? a->conc_range : "1:64";
  if (load_range_parse(range, !a->rate_range, a->rate_range ? 1e7 : 100000,
                       a->rate_range ? "--rate-range" : "--concurrency-range", &s->range) < 0)
    return cli_usage_error("tune", "%s", err_msg());
  if (a->local_steps < 0 || a->local_steps > 20)
    return cli_usage_error("tune", "--local-steps %d: give 0..20", a->local_steps);
  if (!(a->window > 0) || a->duration + 1e-9 < 3 * a->window)
    return cli_usage_error("tune", "--duration %g must hold 3 windows of --window %g", a->duration,
                           a->window);
  s->load.window_s = a->window, s->load.duration_s = a->duration;
  s->load.stability_pct = a->stability, s->load.timeout_s = a->timeout;
  s->local_steps = a->local_steps, s->payload_batch = a->batch, s->n_bodies = a->bodies;
  s->payload_shape = a->shape, s->binary = a->binary;
  return 0;
}

/* --- the command --- */

int cmd_tune(int argc, char **argv) {
  struct tune_args a = {.window = 1,
                        .duration = 10,
                        .stability = 10,
                        .timeout = 10,
                        .local_steps = 2,
                        .batch = 1,
                        .bodies = 8};
  struct tune_spec s;
  tune_spec_defaults(&s);
  const char *log_dir = NULL;
  const struct cli_option opts[] = {
      {"sla", 0, CLI_ARG_STRING, &a.sla, "pP=LAT", "the latency SLA, e.g. p99=50ms (required)"},
      {"serve-cmd", 0, CLI_ARG_STRING, &a.serve_cmd, "PATH",
       "the gpuops binary to start as `PATH serve ...` (default: this one)"},
      {"name", 0, CLI_ARG_STRING, &s.name, "N", "model name (default: the directory's base name)"},
      {"device", 0, CLI_ARG_STRING, &s.device, "D", "cpu|gpu|auto, passed to serve"},
      {"batch-sizes", 0, CLI_ARG_STRING, &a.batches, "LIST",
       "max_batch_size grid (default 1,4,16)"},
      {"delays-us", 0, CLI_ARG_STRING, &a.delays, "LIST",
       "max_queue_delay_us grid (default 0,1000)"},
      {"instances", 0, CLI_ARG_STRING, &a.instances, "LIST", "instances grid (default 1,2)"},
      {"local-steps", 0, CLI_ARG_INT, &a.local_steps, "N",
       "moves of the local search around the grid's best (default 2)"},
      {"concurrency-range", 0, CLI_ARG_STRING, &a.conc_range, "A:B[:S]",
       "closed loop: concurrencies to search (default 1:64)"},
      {"rate-range", 0, CLI_ARG_STRING, &a.rate_range, "A:B[:S]", "open loop: rates to search"},
      {"window", 0, CLI_ARG_DOUBLE, &a.window, "S", "measurement window (default 1)"},
      {"duration", 0, CLI_ARG_DOUBLE, &a.duration, "S", "at most S seconds per point (default 10)"},
      {"stability", 0, CLI_ARG_DOUBLE, &a.stability, "PCT",
       "windows agree within +-PCT% (default 10)"},
      {"timeout", 0, CLI_ARG_DOUBLE, &a.timeout, "S", "per-request timeout (default 10)"},
      {"batch", 0, CLI_ARG_INT, &a.batch, "N",
       "rows per request (the leading -1 dimension; default 1)"},
      {"shape", 0, CLI_ARG_STRING, &a.shape, "D,D|IN=D,D;..", "shapes of other -1 dimensions"},
      {"binary", 0, CLI_ARG_FLAG, &a.binary, NULL, "binary tensor data extension"},
      {"bodies", 0, CLI_ARG_INT, &a.bodies, "N", "different request bodies in turn (default 8)"},
      {"cpu-list", 0, CLI_ARG_STRING, &a.cpu_list, "SRV:LOAD",
       "pin the server and this load generator to CPU lists, e.g. 2-7:0-1"},
      {"log-dir", 0, CLI_ARG_STRING, &log_dir, "DIR", "server logs (default /tmp)"},
      {"chart", 0, CLI_ARG_STRING, &a.chart, "FILE.svg",
       "p99 vs throughput of the best configurations"},
      {0}};
  const struct cli_spec spec = {
      "tune",
      "MODEL_DIR --sla p99=50ms [--batch-sizes 1,4,16] [--delays-us 0,1000] [--instances 1,2]",
      "Start `gpuops serve MODEL_DIR` once per configuration (a separate process), search each for "
      "the highest load meeting the SLA, and report the configuration with the highest throughput. "
      "Exit: 0 found, 1 no configuration meets the SLA, 2 bad input, 3 the server cannot be "
      "started or reached.",
      CLI_FORMAT | CLI_OUTPUT,
      opts,
      1,
      1};
  struct cli_common common;
  int npos, rc = cli_parse(&spec, argc, argv, &common, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = fill_spec(&a, &s))) return rc;
  struct stat st;
  if (stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode))
    return cli_usage_error("tune", "MODEL_DIR '%s' is not a directory", argv[1]);
  s.model_dir = argv[1];
  if (log_dir) s.log_dir = log_dir;
  if (mkdir(s.log_dir, 0755) < 0 && errno != EEXIST) /* one level, so a typo is not a tree */
    return cli_usage_error("tune", "--log-dir %s: cannot create it: %s", s.log_dir, strerror(errno));
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = 0;
  s.serve_cmd = a.serve_cmd ? a.serve_cmd : self;
  cpu_set_t server_cpus, load_cpus;
  if (a.cpu_list) {
    if ((rc = cpu_lists(a.cpu_list, &server_cpus, &load_cpus))) return rc;
    if (load_cpus_pin(&load_cpus) < 0) return cli_fail("tune", ERR_INVALID);
    s.server_cpus = &server_cpus;
  }
  s.progress = stderr;
  struct tune_result r;
  bool close_it = false;
  rc = tune_run(&s, &r);
  FILE *out = rc == 0 ? cli_output_open("tune", &common, &close_it) : NULL;
  if (rc == 0 && !out) rc = ERR_IO;
  if (rc == 0) {
    rc = tune_write(out, &s, &r, common.format);
    cli_output_close(out, close_it);
    if (common.format != TABLE_FMT_TABLE || common.output) tune_verdict(stderr, &s, &r);
  }
  if (rc == 0 && a.chart) rc = tune_chart(a.chart, &s, &r);
  bool met = r.best >= 0;
  tune_result_free(&r);
  if (rc < 0) return cli_fail("tune", rc);
  return met ? EXIT_OK : EXIT_CHECK;
}
