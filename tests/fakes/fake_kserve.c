/*
 * fake_kserve.c — a small KServe v2 server with a known latency curve, for
 * the load generator's and the tuner's end-to-end tests (gpuops load and
 * gpuops tune are clients; they never include src/serve, so they are tested
 * against a server process on loopback).
 *
 * Service model: each infer request takes a fixed service time on one of
 * `instances` workers (libmicrohttpd threads, one request at a time each), so
 * with one instance and Poisson arrivals the latency is that of an M/D/1
 * queue and throughput caps at 1 / service time. To stand in for
 * `gpuops serve` under the tuner it takes the same flags; the batcher
 * settings only scale the service time:
 *   service = service_us * (1 + 1/max_batch_size) / 2 + max_queue_delay_us / 4
 * (a larger batch amortizes the fixed cost; waiting for a batch adds delay).
 *
 * Usage: fake_kserve [serve] MODEL_DIR [--listen 127.0.0.1:0] [--name N]
 *   [--service-us S] [--max-batch-size B] [--max-queue-delay-us U]
 *   [--instances I] [--device D] [--preferred-batch-size L] [--max-queue-size Q]
 * The environment variable FAKE_KSERVE_SERVICE_US sets the default service
 * time (for tests that start it through the tuner, which passes only serve's
 * flags). Prints "fake_kserve: listening on http://127.0.0.1:PORT" on stdout when
 * ready; SIGTERM stops it. The model has one FP32 input "input" of shape
 * [-1, 16]; infer bodies are checked (JSON data length, or the binary
 * extension's header length and sizes) and answered 400 when wrong.
 *
 * Sections: options, the model and its checks, HTTP, main.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- options --- */

static struct {
  const char *name;
  double service_us, delay_us;
  int batch, instances, port;
} opt = {NULL, 2000, 0, 1, 1, 0};

static volatile sig_atomic_t stop;

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static int parse_args(int argc, char **argv) {
  int i = 1;
  const char *env = getenv("FAKE_KSERVE_SERVICE_US");
  if (env) opt.service_us = atof(env);
  if (i < argc && !strcmp(argv[i], "serve")) i++;
  if (i >= argc) return -1;
  const char *dir = argv[i++], *base = strrchr(dir, '/');
  opt.name = base && base[1] ? base + 1 : dir;
  for (; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--listen")) {
      const char *c = strrchr(v, ':');
      opt.port = c ? atoi(c + 1) : -1;
    } else if (!strcmp(k, "--name")) {
      opt.name = v;
    } else if (!strcmp(k, "--service-us")) {
      opt.service_us = atof(v);
    } else if (!strcmp(k, "--max-batch-size")) {
      opt.batch = atoi(v);
    } else if (!strcmp(k, "--max-queue-delay-us")) {
      opt.delay_us = atof(v);
    } else if (!strcmp(k, "--instances")) {
      opt.instances = atoi(v);
    } else if (strcmp(k, "--device") && strcmp(k, "--preferred-batch-size") &&
               strcmp(k, "--max-queue-size")) {
      fprintf(stderr, "fake_kserve: unknown option %s\n", k);
      return -1;
    }
  }
  return i == argc && opt.batch >= 1 && opt.instances >= 1 && opt.port >= 0 ? 0 : -1;
}

/* --- the model and its checks --- */

static const char *METADATA_FMT =
    "{\"name\":\"%s\",\"versions\":[\"1\"],\"platform\":\"fake\","
    "\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[-1,16]}],"
    "\"outputs\":[{\"name\":\"output\",\"datatype\":\"FP32\",\"shape\":[-1,16]}]}";

