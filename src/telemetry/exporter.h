/*
 * exporter.h — the Prometheus exporter: an HTTP server (libmicrohttpd, epoll,
 * a thread pool, a connection limit) serving /metrics (text 0.0.4, or
 * OpenMetrics when Accept asks) and /health (the health verdict as JSON).
 *
 * Three kinds of threads:
 *   - the sampler thread owns the sampling backend: every interval it samples
 *     every GPU, evaluates health, renders both exposition formats and the
 *     /health JSON into an immutable snapshot and swaps it in;
 *   - the event thread waits on a second backend for XID events, counts and
 *     logs each with its meaning and action, and wakes the sampler so the
 *     next snapshot shows it;
 *   - the HTTP pool threads answer requests from the current snapshot (a
 *     reference-counted pointer taken under a mutex): a request never calls
 *     NVML and never waits for a sample.
 * When a sampling pass fails on every GPU the previous snapshot keeps being
 * served, and gpuops_exporter_sample_errors_total counts the failures.
 *
 * Sections: configuration; start/stop; statistics.
 */
#ifndef GPUOPS_TELEMETRY_EXPORTER_H
#define GPUOPS_TELEMETRY_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "telemetry/thresholds.h"

/* ---- configuration ---- */
struct exporter_config {
  const char *listen; /* "127.0.0.1:9400" (NULL: that); "[::1]:9400"; port 0 picks a free port */
  int interval_ms;    /* sampling interval (0: 1000) */
  struct gpu_backend *backend; /* sampled by the sampler thread; borrowed, required */
  struct gpu_backend
      *events; /* XID events (a second backend of the same kind), or NULL; borrowed */
  const struct thresholds *t; /* NULL: defaults */
  const char *hostname;       /* Hostname label and /health host (NULL: gethostname()) */
  int threads;                /* HTTP thread pool size (0: 4) */
  int max_connections;        /* concurrent connections accepted (0: 4096) */
  int timeout_s;              /* idle connection timeout (0: 10) */
};

/* ---- start/stop ---- */
struct exporter;

/*
 * Take a first sample (so the first scrape has data), bind the listening
 * socket, start the threads and the server. Returns 0 and *out (free with
 * exporter_stop), or a negative error: ERR_NODEVICE/ERR_* from the backend,
 * ERR_IO naming the address when it cannot listen.
 */
int exporter_start(const struct exporter_config *c, struct exporter **out);
/* Stop the server and the threads, release everything (the backends stay the caller's). NULL is
 * fine. */
void exporter_stop(struct exporter *e);
/* The bound port (the real one when the config asked for port 0). */
int exporter_port(const struct exporter *e);
/* "http://127.0.0.1:9400" — static storage in e. */
const char *exporter_url(const struct exporter *e);

/* ---- statistics (for tests and logs; thread-safe) ---- */
struct exporter_stats {
  uint64_t passes;        /* sampling passes done (each one's snapshot already served) */
  uint64_t sample_errors; /* failed device samples */
  uint64_t scrapes;       /* /metrics answered */
  uint64_t xid_events;    /* XID events received */
  bool events_ok;         /* the event thread is watching */
};
void exporter_get_stats(struct exporter *e, struct exporter_stats *out);

#endif
