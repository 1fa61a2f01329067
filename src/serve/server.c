/*
 * server.c — the inference server (server.h).
 *
 * A POST to /infer lives in one struct call, created on libmicrohttpd's first
 * callback and freed by its completion callback:
 *   BODY    the body arrives (bounded by max_body_bytes; over it: 413);
 *   QUEUED  parsed and checked, the connection suspended, the request in the
 *           batcher: no thread waits for it;
 *   DONE    an executor gathered its rows into a batch, ran the runtime,
 *           scattered the output rows back (or set an error) and resumed the
 *           connection; the next callback writes the response.
 * The executors never touch libmicrohttpd but through MHD_resume_connection,
 * which is thread-safe.
 *
 * Sections: state; responses; the model's endpoints; inference; the
 * executors; routing; lifetime.
 */
#include "serve/server.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/listener.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "serve/infer.h"
#include "serve/stats.h"
#include "version.h"

/* ---- state ---- */

#define MODEL_VERSION "1"
#define INPUT_NAME    "INPUT0"
#define OUTPUT_NAME   "OUTPUT0"
#define ROW_ALIGN     64

struct server {
  struct server_config cfg;
  struct model model;
  const struct runtime_ops *rt;
  void *inst[BATCHER_MAX_INSTANCES];
  void *in_buf[BATCHER_MAX_INSTANCES], *out_buf[BATCHER_MAX_INSTANCES]; /* per executor */
  char name[64], note[512];
  size_t in_row_bytes, out_row_bytes;
  struct batcher batcher;
  bool batcher_started;
  struct stats stats;
  struct listener l;
  struct MHD_Daemon *daemon;
  atomic_bool draining;
  atomic_int calls; /* infer calls alive (created, not yet completed) */
};

enum call_state { CALL_BODY = 0, CALL_QUEUED, CALL_DONE, CALL_ANSWERED };

struct call {
  struct server *s;
  struct MHD_Connection *conn;
  enum call_state state;
  int64_t t0_ns; /* first callback */
  char *body;
  size_t len, cap;
  bool too_big;
  struct infer_request req;
  const struct infer_tensor *input;
  struct batcher_request br;
  void *out; /* rows x out_row_bytes, written by the executor */
  int status; /* set with DONE: 200 or the error's code */
  enum stats_fail reason;
  char error[512];
};

/* ---- responses ---- */

/* Queue body[0..len) (malloc'ed; taken) with a content type and optional header length. */
static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned code, struct infer_buf *b,
                                const char *type, size_t header_len) {
  if (b->oom) {
    infer_buf_free(b);
    return MHD_NO;
  }
  struct MHD_Response *r =
      MHD_create_response_from_buffer(b->len, b->p ? b->p : (void *)"", b->p ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!r) {
    infer_buf_free(b);
    return MHD_NO;
  }
  b->p = NULL;
  infer_buf_free(b);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (header_len) {
    char v[32];
    snprintf(v, sizeof v, "%zu", header_len);
    MHD_add_response_header(r, "Inference-Header-Content-Length", v);
  }
  enum MHD_Result ok = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, struct infer_buf *b) {
  return send_buf(c, code, b, "application/json", 0);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg) {
  struct infer_buf b = {0};
  infer_error_write(&b, msg);
  return send_json(c, code, &b);
}

static enum MHD_Result send_empty(struct MHD_Connection *c, unsigned code) {
  struct infer_buf b = {0};
  return send_buf(c, code, &b, "text/plain", 0);
}

/* ---- the model's endpoints ---- */