/* NULL when body is a valid infer request for the model, else what is wrong. */
static const char *check_infer(const char *body, size_t len, long header_len) {
  size_t hl = header_len >= 0 ? (size_t)header_len : len;
  if (hl > len) return "Inference-Header-Content-Length exceeds the body";
  json_error_t je;
  json_t *doc = json_loadb(body, hl, 0, &je);
  if (!doc) return "malformed JSON";
  const char *err = NULL;
  json_t *in = json_array_get(json_object_get(doc, "inputs"), 0);
  json_t *shape = json_object_get(in, "shape");
  const char *name = json_string_value(json_object_get(in, "name"));
  const char *dt = json_string_value(json_object_get(in, "datatype"));
  json_int_t b = json_integer_value(json_array_get(shape, 0));
  if (!name || strcmp(name, "input") || !dt || strcmp(dt, "FP32"))
    err = "expected input 'input' of datatype FP32";
  else if (json_array_size(shape) != 2 || b < 1 || json_integer_value(json_array_get(shape, 1)) != 16)
    err = "expected shape [B, 16]";
  else if (header_len < 0 && json_array_size(json_object_get(in, "data")) != (size_t)b * 16)
    err = "data does not hold B x 16 values";
  else if (header_len >= 0 &&
           (json_integer_value(json_object_get(json_object_get(in, "parameters"),
                                               "binary_data_size")) != b * 64 ||
            len != hl + (size_t)b * 64))
    err = "binary_data_size or the body's length is not B x 16 x 4 bytes";
  json_decref(doc);
  return err;
}

static void serve_time(void) {
  double us = opt.service_us * (1 + 1.0 / opt.batch) / 2 + opt.delay_us / 4;
  struct timespec ts = {(time_t)(us / 1e6), (long)((us - (time_t)(us / 1e6) * 1e6) * 1e3)};
  while (nanosleep(&ts, &ts) < 0) {
  }
}

/* --- HTTP --- */

struct upload {
  char *p;
  size_t n;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state) {
  (void)cls, (void)version;
  char path[256], buf[1024];
  if (!*state) {
    *state = calloc(1, sizeof(struct upload));
    return *state ? MHD_YES : MHD_NO;
  }
  struct upload *u = *state;
  if (*size) { /* collect the body */
    char *np = u->n + *size > (64u << 20) ? NULL : realloc(u->p, u->n + *size + 1);
    if (!np) return MHD_NO;
    memcpy(np + u->n, data, *size);
    u->p = np, u->n += *size, *size = 0;
    return MHD_YES;
  }
  if (!strcmp(url, "/v2/health/ready") || !strcmp(url, "/v2/health/live")) return reply(c, 200, "");
  snprintf(path, sizeof path, "/v2/models/%s", opt.name);
  if (!strcmp(url, path) && !strcmp(method, "GET")) {
    snprintf(buf, sizeof buf, METADATA_FMT, opt.name);
    return reply(c, 200, buf);
  }
  snprintf(path, sizeof path, "/v2/models/%s/infer", opt.name);
  if (strcmp(url, path) || strcmp(method, "POST")) return reply(c, 404, "{\"error\":\"not found\"}");
  const char *hl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
  const char *bad = check_infer(u->p ? u->p : "", u->n, hl ? atol(hl) : -1);
  if (bad) {
    snprintf(buf, sizeof buf, "{\"error\":\"%s\"}", bad);
    return reply(c, 400, buf);
  }
  serve_time(); /* this worker is busy for the service time: the queue forms in front of it */
  return reply(c, 200, "{\"model_name\":\"fake\",\"outputs\":[]}");
}

static void done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t) {
  (void)cls, (void)c, (void)t;
  struct upload *u = *state;
  if (u) free(u->p);
  free(u);
  *state = NULL;
}

/* --- main --- */

int main(int argc, char **argv) {
  if (parse_args(argc, argv) < 0) {
    fprintf(stderr, "usage: fake_kserve [serve] MODEL_DIR [--listen 127.0.0.1:PORT] [--service-us S] "
                    "[--max-batch-size B] [--max-queue-delay-us U] [--instances I] [--name N]\n");
    return 2;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
      done, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opt.instances, MHD_OPTION_CONNECTION_LIMIT,
      4096u, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "fake_kserve: cannot listen on 127.0.0.1:%d\n", opt.port);
    return 3;
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  printf("fake_kserve: listening on http://127.0.0.1:%u (model %s)\n",
         MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port, opt.name);
  fflush(stdout);
  while (!stop) pause();
  MHD_stop_daemon(d);
  return 0;
}
