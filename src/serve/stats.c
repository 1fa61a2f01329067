/*
 * stats.c — a served model's statistics (stats.h).
 *
 * Sections: recording; rendering the JSON; rendering the metrics.
 */
#include "serve/stats.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"

static const char *const fail_names[STATS_FAIL_N] = {"REJECTED", "CANCELED", "BACKEND", "OTHER"};

/* ---- recording ---- */

int stats_init(struct stats *s, const char *name, const char *version, int max_batch) {
  memset(s, 0, sizeof *s);
  s->batch = calloc((size_t)max_batch + 1, sizeof *s->batch);
  if (!s->batch) return err_set(ERR_NOMEM, "out of memory for batch statistics");
  snprintf(s->name, sizeof s->name, "%s", name);
  snprintf(s->version, sizeof s->version, "%s", version);
  s->max_batch = max_batch;
  pthread_mutex_init(&s->mu, NULL);
  return 0;
}

void stats_free(struct stats *s) {
  if (!s->batch) return;
  pthread_mutex_destroy(&s->mu);
  free(s->batch);
  memset(s, 0, sizeof *s);
}

static void add(struct stats_duration *d, uint64_t count, int64_t ns) {
  d->count += count;
  d->ns += (uint64_t)(ns > 0 ? ns : 0) * count;
}

void stats_request(struct stats *s, int ok, enum stats_fail reason, int64_t total_ns) {
  pthread_mutex_lock(&s->mu);
  add(ok ? &s->success : &s->fail, 1, total_ns);
  if (!ok) s->fail_by[reason]++;
  pthread_mutex_unlock(&s->mu);
}

void stats_queue(struct stats *s, int64_t queue_ns) {
  pthread_mutex_lock(&s->mu);
  add(&s->queue, 1, queue_ns);
  pthread_mutex_unlock(&s->mu);
}

void stats_batch(struct stats *s, int n, int rows, int64_t input_ns, int64_t infer_ns,
                 int64_t output_ns) {
  pthread_mutex_lock(&s->mu);
  s->exec_count++;
  s->inference_count += (uint64_t)rows;
  s->last_inference_ms = time_wall_ns() / 1000000;
  add(&s->compute_input, (uint64_t)n, input_ns);
  add(&s->compute_infer, (uint64_t)n, infer_ns);
  add(&s->compute_output, (uint64_t)n, output_ns);
  if (rows >= 1 && rows <= s->max_batch) {
    struct stats_batch *b = &s->batch[rows];
    add(&b->compute_input, 1, input_ns);
    add(&b->compute_infer, 1, infer_ns);
    add(&b->compute_output, 1, output_ns);
  }
  pthread_mutex_unlock(&s->mu);
}

/* ---- rendering the JSON ---- */

static void duration_json(struct infer_buf *b, const char *key, const struct stats_duration *d,
                          int comma) {
  infer_buf_printf(b, "%s\"%s\":{\"count\":%llu,\"ns\":%llu}", comma ? "," : "", key,
                   (unsigned long long)d->count, (unsigned long long)d->ns);
}

void stats_write_json(struct stats *s, struct infer_buf *b) {
  static const struct stats_duration zero;
  pthread_mutex_lock(&s->mu);
  infer_buf_printf(b,
                   "{\"model_stats\":[{\"name\":\"%s\",\"version\":\"%s\",\"last_inference\":%lld,"
                   "\"inference_count\":%llu,\"execution_count\":%llu,\"inference_stats\":{",
                   s->name, s->version, (long long)s->last_inference_ms,
                   (unsigned long long)s->inference_count, (unsigned long long)s->exec_count);
  duration_json(b, "success", &s->success, 0);
  duration_json(b, "fail", &s->fail, 1);
  duration_json(b, "queue", &s->queue, 1);
  duration_json(b, "compute_input", &s->compute_input, 1);
  duration_json(b, "compute_infer", &s->compute_infer, 1);
  duration_json(b, "compute_output", &s->compute_output, 1);
  duration_json(b, "cache_hit", &zero, 1);
  duration_json(b, "cache_miss", &zero, 1);
  infer_buf_append(b, "},\"batch_stats\":[", 17);
  int first = 1;
  for (int r = 1; r <= s->max_batch; r++) {
    const struct stats_batch *x = &s->batch[r];
    if (!x->compute_infer.count) continue;
    infer_buf_printf(b, "%s{\"batch_size\":%d", first ? "" : ",", r);
    duration_json(b, "compute_input", &x->compute_input, 1);
    duration_json(b, "compute_infer", &x->compute_infer, 1);
    duration_json(b, "compute_output", &x->compute_output, 1);
    infer_buf_append(b, "}", 1);
    first = 0;
  }
  infer_buf_append(b, "]}]}\n", 5);
  pthread_mutex_unlock(&s->mu);
}

/* ---- rendering the metrics ---- */

static void family(struct infer_buf *b, const char *name, const char *type, const char *help) {
  infer_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct infer_buf *b, const struct stats *s, const char *name, const char *extra,
                   double v) {
  infer_buf_printf(b, "%s{model=\"%s\",%sversion=\"%s\"} %.17g\n", name, s->name, extra ? extra : "",
                   s->version, v);
}

static void counter(struct infer_buf *b, const struct stats *s, const char *name, const char *help,
                    double v) {
  family(b, name, "counter", help);
  sample(b, s, name, NULL, v);
}

void stats_write_prometheus(struct stats *s, struct infer_buf *b, int pending) {
  pthread_mutex_lock(&s->mu);
  counter(b, s, "nv_inference_request_success",
          "Number of successful inference requests, all batch sizes", (double)s->success.count);
  family(b, "nv_inference_request_failure", "counter",
         "Number of failed inference requests, all batch sizes");
  for (int r = 0; r < STATS_FAIL_N; r++) {
    char label[48];
    snprintf(label, sizeof label, "reason=\"%s\",", fail_names[r]);
    sample(b, s, "nv_inference_request_failure", label, (double)s->fail_by[r]);
  }
  counter(b, s, "nv_inference_count", "Number of inferences performed (does not include cached requests)",
          (double)s->inference_count);
  counter(b, s, "nv_inference_exec_count",
          "Number of model executions performed (does not include cached requests)",
          (double)s->exec_count);
  counter(b, s, "nv_inference_request_duration_us",
          "Cumulative inference request duration in microseconds",
          (double)((s->success.ns + s->fail.ns) / 1000));
  counter(b, s, "nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
          (double)(s->queue.ns / 1000));
  counter(b, s, "nv_inference_compute_input_duration_us",
          "Cumulative compute input duration in microseconds", (double)(s->compute_input.ns / 1000));
  counter(b, s, "nv_inference_compute_infer_duration_us",
          "Cumulative compute inference duration in microseconds", (double)(s->compute_infer.ns / 1000));
  counter(b, s, "nv_inference_compute_output_duration_us",
          "Cumulative inference compute output duration in microseconds",
          (double)(s->compute_output.ns / 1000));
  family(b, "nv_inference_pending_request_count", "gauge",
         "Instantaneous number of pending requests awaiting execution per-model.");
  sample(b, s, "nv_inference_pending_request_count", NULL, pending);
  pthread_mutex_unlock(&s->mu);
}
