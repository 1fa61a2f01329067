/*
 * cmd_serve.c — `gpuops serve MODEL_DIR`: the KServe v2 inference server
 * (serve/server.h) with its dynamic batcher (serve/batcher.h).
 *
 * Batching settings, each layer over the one before: Triton's defaults; the
 * "batching" object of the model's config.json; --config FILE (a JSON object
 * of the same settings, or one holding a "batching" object); the flags.
 * Prints one line on stdout when ready, with the bound address (port 0 takes
 * a free one); SIGTERM or SIGINT drains (stop accepting, finish what is
 * queued) and exits 0.
 *
 * Sections: settings; the command.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "serve/server.h"

/* ---- settings ---- */

struct serve_flags { /* -1 / NULL: not given */
  int max_batch, delay_us, instances, queue_size, timeout_us, body_bytes, levels, default_level;
  const char *preferred, *action;
};

/* Apply a JSON file's batching settings: its "batching" object, or (when it has none and
 * whole_object) the object itself. A model config without "batching" adds nothing. */
static int apply_file(struct batcher_config *bc, const char *path, bool whole_object) {
  json_t *doc = NULL;
  int rc = jsonio_load_file(path, &doc);
  if (rc) return rc;
  const json_t *b = json_is_object(doc) ? json_object_get(doc, "batching") : NULL;
  if (b || whole_object) rc = batcher_config_apply_json(bc, b ? b : doc, path);
  json_decref(doc);
  return rc;
}

/* "4,8" -> preferred sizes. */
static int parse_preferred(struct batcher_config *bc, const char *s) {
  bc->n_preferred = 0;
  for (const char *p = s; *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',') || v < 1 || v > 1 << 20 ||
        bc->n_preferred == BATCHER_MAX_PREFERRED)
      return err_set(ERR_INVALID, "--preferred-batch-size '%s': need up to %d comma-separated sizes >= 1",
                     s, BATCHER_MAX_PREFERRED);
    bc->preferred[bc->n_preferred++] = (int)v;
    p = *end ? end + 1 : end;
  }
  return 0;
}

static int apply_flags(struct server_config *sc, const struct serve_flags *f) {
  struct batcher_config *bc = &sc->batching;
  if (f->max_batch >= 0) bc->max_batch_size = f->max_batch;
  if (f->delay_us >= 0) bc->max_queue_delay_us = f->delay_us;
  if (f->instances >= 0) bc->instances = f->instances;
  if (f->queue_size >= 0) bc->max_queue_size = f->queue_size;
  if (f->timeout_us >= 0) bc->default_timeout_us = f->timeout_us;
  if (f->levels >= 0) bc->priority_levels = f->levels;
  if (f->default_level >= 0) bc->default_priority = f->default_level;
  if (f->body_bytes >= 0) sc->max_body_bytes = (size_t)f->body_bytes;
  if (f->action) {
    if (strcmp(f->action, "reject") && strcmp(f->action, "delay"))
      return err_set(ERR_INVALID, "--timeout-action '%s': use reject or delay", f->action);
    bc->timeout_action = strcmp(f->action, "reject") ? BATCHER_DELAY : BATCHER_REJECT;
  }
  if (f->preferred) return parse_preferred(bc, f->preferred);
  return 0;
}

/* Settings from config.json, --config and the flags, checked. */
static int settings(struct server_config *sc, const char *config_file, const struct serve_flags *f) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", sc->model_dir);
  int rc = apply_file(&sc->batching, path, false);
  if (!rc && config_file) rc = apply_file(&sc->batching, config_file, true);
  if (!rc) rc = apply_flags(sc, f);
  if (rc) return rc;
  struct batcher_config check = sc->batching;
  if (check.max_batch_size <= 0) check.max_batch_size = 1 << 20; /* the model's: checked at start */
  return batcher_config_check(&check);
}

/* ---- the command ---- */

