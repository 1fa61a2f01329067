/*
 * tune.h — `gpuops tune`: find the server configuration with the highest
 * throughput that meets a latency SLA (Triton Model Analyzer's job). For each
 * configuration (max_batch_size, max_queue_delay_us, instances) it starts the
 * server as a separate process (`SERVE_CMD serve MODEL_DIR --listen
 * 127.0.0.1:0 --max-batch-size B --max-queue-delay-us U --instances I ...`,
 * load/server.h), generates KServe v2 bodies from the model's metadata
 * (load/payload.h), runs the SLA search (load/sla.h) against it, and stops
 * it with SIGTERM. The load never shares the server's process or, with CPU
 * lists, its cores.
 *
 * Search: every configuration of the grid (brute force), then a local search
 * around the best: its neighbours (batch x2 and /2, delay x2 and /2 or the
 * smallest positive delay from 0, instances +-1) are tried, moving to the best
 * neighbour while one improves, for at most local_steps moves. No
 * configuration is tried twice.
 *
 * Sections: the specification, results, running, output.
 * Threads: runs on the calling thread; servers are child processes.
 */
#ifndef GPUOPS_LOAD_TUNE_H
#define GPUOPS_LOAD_TUNE_H

#define _GNU_SOURCE
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>

#include "load/loadgen.h"
#include "load/range.h"
#include "load/sla.h"

/* --- the specification --- */

enum { TUNE_MAX_GRID = 16 };

struct tune_server_cfg {
  int max_batch, delay_us, instances;
};

struct tune_spec {
  const char *serve_cmd;  /* the gpuops binary to start ("serve" is its first argument) */
  const char *model_dir;
  const char *name;       /* model name (NULL: the server's default, the directory's base name) */
  const char *device;     /* cpu|gpu|auto, passed as --device (NULL: not passed) */
  int batches[TUNE_MAX_GRID], n_batches;     /* max_batch_size values of the grid */
  int delays[TUNE_MAX_GRID], n_delays;       /* max_queue_delay_us values */
  int instances[TUNE_MAX_GRID], n_instances; /* instance counts */
  int local_steps;        /* local search moves after the grid (0: none) */
  struct sla sla;
  struct load_range range;   /* loads the SLA search picks from */
  struct load_config load;   /* mode, windows, timeout... (url and bodies set per server) */
  int payload_batch;         /* the leading -1 dimension of request tensors */
  const char *payload_shape; /* --shape for other -1 dimensions (NULL: none) */
  bool binary;               /* binary tensor data extension */
  int n_bodies;
  const cpu_set_t *server_cpus; /* NULL: not pinned */
  const char *log_dir;          /* server logs go to LOG_DIR/serve-<i>.log */
  double ready_timeout_s;       /* to start and answer /v2/health/ready */
  FILE *progress;               /* a line per point and per configuration (NULL: quiet) */
};

/* Defaults: grid batches 1,4,16 x delays 0,1000 x instances 1,2; 2 local steps; payload batch 1. */
void tune_spec_defaults(struct tune_spec *s);

/* --- results --- */

struct tune_trial {
  struct tune_server_cfg cfg;
  struct sla_result search; /* every load point tried against this server */
  double throughput;        /* of the best point meeting the SLA (0: none met) */
  int rc;                   /* 0, or why this configuration could not be measured */
  char error[256];          /* its message */
  bool local;               /* found by the local search (not on the grid) */
};

struct tune_result {
  struct tune_trial *trials; /* in the order tried */
  int n, cap;
  int best; /* the trial with the highest throughput meeting the SLA; -1: none */
};

void tune_result_free(struct tune_result *r);
/* "b=8 d=500us i=2" into buf. */
void tune_cfg_label(const struct tune_server_cfg *c, char *buf, int len);

/* --- running --- */

/*
 * Try the grid then the local search, filling *r (free with tune_result_free,
 * also after an error). A configuration whose server does not start or stops
 * answering is recorded (rc, error) and the search goes on. Returns 0 when at
 * least one configuration was measured (check r->best for the SLA verdict);
 * otherwise the first trial's error (ERR_INVALID: the command cannot be
 * started; ERR_UNREACHABLE: the server never became ready).
 */
int tune_run(const struct tune_spec *s, struct tune_result *r);

/* --- output --- */

/*
 * Write the result: a table (the verdict line, one row per configuration,
 * then every load point tried), JSON (the verdict and every configuration
 * with its points) or CSV (one row per configuration). 0, ERR_NOMEM or ERR_IO.
 */
int tune_write(FILE *out, const struct tune_spec *s, const struct tune_result *r,
               enum table_format fmt);
/* The verdict as one line ("best: b=8 d=500us i=2: 812.3 req/s at p99<=50ms"). */
void tune_verdict(FILE *out, const struct tune_spec *s, const struct tune_result *r);
/* Chart: the corrected p99 against throughput of the (at most 10) best configurations. */
int tune_chart(const char *path, const struct tune_spec *s, const struct tune_result *r);

#endif
