/*
 * stats.h — a served model's statistics, in Triton's two shapes: the
 * statistics extension's JSON (GET /v2/models/{name}/stats) and the
 * Prometheus metrics at /metrics (nv_inference_* with model and version
 * labels, durations as cumulative microsecond counters).
 *
 * Per request: success or failure (by Triton's reason: REJECTED for a full
 * queue or an expired timeout, BACKEND for a runtime failure, OTHER for a bad
 * request), its total duration and its time in the queue. Per batch: the
 * execution count, the rows it ran, and its compute input (gathering rows),
 * infer (the runtime) and output (scattering rows) times, which every
 * request of the batch is charged (Triton's accounting).
 *
 * Sections: recording; rendering.
 * Threads: every function locks the struct's mutex.
 */
#ifndef GPUOPS_SERVE_STATS_H
#define GPUOPS_SERVE_STATS_H

#include <pthread.h>
#include <stdint.h>

#include "serve/infer.h"

enum stats_fail { STATS_FAIL_REJECTED = 0, STATS_FAIL_CANCELED, STATS_FAIL_BACKEND, STATS_FAIL_OTHER, STATS_FAIL_N };

struct stats_duration {
  uint64_t count, ns;
};

struct stats_batch { /* per batch size */
  struct stats_duration compute_input, compute_infer, compute_output;
};

struct stats {
  pthread_mutex_t mu;
  char name[128], version[16];
  int max_batch;
  uint64_t inference_count, exec_count, fail_by[STATS_FAIL_N];
  int64_t last_inference_ms; /* Unix ms of the last completed batch; 0 = none */
  struct stats_duration success, fail, queue, compute_input, compute_infer, compute_output;
  struct stats_batch *batch; /* [max_batch + 1] */
};

/* ---- recording ---- */

/* 0 or ERR_NOMEM. */
int stats_init(struct stats *s, const char *name, const char *version, int max_batch);
void stats_free(struct stats *s);
/* A request answered: ok, or failed with reason; total_ns from receipt to answer. */
void stats_request(struct stats *s, int ok, enum stats_fail reason, int64_t total_ns);
/* A request's time in the queue (ns), when it leaves it for a batch. */
void stats_queue(struct stats *s, int64_t queue_ns);
/* A batch of n requests and rows rows ran with these times (ns). */
void stats_batch(struct stats *s, int n, int rows, int64_t input_ns, int64_t infer_ns,
                 int64_t output_ns);

/* ---- rendering ---- */

/* Append Triton's statistics JSON ({"model_stats": [...]}) to b. */
void stats_write_json(struct stats *s, struct infer_buf *b);
/* Append the nv_inference_* families (Prometheus text 0.0.4) to b; pending = queued now. */
void stats_write_prometheus(struct stats *s, struct infer_buf *b, int pending);

#endif