static enum MHD_Result send_metadata(struct server *s, struct MHD_Connection *c) {
  const struct model_config *m = &s->model.config;
  struct infer_buf b = {0};
  const char *dt = infer_dtype_name(m->io_dtype);
  infer_buf_printf(&b,
                   "{\"name\":\"%s\",\"versions\":[\"" MODEL_VERSION "\"],\"platform\":\"gpuops_%s\","
                   "\"inputs\":[{\"name\":\"" INPUT_NAME "\",\"datatype\":\"%s\",\"shape\":[-1,%d]}],"
                   "\"outputs\":[{\"name\":\"" OUTPUT_NAME "\",\"datatype\":\"%s\",\"shape\":[-1,%d]}],"
                   "\"parameters\":{\"max_batch_size\":%d,\"runtime\":\"%s\"}}\n",
                   s->name, m->type, dt, m->widths[0], dt, m->widths[m->n_widths - 1],
                   s->batcher.cfg.max_batch_size, s->rt->name);
  return send_json(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result send_server_metadata(struct MHD_Connection *c) {
  struct infer_buf b = {0};
  infer_buf_printf(&b,
                   "{\"name\":\"gpuops\",\"version\":\"%s\",\"extensions\":[\"binary_tensor_data\","
                   "\"statistics\"]}\n",
                   GPUOPS_VERSION);
  return send_json(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result send_stats(struct server *s, struct MHD_Connection *c) {
  struct infer_buf b = {0};
  stats_write_json(&s->stats, &b);
  return send_json(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result send_metrics(struct server *s, struct MHD_Connection *c) {
  struct infer_buf b = {0};
  stats_write_prometheus(&s->stats, &b, batcher_pending(&s->batcher));
  return send_buf(c, MHD_HTTP_OK, &b, "text/plain; version=0.0.4; charset=utf-8", 0);
}

/* ---- inference ---- */

/* Finish a call with an error before it reached the batcher. */
static enum MHD_Result fail_call(struct call *k, unsigned code, enum stats_fail reason,
                                 const char *msg) {
  k->state = CALL_ANSWERED;
  stats_request(&k->s->stats, 0, reason, time_mono_ns() - k->t0_ns);
  return send_error(k->conn, code, msg);
}

/* Check the parsed request against the model: Triton's rules and messages. */
static int check_request(struct server *s, struct call *k) {
  const struct model_config *m = &s->model.config;
  struct infer_request *q = &k->req;
  if (q->n_inputs != 1)
    return err_set(ERR_INVALID, "expected 1 inputs but got %d inputs for model '%s'", q->n_inputs,
                   s->name);
  const struct infer_tensor *t = &q->inputs[0];
  if (strcmp(t->name, INPUT_NAME))
    return err_set(ERR_INVALID, "unexpected inference input '%s' for model '%s' (its input is '" INPUT_NAME "')",
                   t->name, s->name);
  if (t->dtype != m->io_dtype)
    return err_set(ERR_INVALID, "inference input '%s' data-type is '%s', but model '%s' expects '%s'",
                   t->name, infer_dtype_name(t->dtype), s->name, infer_dtype_name(m->io_dtype));
  if (t->ndim != 2 || t->shape[1] != m->widths[0] || t->shape[0] < 1 ||
      t->shape[0] > s->batcher.cfg.max_batch_size)
    return err_set(ERR_INVALID,
                   "unexpected shape for input '%s' for model '%s': expected [1..%d, %d], got "
                   "rank %d [%lld%s%lld]",
                   t->name, s->name, s->batcher.cfg.max_batch_size, m->widths[0], t->ndim,
                   (long long)(t->ndim ? t->shape[0] : 0), t->ndim > 1 ? ", " : "",
                   (long long)(t->ndim > 1 ? t->shape[1] : 0));
  for (int i = 0; i < q->n_outputs; i++)
    if (strcmp(q->outputs[i].name, OUTPUT_NAME))
      return err_set(ERR_INVALID, "unexpected inference output '%s' for model '%s' (its output is '" OUTPUT_NAME "')",
                     q->outputs[i].name, s->name);
  k->input = t;
  return 0;
}

/* Strict non-negative decimal header value; -1 when absent, -2 when malformed. */
static int64_t header_int(struct MHD_Connection *c, const char *name) {
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
  if (!v) return -1;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (end == v || *end || x < 0 || v[0] == '-' || v[0] == '+') return -2;
  return x;
}

/* The body is complete: parse, check, queue. */
static enum MHD_Result start_infer(struct server *s, struct call *k) {
  if (k->too_big) {
    char msg[160];
    snprintf(msg, sizeof msg, "request body is larger than the server's limit of %zu bytes (--max-body-bytes)",
             s->cfg.max_body_bytes);
    return fail_call(k, MHD_HTTP_CONTENT_TOO_LARGE, STATS_FAIL_OTHER, msg);
  }
  int64_t hlen = header_int(k->conn, "Inference-Header-Content-Length");
  if (hlen == -2)
    return fail_call(k, MHD_HTTP_BAD_REQUEST, STATS_FAIL_OTHER,
                     "Inference-Header-Content-Length is not a non-negative integer");
  int rc = infer_request_parse(&k->req, k->body ? k->body : "", k->len, hlen);
  if (!rc) rc = check_request(s, k);
  if (rc)
    return fail_call(k, rc == ERR_NOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_BAD_REQUEST,
                     STATS_FAIL_OTHER, err_msg());
  int rows = (int)k->input->shape[0];
  k->out = aligned_alloc(ROW_ALIGN, ((size_t)rows * s->out_row_bytes + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN);
  if (!k->out) return fail_call(k, MHD_HTTP_INTERNAL_SERVER_ERROR, STATS_FAIL_OTHER, "out of memory");
  k->br = (struct batcher_request){.rows = rows,
                                   .priority = k->req.priority,
                                   .timeout_us = k->req.timeout_us,
                                   .user = k};
  /* Suspend first: once queued, an executor may finish and resume it at any moment. */
  k->state = CALL_QUEUED;
  MHD_suspend_connection(k->conn);
  rc = batcher_submit(&s->batcher, &k->br);
  if (rc) {
    k->status = rc == ERR_STATE ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_BAD_REQUEST;
    k->reason = rc == ERR_STATE ? STATS_FAIL_REJECTED : STATS_FAIL_OTHER;
    snprintf(k->error, sizeof k->error, "%s", err_msg());
    k->state = CALL_DONE;
    MHD_resume_connection(k->conn);
  }
  return MHD_YES;
}

/* An executor finished the call: write the response. */
static enum MHD_Result finish_infer(struct server *s, struct call *k) {
  int64_t dt = time_mono_ns() - k->t0_ns;
  if (k->status != MHD_HTTP_OK) {
    stats_request(&s->stats, 0, k->reason, dt);
    return send_error(k->conn, (unsigned)k->status, k->error);
  }
  const struct model_config *m = &s->model.config;
  struct infer_tensor out = {.name = OUTPUT_NAME, .dtype = m->io_dtype, .ndim = 2, .data = k->out};
  out.shape[0] = k->br.rows;
  out.shape[1] = m->widths[m->n_widths - 1];
  out.numel = (uint64_t)out.shape[0] * (uint64_t)out.shape[1];
  out.nbytes = (size_t)k->br.rows * s->out_row_bytes;
  bool binary = k->req.n_outputs ? k->req.outputs[0].binary : k->req.binary_output;
  struct infer_response resp = {.model_name = s->name, .model_version = MODEL_VERSION,
                                .id = k->req.id, .n_outputs = 1, .outputs = &out, .binary = &binary};
  struct infer_buf b = {0};
  size_t hlen = 0;
  int rc = infer_response_write(&b, &resp, &hlen);
  if (rc) {
    infer_buf_free(&b);
    stats_request(&s->stats, 0, STATS_FAIL_OTHER, dt);
    return send_error(k->conn, rc == ERR_NOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_BAD_REQUEST,
                      err_msg());
  }
  stats_request(&s->stats, 1, 0, dt);
  return send_buf(k->conn, MHD_HTTP_OK, &b, hlen ? "application/octet-stream" : "application/json", hlen);
}

/* Append an upload chunk, keeping at most max_body_bytes. */
static void take_chunk(struct server *s, struct call *k, const char *data, size_t n) {
  if (k->too_big) return;
  if (n > s->cfg.max_body_bytes - k->len) {
    k->too_big = true;
    return;
  }
  if (k->len + n > k->cap) {
    size_t cap = k->cap ? k->cap : 4096;
    while (cap < k->len + n) cap *= 2;
    if (cap > s->cfg.max_body_bytes) cap = s->cfg.max_body_bytes;
    char *p = realloc(k->body, cap);
    if (!p) {
      k->too_big = true; /* answered 413; out of memory is the same story for the client */
      return;
    }
    k->body = p, k->cap = cap;
  }
  memcpy(k->body + k->len, data, n);
  k->len += n;
}

static struct call *new_call(struct server *s, struct MHD_Connection *c) {
  struct call *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->s = s, k->conn = c, k->t0_ns = time_mono_ns();
  atomic_fetch_add(&s->calls, 1);
  int64_t cl = header_int(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl > (int64_t)s->cfg.max_body_bytes) k->too_big = true;
  return k;
}

static void free_call(struct call *k) {
  atomic_fetch_sub(&k->s->calls, 1);
  infer_request_free(&k->req);
  free(k->body);
  free(k->out);
  free(k);
}

static enum MHD_Result on_infer(struct server *s, struct MHD_Connection *c, const char *data,
                                size_t *size, void **req_cls) {
  struct call *k = *req_cls;
  if (!k) {
    if (!(k = new_call(s, c))) return MHD_NO;
    *req_cls = k;
    /* over the limit by its Content-Length: answer now, without reading the body */
    if (k->too_big) return start_infer(s, k);
    return MHD_YES;
  }
  if (k->state == CALL_BODY && *size) {
    take_chunk(s, k, data, *size);
    *size = 0;
    return MHD_YES;
  }
  if (k->state == CALL_BODY) return start_infer(s, k);
  if (k->state == CALL_DONE) {
    k->state = CALL_ANSWERED;
    return finish_infer(s, k);
  }
  *size = 0; /* QUEUED: a spurious call while suspended; ANSWERED: the rest of a refused body */
  return MHD_YES;
}

/* ---- the executors ---- */

static void complete(struct call *k, int status, enum stats_fail reason, const char *msg) {
  k->status = status;
  k->reason = reason;
  if (msg) snprintf(k->error, sizeof k->error, "%s", msg);
  k->state = CALL_DONE;
  MHD_resume_connection(k->conn);
}

static void on_expire(void *ctx, struct batcher_request *r) {
  struct server *s = ctx;
  stats_queue(&s->stats, r->deadline_ns - r->enqueue_ns);
  complete(r->user, MHD_HTTP_SERVICE_UNAVAILABLE, STATS_FAIL_REJECTED, "Request timeout expired");
}

static void on_batch(void *ctx, int instance, struct batcher_batch *bt) {
  struct server *s = ctx;
  unsigned char *in = s->in_buf[instance], *out = s->out_buf[instance];
  int64_t t0 = time_mono_ns();
  size_t off = 0;
  for (int i = 0; i < bt->n; i++) {
    struct call *k = bt->reqs[i]->user;
    stats_queue(&s->stats, bt->reqs[i]->dispatch_ns - bt->reqs[i]->enqueue_ns);
    memcpy(in + off, k->input->data, k->input->nbytes);
    off += k->input->nbytes;
  }
  int64_t t1 = time_mono_ns();
  int rc = s->rt->run(s->inst[instance], in, bt->rows, out);
  int64_t t2 = time_mono_ns();
  char msg[512];
  if (rc) snprintf(msg, sizeof msg, "model '%s' (%s) failed: %s", s->name, s->rt->name, err_msg());
  off = 0;
  for (int i = 0; i < bt->n; i++) {
    struct call *k = bt->reqs[i]->user;
    size_t n = (size_t)bt->reqs[i]->rows * s->out_row_bytes;
    if (!rc) memcpy(k->out, out + off, n);
    off += n;
  }
  int64_t t3 = time_mono_ns();
  stats_batch(&s->stats, bt->n, bt->rows, t1 - t0, t2 - t1, t3 - t2);
  for (int i = 0; i < bt->n; i++)
    complete(bt->reqs[i]->user, rc ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_OK,
             STATS_FAIL_BACKEND, rc ? msg : NULL);
}

/* ---- routing ---- */

/*
 * Split "/v2/models/NAME[/versions/V][/ACTION]" into name and action ("" for
 * metadata). Returns false when the path is not under /v2/models/ or the
 * version is not ours (a 404).
 */
static bool split_model_path(const char *url, char *name, size_t nlen, const char **action) {
  static const char prefix[] = "/v2/models/";
  if (strncmp(url, prefix, sizeof prefix - 1)) return false;
  const char *p = url + sizeof prefix - 1, *slash = strchr(p, '/');
  size_t n = slash ? (size_t)(slash - p) : strlen(p);
  if (n == 0 || n >= nlen) return false;
  memcpy(name, p, n);
  name[n] = '\0';
  *action = slash ? slash + 1 : "";
  if (!strncmp(*action, "versions/", 9)) {
    const char *v = *action + 9, *vs = strchr(v, '/');
    size_t vl = vs ? (size_t)(vs - v) : strlen(v);
    if (vl != strlen(MODEL_VERSION) || strncmp(v, MODEL_VERSION, vl)) return false;
    *action = vs ? vs + 1 : "";
  }
  return true;
}

static enum MHD_Result route_model(struct server *s, struct MHD_Connection *c, const char *url,
                                   bool get, const char *data, size_t *size, void **req_cls) {
  char name[128];
  const char *action;
  if (!strcmp(url, "/v2/models/stats") && get) return send_stats(s, c);
  if (!split_model_path(url, name, sizeof name, &action))
    return send_error(c, MHD_HTTP_NOT_FOUND, "not found: see /v2/models/{name}[/ready|/infer|/stats]");
  if (strcmp(name, s->name)) {
    char msg[256];
    snprintf(msg, sizeof msg, "Request for unknown model: '%s' is not found", name);
    return send_error(c, MHD_HTTP_NOT_FOUND, msg);
  }
  if (!strcmp(action, "infer")) {
    if (get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST for /infer");
    return on_infer(s, c, data, size, req_cls);
  }
  if (!get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET here (POST is for /infer)");
  if (!action[0]) return send_metadata(s, c);
  if (!strcmp(action, "ready"))
    return send_empty(c, atomic_load(&s->draining) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK);
  if (!strcmp(action, "stats")) return send_stats(s, c);
  return send_error(c, MHD_HTTP_NOT_FOUND, "not found: a model has /ready, /infer and /stats");
}

/* *req_cls of a request other than an infer call, after its first callback. */
static int headers_seen;

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req_cls) {
  (void)version;
  struct server *s = cls;
  bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
  bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
  /* Answer on the second callback: libmicrohttpd closes a keep-alive connection whose
   * response was queued before the request was fully received (the first callback). */
  if (!*req_cls && !(post && ends_with(url, "/infer"))) {
    *req_cls = &headers_seen;
    return MHD_YES;
  }
  if (*req_cls == &headers_seen && *size) {
    *size = 0; /* a body nobody reads: drop it */
    return MHD_YES;
  }
  if (!get && !post) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or POST");
  if (!strncmp(url, "/v2/models/", 11)) return route_model(s, c, url, get, data, size, req_cls);
  if (post) return send_error(c, MHD_HTTP_NOT_FOUND, "not found: POST goes to /v2/models/{name}/infer");
  if (!strcmp(url, "/v2/health/live")) return send_empty(c, MHD_HTTP_OK);
  if (!strcmp(url, "/v2/health/ready"))
    return send_empty(c, atomic_load(&s->draining) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK);
  if (!strcmp(url, "/v2")) return send_server_metadata(c);
  if (!strcmp(url, "/metrics")) return send_metrics(s, c);
  return send_error(c, MHD_HTTP_NOT_FOUND,
                    "not found: the server has /v2, /v2/health/{live,ready}, /v2/models/{name}[/...], "
                    "/metrics");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  if (*req_cls && *req_cls != &headers_seen) free_call(*req_cls);
  *req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = '\0';
  log_debug("serve: libmicrohttpd: %s", msg);
}

/* ---- lifetime ---- */

void server_config_defaults(struct server_config *c) {
  memset(c, 0, sizeof *c);
  c->listen = "127.0.0.1:8000";
  c->device = RUNTIME_AUTO;
  batcher_config_defaults(&c->batching);
  c->batching.max_batch_size = 0; /* the model's */
  c->max_body_bytes = (size_t)64 << 20;
  c->client_timeout_s = 30;
  c->http_threads = 2;
  c->max_connections = 1024;
}

static int set_name(struct server *s) {
  const char *n = s->cfg.name;
  if (!n) {
    const char *d = s->cfg.model_dir, *end = d + strlen(d);
    while (end > d && end[-1] == '/') end--;
    const char *start = end;
    while (start > d && start[-1] != '/') start--;
    snprintf(s->name, sizeof s->name, "%.*s", (int)(end - start), start);
  } else
    snprintf(s->name, sizeof s->name, "%s", n);
  size_t len = strlen(s->name);
  bool ok = len > 0 && len < sizeof s->name - 1 && (!n || strlen(n) == len);
  for (size_t i = 0; ok && i < len; i++) {
    char ch = s->name[i];
    ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-' || ch == '.';
  }
  if (!ok)
    return err_set(ERR_INVALID,
                   "model name '%s' must be 1 to %zu of A-Z a-z 0-9 _ - . (set one with --name)",
                   s->name, sizeof s->name - 2);
  return 0;
}

static int start_runtime(struct server *s) {
  const struct model_config *m = &s->model.config;
  int rc = runtime_select(&s->model, s->cfg.device, &s->rt, s->note, sizeof s->note);
  if (rc) return rc;
  int mb = s->batcher.cfg.max_batch_size;
  s->in_row_bytes = (size_t)m->widths[0] * safetensors_dtype_size(m->io_dtype);
  s->out_row_bytes = (size_t)m->widths[m->n_widths - 1] * safetensors_dtype_size(m->io_dtype);
  for (int i = 0; i < s->batcher.cfg.instances; i++) {
    if ((rc = s->rt->init(&s->inst[i], &s->model, mb)))
      return err_wrap(rc, "starting runtime instance %d of model '%s'", i + 1, s->name);
    s->in_buf[i] = aligned_alloc(ROW_ALIGN, ((size_t)mb * s->in_row_bytes + ROW_ALIGN) / ROW_ALIGN * ROW_ALIGN);
    s->out_buf[i] = aligned_alloc(ROW_ALIGN, ((size_t)mb * s->out_row_bytes + ROW_ALIGN) / ROW_ALIGN * ROW_ALIGN);
    if (!s->in_buf[i] || !s->out_buf[i]) return err_set(ERR_NOMEM, "out of memory for batch buffers");
  }
  return 0;
}

static int start_http(struct server *s) {
  int rc = listener_open(s->cfg.listen, &s->l);
  if (rc) return rc;
  s->daemon = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      on_request, s, MHD_OPTION_LISTEN_SOCKET, s->l.fd, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned)s->cfg.http_threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.client_timeout_s,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
      MHD_OPTION_END);
  if (!s->daemon) {
    close(s->l.fd);
    s->l.fd = -1;
    return err_set(ERR_IO, "cannot start the HTTP server on %s (libmicrohttpd refused; run with -v)",
                   s->l.url);
  }
  return 0;
}

static int check_config(const struct server_config *c) {
  if (!c->model_dir) return err_set(ERR_INVALID, "no model directory given");
  if (c->max_body_bytes < 64)
    return err_set(ERR_INVALID, "--max-body-bytes %zu is below 64", c->max_body_bytes);
  if (c->client_timeout_s < 1 || c->http_threads < 1 || c->http_threads > 64 || c->max_connections < 1)
    return err_set(ERR_INVALID,
                   "client timeout >= 1 s, 1..64 HTTP threads and >= 1 connection are needed");
  return 0;
}

int server_start(const struct server_config *cfg, struct server **out) {
  *out = NULL;
  int rc = check_config(cfg);
  if (rc) return rc;
  struct server *s = calloc(1, sizeof *s);
  if (!s) return err_set(ERR_NOMEM, "out of memory starting the server");
  s->cfg = *cfg;
  s->l.fd = -1;
  struct batcher_config bc = cfg->batching;
  if ((rc = set_name(s)) || (rc = model_load(&s->model, cfg->model_dir))) goto out;
  if (bc.max_batch_size <= 0) bc.max_batch_size = s->model.config.max_batch_size;
  if ((rc = batcher_init(&s->batcher, &bc))) goto out;
  if ((rc = stats_init(&s->stats, s->name, MODEL_VERSION, bc.max_batch_size))) goto out;
  if ((rc = start_runtime(s))) goto out;
  if ((rc = batcher_start(&s->batcher, on_batch, on_expire, s))) goto out;
  s->batcher_started = true;
  rc = start_http(s);
out:
  if (rc) {
    server_stop(s);
    return rc;
  }
  *out = s;
  return 0;
}

const char *server_url(const struct server *s) { return s->l.url; }
int server_port(const struct server *s) { return s->l.port; }
const char *server_model_name(const struct server *s) { return s->name; }
const char *server_runtime(const struct server *s) { return s->rt ? s->rt->name : "?"; }
const char *server_note(const struct server *s) { return s->note; }

void server_stop(struct server *s) {
  if (!s) return;
  atomic_store(&s->draining, true);
  MHD_socket lfd = MHD_INVALID_SOCKET;
  if (s->daemon) lfd = MHD_quiesce_daemon(s->daemon); /* no new connections */
  if (s->batcher_started) batcher_drain(&s->batcher); /* runs and resumes every queued call */
  for (int waited = 0; s->daemon && atomic_load(&s->calls) > 0 && waited < 10000; waited += 5)
    time_sleep_ns(5000000); /* let the resumed calls' answers go out */
  if (s->daemon) MHD_stop_daemon(s->daemon);
  if (lfd != MHD_INVALID_SOCKET) close(lfd); /* quiesced: ours to close */
  for (int i = 0; i < BATCHER_MAX_INSTANCES; i++) {
    if (s->rt && s->inst[i]) s->rt->free(s->inst[i]);
    free(s->in_buf[i]);
    free(s->out_buf[i]);
  }
  batcher_free(&s->batcher);
  stats_free(&s->stats);
  model_free(&s->model);
  free(s);
}
