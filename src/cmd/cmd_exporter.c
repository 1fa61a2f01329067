/*
 * cmd_exporter.c — `gpuops exporter`: the Prometheus exporter
 * (telemetry/exporter.h) on 127.0.0.1:9400 unless told otherwise, until
 * SIGINT or SIGTERM.
 *
 * It never falls back to the simulator (DESIGN.md): without NVML and a GPU it
 * exits 3 unless --backend sim is given, and every simulated series carries
 * simulated="true". XID events are read through a second backend of the same
 * kind, so the sampler thread keeps its own.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "telemetry/exporter.h"
#include "telemetry/thresholds.h"

struct exporter_args {
  const char *listen, *thresholds, *hostname;
  int interval_ms, threads, max_connections, idle_timeout_s;
  bool no_events;
};

static int check_args(const struct exporter_args *a) {
  if (a->interval_ms < 100 || a->interval_ms > 3600000)
    return cli_usage_error("exporter", "--interval must be 100..3600000 ms, got %d",
                           a->interval_ms);
  if (a->threads < 1 || a->threads > 64)
    return cli_usage_error("exporter", "--threads must be 1..64, got %d", a->threads);
  if (a->max_connections < 16 || a->max_connections > 1000000)
    return cli_usage_error("exporter", "--max-connections must be 16..1000000, got %d",
                           a->max_connections);
  if (a->idle_timeout_s < 1 || a->idle_timeout_s > 3600)
    return cli_usage_error("exporter", "--idle-timeout must be 1..3600 s, got %d",
                           a->idle_timeout_s);
  return 0;
}

/* Block the stop signals in every thread; the main thread waits for them with sigwait. */
static void block_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int serve(const struct exporter_config *cfg, struct gpu_backend *b, const sigset_t *stop) {
  struct exporter *e = NULL;
  int rc = exporter_start(cfg, &e);
  if (rc < 0) return rc;
  fprintf(stderr,
          "gpuops exporter: listening on %s (/metrics, /health); backend %s%s, every %d ms\n",
          exporter_url(e), gpu_backend_name(b), b->simulated ? " — SIMULATED GPUs" : "",
          cfg->interval_ms);
  int sig = 0;
  sigwait(stop, &sig);
  fprintf(stderr, "gpuops exporter: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
  exporter_stop(e);
  return 0;
}

int cmd_exporter(int argc, char **argv) {
  struct exporter_args a = {.listen = "127.0.0.1:9400",
                            .interval_ms = 1000,
                            .threads = 4,
                            .max_connections = 4096,
                            .idle_timeout_s = 10};
  const struct cli_option opts[] = {
      {"listen", 0, CLI_ARG_STRING, &a.listen, "HOST:PORT",
       "address to serve on (default 127.0.0.1:9400; [::1]:9400; 0.0.0.0:9400 for every interface; "
       "port 0: any free port)"},
      {"interval", 0, CLI_ARG_INT, &a.interval_ms, "MS", "sampling interval (default 1000)"},
      {"thresholds", 0, CLI_ARG_STRING, &a.thresholds, "FILE",
       "health thresholds (YAML, see docs/telemetry.md)"},
      {"hostname", 0, CLI_ARG_STRING, &a.hostname, "NAME",
       "the Hostname label (default: this host's name)"},
      {"threads", 0, CLI_ARG_INT, &a.threads, "N", "HTTP worker threads (default 4)"},
      {"max-connections", 0, CLI_ARG_INT, &a.max_connections, "N",
       "concurrent connections accepted (default 4096)"},
      {"idle-timeout", 0, CLI_ARG_INT, &a.idle_timeout_s, "S",
       "close a connection idle this long (default 10; bounds what slow clients hold)"},
      {"no-events", 0, CLI_ARG_FLAG, &a.no_events, NULL, "do not watch XID events"},
      {0}};
  const struct cli_spec spec = {
      "exporter",
      "[--listen HOST:PORT] [--interval MS] [--backend nvml|sim] [options]",
      "Serve GPU metrics for Prometheus (dcgm-exporter's names, plus gpuops_* health and XID "
      "series) on "
      "/metrics and the health verdict as JSON on /health, until SIGINT/SIGTERM.\n"
      "Never falls back to simulated GPUs: without NVML and a GPU it exits 3 unless --backend sim.",
      CLI_BACKEND | CLI_SPEC | CLI_NODE,
      opts,
      0,
      0};
  struct cli_common c;
  int npos, rc = cli_parse(&spec, argc, argv, &c, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = check_args(&a))) return rc;

  struct thresholds t;
  struct inventory inv;
  struct gpu_options go;
  struct gpu_backend *b = NULL, *events = NULL;
  sigset_t stop;
  thresholds_default(&t);
  inventory_init(&inv);
  if (a.thresholds && (rc = thresholds_load(&t, a.thresholds)) < 0) goto out;
  if ((rc = cli_gpu_options(&c, &inv, &go)) < 0) goto out;
  go.allow_sim_fallback = false;
  if ((rc = gpu_open(&go, &b)) < 0) goto out;
  if (!a.no_events && gpu_open(&go, &events) < 0) {
    fprintf(stderr, "gpuops exporter: warning: no XID events: %s\n", err_msg());
    events = NULL;
  }
  block_signals(&stop);
  struct exporter_config cfg = {.listen = a.listen,
                                .interval_ms = a.interval_ms,
                                .backend = b,
                                .events = events,
                                .t = &t,
                                .hostname = a.hostname,
                                .threads = a.threads,
                                .max_connections = a.max_connections,
                                .timeout_s = a.idle_timeout_s};
  rc = serve(&cfg, b, &stop);
out:
  gpu_close(events);
  gpu_close(b);
  inventory_free(&inv);
  return rc < 0 ? cli_fail("exporter", rc) : 0;
}
