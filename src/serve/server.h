/*
 * server.h — the KServe v2 / Open Inference Protocol HTTP server: one model,
 * its dynamic batcher (batcher.h) and its runtime instances (runtime.h), on
 * libmicrohttpd with epoll and suspended connections.
 *
 * Endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/{name},
 * /v2/models/{name}/ready, /v2/models/{name}/stats, /v2/models/stats,
 * /metrics; POST /v2/models/{name}/infer (also under /versions/1/). The
 * model's input is "INPUT0" [batch, in] and its output "OUTPUT0" [batch,
 * out], of the model's datatype (FP32 for the MLP). Errors are
 * {"error": "..."} with Triton's codes: 400 bad request, 404 unknown model or
 * path, 413 body over the limit, 503 queue full / timed out / shutting down /
 * not ready, 500 runtime failure.
 *
 * A queued request holds no thread: its connection is suspended while it
 * waits in the batcher and resumed by the executor that ran it, so overload
 * costs the bounded queue's memory (connections x body limit at most), not
 * threads.
 *
 * Sections: configuration; lifetime.
 */
#ifndef GPUOPS_SERVE_SERVER_H
#define GPUOPS_SERVE_SERVER_H

#include <stddef.h>

#include "serve/batcher.h"
#include "serve/runtime.h"

/* ---- configuration ---- */

struct server_config {
  const char *listen;    /* HOST:PORT (default 127.0.0.1:8000; port 0 = any free one) */
  const char *model_dir;
  const char *name;      /* model name (NULL: the directory's base name) */
  enum runtime_device device;
  struct batcher_config batching; /* max_batch_size <= 0: the model's config.json value */
  size_t max_body_bytes;  /* 413 above (default 64 MiB) */
  int client_timeout_s;   /* idle/slow connection timeout (default 30) */
  int http_threads;       /* libmicrohttpd thread pool (default 2) */
  int max_connections;    /* default 1024 */
};

/* Defaults for everything but model_dir (batching: Triton's defaults). */
void server_config_defaults(struct server_config *c);

/* ---- lifetime ---- */

struct server;

/*
 * Load the model, start cfg->batching.instances runtime instances, their
 * executors and the HTTP server. Returns 0 and *out, or ERR_INVALID /
 * ERR_IO / ERR_PARSE (bad model or settings), ERR_NOLIB / ERR_NODEVICE /
 * ERR_UNSUPPORTED (--device gpu without one), ERR_NOMEM; err_msg() says what
 * and how to fix it.
 */
int server_start(const struct server_config *cfg, struct server **out);
/* "http://127.0.0.1:8000", the bound port, the model's name, the runtime's name
 * ("mlp-cpu"), and a note about the device choice ("" when none). */
const char *server_url(const struct server *s);
int server_port(const struct server *s);
const char *server_model_name(const struct server *s);
const char *server_runtime(const struct server *s);
const char *server_note(const struct server *s);
/*
 * Drain and stop: stop accepting connections (new requests on open ones get
 * 503), run everything queued, send those answers (waiting up to 10 s for
 * slow readers), then stop and free everything. Safe on NULL.
 */
void server_stop(struct server *s);

#endif