static int run_server(const struct server_config *sc) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread starts: they inherit it */
  struct server *s = NULL;
  int rc = server_start(sc, &s);
  if (rc) return rc;
  if (server_note(s)[0]) fprintf(stderr, "gpuops serve: %s\n", server_note(s));
  printf("gpuops serve: model '%s' (%s) ready at %s\n", server_model_name(s), server_runtime(s),
         server_url(s));
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  fprintf(stderr, "gpuops serve: %s: draining (no new connections; finishing what is queued)\n",
          sig == SIGINT ? "interrupted" : "terminated");
  server_stop(s);
  fprintf(stderr, "gpuops serve: stopped\n");
  return 0;
}

int cmd_serve(int argc, char **argv) {
  struct server_config sc;
  server_config_defaults(&sc);
  struct serve_flags f = {-1, -1, -1, -1, -1, -1, -1, -1, NULL, NULL};
  const char *device = "auto", *config_file = NULL;
  int client_timeout = sc.client_timeout_s, threads = sc.http_threads, conns = sc.max_connections;
  const struct cli_option opts[] = {
      {"listen", 0, CLI_ARG_STRING, &sc.listen, "HOST:PORT",
       "address (default 127.0.0.1:8000; port 0: any free port, printed when ready)"},
      {"name", 0, CLI_ARG_STRING, &sc.name, "N", "model name (default: the directory's name)"},
      {"device", 0, CLI_ARG_STRING, &device, "cpu|gpu|auto", "where the model runs (default auto)"},
      {"config", 0, CLI_ARG_STRING, &config_file, "FILE", "batching settings (JSON, Triton's names)"},
      {"max-batch-size", 0, CLI_ARG_INT, &f.max_batch, "N", "rows per batch (default: the model's)"},
      {"preferred-batch-size", 0, CLI_ARG_STRING, &f.preferred, "A,B", "batch sizes to send at once"},
      {"max-queue-delay-us", 0, CLI_ARG_INT, &f.delay_us, "U", "longest wait to fill a batch (default 0)"},
      {"instances", 0, CLI_ARG_INT, &f.instances, "I", "parallel executors, one runtime each (default 1)"},
      {"priority-levels", 0, CLI_ARG_INT, &f.levels, "L", "priority levels, 1 highest (default 1)"},
      {"default-priority", 0, CLI_ARG_INT, &f.default_level, "P", "level of requests without one"},
      {"max-queue-size", 0, CLI_ARG_INT, &f.queue_size, "Q", "per level; over it: 503 (default 0: unbounded)"},
      {"timeout-action", 0, CLI_ARG_STRING, &f.action, "reject|delay", "at a request's timeout (default reject)"},
      {"default-timeout-us", 0, CLI_ARG_INT, &f.timeout_us, "T", "queue timeout (default 0: none)"},
      {"max-body-bytes", 0, CLI_ARG_INT, &f.body_bytes, "B", "413 above (default 67108864)"},
      {"client-timeout", 0, CLI_ARG_INT, &client_timeout, "S", "close idle or slow connections (default 30)"},
      {"http-threads", 0, CLI_ARG_INT, &threads, "N", "HTTP threads (default 2)"},
      {"max-connections", 0, CLI_ARG_INT, &conns, "N", "open connections at most (default 1024)"},
      {0}};
  const struct cli_spec spec = {
      "serve",
      "MODEL_DIR [--listen HOST:PORT] [--device cpu|gpu|auto] [batching options]",
      "KServe v2 / Open Inference Protocol server with Triton's dynamic batcher. SIGTERM drains.",
      0,
      opts,
      1,
      1};
  struct cli_common common;
  int npos, rc = cli_parse(&spec, argc, argv, &common, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  sc.model_dir = argv[1];
  sc.client_timeout_s = client_timeout, sc.http_threads = threads, sc.max_connections = conns;
  if (runtime_device_parse(device, &sc.device)) return cli_usage_error("serve", "%s", err_msg());
  if ((rc = settings(&sc, config_file, &f))) return cli_fail("serve", rc);
  if ((rc = run_server(&sc))) return cli_fail("serve", rc);
  return 0;
}
