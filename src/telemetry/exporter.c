/*
 * exporter.c — the Prometheus exporter (exporter.h).
 *
 * Snapshots: the sampler thread renders everything a request can return into
 * one immutable struct snapshot (text 0.0.4, OpenMetrics, /health JSON) and
 * swaps the exporter's pointer under a mutex; a request takes a reference
 * under the same mutex and hands the bytes to libmicrohttpd as an iovec
 * without copying them, releasing its reference when the response is freed.
 * Per-request work is the self-metrics tail (a few hundred bytes).
 *
 * Sections: state; snapshots; self metrics; HTTP; the sampler thread; the
 * event thread; listening socket; start/stop; statistics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/listener.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "telemetry/exporter.h"
#include "telemetry/exposition.h"
#include "telemetry/health.h"
#include "telemetry/promtext.h"
#include "telemetry/sampler.h"
#include "version.h"

/* ---- state ---- */

struct snapshot {
  atomic_int refs;
  char *body[2]; /* by enum prom_format: GPU families, without the self metrics and # EOF */
  size_t len[2];
  char *health; /* /health JSON */
  size_t health_len;
};

struct exporter {
  struct exporter_config cfg;
  struct thresholds t;
  char hostname[256];
  char url[96];
  int port;
  struct MHD_Daemon *daemon;
  struct MHD_Response *r404, *r405, *rindex;

  /* the sampler thread's own */
  struct sampler s;
  struct xid_history *xid_view; /* a copy of xids taken each pass */

  pthread_mutex_t snap_mu; /* guards snap */
  struct snapshot *snap;

  pthread_mutex_t xid_mu; /* guards xids (s.n entries) */
  struct xid_history *xids;

  pthread_mutex_t stat_mu; /* guards the histograms */
  struct prom_histogram scrape_hist, sample_hist;

  pthread_mutex_t run_mu; /* guards stopping, wake; cond wakes the sampler */
  pthread_cond_t run_cond;
  bool stopping, wake;
  pthread_t sampler_thread, event_thread;
  bool sampler_started, event_started;

  atomic_uint_fast64_t passes, sample_errors, scrapes, xid_events;
  atomic_int_fast64_t last_ok_ns;
  atomic_bool events_ok;
  bool failing; /* the sampler thread's: the last pass had failures (log once per episode) */
};

#define CONNECTION_MEMORY 16384 /* per-connection pool: request line, headers, response headers */
#define TRIM_EVERY        8     /* sampling passes between malloc_trim() calls */

static const double scrape_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                       0.005,  0.01,    0.025,  0.1};
static const double sample_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5};

/* ---- snapshots ---- */

static void snapshot_release(struct snapshot *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  free(s->body[0]);
  free(s->body[1]);
  free(s->health);
  free(s);
}

static struct snapshot *snapshot_get(struct exporter *e) {
  pthread_mutex_lock(&e->snap_mu);
  struct snapshot *s = e->snap;
  if (s) atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&e->snap_mu);
  return s;
}

static void snapshot_swap(struct exporter *e, struct snapshot *fresh) {
  pthread_mutex_lock(&e->snap_mu);
  struct snapshot *old = e->snap;
  e->snap = fresh;
  pthread_mutex_unlock(&e->snap_mu);
  snapshot_release(old);
}

static void evaluate(struct exporter *e, struct health_report *r) {
  health_report_init(r);
  r->gpus = calloc((size_t)e->s.n, sizeof *r->gpus);
  if (!r->gpus) return;
  snprintf(r->host, sizeof r->host, "%s", e->hostname);
  snprintf(r->backend, sizeof r->backend, "%s", gpu_backend_name(e->cfg.backend));
  r->simulated = e->cfg.backend->simulated;
  r->t_ns = time_wall_ns();
  bool watching = atomic_load(&e->events_ok);
  for (int i = 0; i < e->s.n; i++) {
    struct health_input in;
    sampler_health_input(&e->s.gpus[i], watching ? &e->xid_view[i] : NULL, &in);
    health_evaluate_gpu(&e->t, &in, i, r->t_ns, &r->gpus[i]);
  }
  r->n_gpus = e->s.n;
  health_report_finish(r);
}

/* Render a snapshot of the sampler's current state; NULL on OOM. */
static struct snapshot *snapshot_make(struct exporter *e) {
  struct health_report r;
  evaluate(e, &r);
  struct snapshot *s = calloc(1, sizeof *s);
  struct exposition_input in = {.s = &e->s,
                                .xids = e->xid_view,
                                .events_ok = atomic_load(&e->events_ok),
                                .health = r.gpus ? &r : NULL,
                                .hostname = e->hostname,
                                .simulated = e->cfg.backend->simulated};
  bool ok = s && r.gpus;
  for (int f = 0; ok && f < 2; f++) {
    struct prom_buf b;
    prom_buf_init(&b);
    exposition_render(&b, (enum prom_format)f, &in);
    s->body[f] = prom_buf_take(&b, &s->len[f]);
    ok = s->body[f] != NULL;
  }
  json_t *doc = ok ? health_report_json(&r) : NULL;
  char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  health_report_free(&r);
  if (!ok || !text) {
    free(text);
    if (s) {
      atomic_store(&s->refs, 1);
      snapshot_release(s);
    }
    return NULL;
  }
  s->health_len = strlen(text) + 1;
  s->health = text;
  s->health[s->health_len - 1] = '\n'; /* replaces the NUL: a body, not a C string */
  atomic_store(&s->refs, 1);
  return s;
}

/* ---- self metrics ---- */

static void render_self(struct exporter *e, enum prom_format fmt, struct prom_buf *out) {
  struct prom_writer w;
  prom_writer_init(&w, out, fmt);
  pthread_mutex_lock(&e->stat_mu);
  struct prom_histogram scrape = e->scrape_hist, sample = e->sample_hist;
  pthread_mutex_unlock(&e->stat_mu);
  prom_histogram_write(&w, "gpuops_exporter_scrape_duration_seconds",
                       "Time the exporter took to answer /metrics (earlier scrapes).", NULL,
                       &scrape);
  prom_histogram_write(&w, "gpuops_exporter_sample_duration_seconds",
                       "Time one sampling pass over every GPU took.", NULL, &sample);
  prom_family(&w, "gpuops_exporter_sample_errors_total", PROM_COUNTER,
              "Device samples that failed (the last good values are served meanwhile).");
  prom_sample(&w, NULL, NULL, (double)atomic_load(&e->sample_errors));
  prom_family(&w, "gpuops_exporter_scrapes_total", PROM_COUNTER, "Requests for /metrics answered.");
  prom_sample(&w, NULL, NULL, (double)atomic_load(&e->scrapes));
  int64_t ok_ns = atomic_load(&e->last_ok_ns);
  prom_family(&w, "gpuops_exporter_last_sample_timestamp_seconds", PROM_GAUGE,
              "Unix time of the last sampling pass that read at least one GPU.");
  if (ok_ns > 0) prom_sample(&w, NULL, NULL, (double)(ok_ns / 1000000) / 1000.0);
  prom_family(&w, "gpuops_exporter_build_info", PROM_GAUGE,
              "The gpuops build serving these metrics.");
  char labels[160];
  snprintf(labels, sizeof labels, "version=\"%s\",commit=\"%s\"", GPUOPS_VERSION,
           GPUOPS_GIT_COMMIT);
  prom_sample(&w, labels, NULL, 1);
  prom_finish(&w);
}

/* ---- HTTP ---- */

struct reply {
  struct snapshot *snap;
  char *tail;
};

static void reply_free(void *cls) {
  struct reply *r = cls;
  snapshot_release(r->snap);
  free(r->tail);
  free(r);
}

static enum MHD_Result queue_static(struct MHD_Connection *c, unsigned code,
                                    struct MHD_Response *r) {
  return MHD_queue_response(c, code, r);
}

static enum MHD_Result unavailable(struct MHD_Connection *c) {
  static const char msg[] = "no sample yet\n";
  struct MHD_Response *r =
      MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
  if (!r) return MHD_NO;
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
  MHD_destroy_response(r);
  return ok;
}

/* Queue an iovec response over a snapshot reference (+ an owned tail); takes both. */
static enum MHD_Result queue_snapshot(struct MHD_Connection *c, struct snapshot *snap,
                                      const char *body, size_t len, char *tail, size_t tail_len,
                                      const char *type) {
  struct reply *rp = malloc(sizeof *rp);
  if (!rp) {
    snapshot_release(snap);
    free(tail);
    return MHD_NO;
  }
  *rp = (struct reply){.snap = snap, .tail = tail};
  struct MHD_IoVec iov[2] = {{body, len}, {tail, tail_len}};
  struct MHD_Response *r = MHD_create_response_from_iovec(iov, tail ? 2 : 1, reply_free, rp);
  if (!r) {
    reply_free(rp);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result serve_metrics(struct exporter *e, struct MHD_Connection *c, int64_t t0) {
  struct snapshot *snap = snapshot_get(e);
  if (!snap) return unavailable(c);
  enum prom_format fmt =
      prom_negotiate(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
  struct prom_buf tail;
  prom_buf_init(&tail);
  atomic_fetch_add(&e->scrapes, 1);
  render_self(e, fmt, &tail);
  size_t tail_len = 0;
  char *tail_text = prom_buf_take(&tail, &tail_len);
  if (!tail_text) {
    snapshot_release(snap);
    return MHD_NO;
  }
  enum MHD_Result ok = queue_snapshot(c, snap, snap->body[fmt], snap->len[fmt], tail_text, tail_len,
                                      prom_content_type(fmt));
  double dt = (double)(time_mono_ns() - t0) * 1e-9;
  pthread_mutex_lock(&e->stat_mu);
  prom_histogram_observe(&e->scrape_hist, dt);
  pthread_mutex_unlock(&e->stat_mu);
  return ok;
}

static enum MHD_Result serve_health(struct exporter *e, struct MHD_Connection *c) {
  struct snapshot *snap = snapshot_get(e);
  if (!snap) return unavailable(c);
  return queue_snapshot(c, snap, snap->health, snap->health_len, NULL, 0, "application/json");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
  (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
  struct exporter *e = cls;
  int64_t t0 = time_mono_ns();
  bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
  bool metrics = !strcmp(url, "/metrics"), health = !strcmp(url, "/health"),
       root = !strcmp(url, "/");
  if (!metrics && !health && !root) return queue_static(c, MHD_HTTP_NOT_FOUND, e->r404);
  if (!get) return queue_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, e->r405);
  if (root) return queue_static(c, MHD_HTTP_OK, e->rindex);
  return metrics ? serve_metrics(e, c, t0) : serve_health(e, c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = '\0';
  log_debug("exporter: libmicrohttpd: %s", msg);
}

static struct MHD_Response *static_response(const char *text, const char *type) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
  if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  return r;
}

static int make_static_responses(struct exporter *e) {
  e->r404 = static_response("not found: the exporter serves /metrics and /health\n",
                            "text/plain; charset=utf-8");
  e->r405 = static_response("method not allowed: use GET\n", "text/plain; charset=utf-8");
  e->rindex = static_response(
      "<html><head><title>gpuops exporter</title></head><body><h1>gpuops exporter</h1>"
      "<p><a href=\"/metrics\">/metrics</a> (Prometheus) &middot; "
      "<a href=\"/health\">/health</a> (JSON verdict)</p></body></html>\n",
      "text/html; charset=utf-8");
  if (!e->r404 || !e->r405 || !e->rindex)
    return err_set(ERR_NOMEM, "out of memory creating responses");
  MHD_add_response_header(e->r405, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  return 0;
}

/* ---- the sampler thread ---- */

static void copy_xids(struct exporter *e) {
  pthread_mutex_lock(&e->xid_mu);
  memcpy(e->xid_view, e->xids, (size_t)e->s.n * sizeof *e->xids);
  pthread_mutex_unlock(&e->xid_mu);
}

/* One pass: sample, and unless every GPU failed, render and swap a snapshot. */
static void cycle(struct exporter *e) {
  int64_t t0 = time_mono_ns();
  int failed = sampler_pass(&e->s);
  atomic_fetch_add(&e->sample_errors, (uint64_t)failed);
  atomic_store(&e->last_ok_ns, e->s.last_ok_ns);
  if (failed > 0 && !e->failing)
    log_warn("exporter: %d of %d GPU samples failed (serving the last good values): %s", failed,
             e->s.n, err_msg());
  else if (failed == 0 && e->failing)
    log_info("exporter: sampling works again");
  e->failing = failed > 0;
  copy_xids(e);
  if (failed < e->s.n) {
    struct snapshot *s = snapshot_make(e);
    if (s)
      snapshot_swap(e, s);
    else
      log_error("exporter: out of memory rendering metrics; serving the previous snapshot");
  }
  double dt = (double)(time_mono_ns() - t0) * 1e-9;
  pthread_mutex_lock(&e->stat_mu);
  prom_histogram_observe(&e->sample_hist, dt);
  pthread_mutex_unlock(&e->stat_mu);
  atomic_fetch_add(&e->passes, 1); /* last: a pass counts once its snapshot is served */
#ifdef __GLIBC__
  /* After a burst of connections the HTTP threads' malloc arenas hold freed
   * pools; hand them back so RSS follows the load down. */
  if (atomic_load(&e->passes) % TRIM_EVERY == 0) malloc_trim(0);
#endif
}

static struct timespec mono_timespec(int64_t ns) {
  return (struct timespec){.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
}

static void *sampler_main(void *arg) {
  struct exporter *e = arg;
  int64_t interval = (int64_t)e->cfg.interval_ms * 1000000LL, next = time_mono_ns() + interval;
  pthread_mutex_lock(&e->run_mu);
  while (!e->stopping) {
    struct timespec ts = mono_timespec(next);
    while (!e->stopping && !e->wake && time_mono_ns() < next)
      pthread_cond_timedwait(&e->run_cond, &e->run_mu, &ts);
    if (e->stopping) break;
    e->wake = false;
    pthread_mutex_unlock(&e->run_mu);
    cycle(e);
    int64_t now = time_mono_ns();
    next += interval;
    if (next <= now) next = now + interval; /* fell behind: skip, never burst */
    pthread_mutex_lock(&e->run_mu);
  }
  pthread_mutex_unlock(&e->run_mu);
  return NULL;
}

/* ---- the event thread ---- */

static bool stopping(struct exporter *e) {
  pthread_mutex_lock(&e->run_mu);
  bool s = e->stopping;
  pthread_mutex_unlock(&e->run_mu);
  return s;
}

static void sleep_unless_stopping(struct exporter *e, int64_t ns) {
  pthread_mutex_lock(&e->run_mu);
  struct timespec ts = mono_timespec(time_mono_ns() + ns);
  if (!e->stopping) pthread_cond_timedwait(&e->run_cond, &e->run_mu, &ts);
  pthread_mutex_unlock(&e->run_mu);
}

static void record_event(struct exporter *e, const struct gpu_event *ev) {
  if (ev->type != GPU_EVENT_XID) return;
  atomic_fetch_add(&e->xid_events, 1);
  const struct xid_info *x = xid_lookup((unsigned)ev->xid);
  log_warn("GPU %d (%s): XID %llu: %s; action: %s%s%s", ev->gpu_index, ev->uuid[0] ? ev->uuid : "?",
           (unsigned long long)ev->xid,
           x ? x->meaning : "not in gpuops' catalog (see NVIDIA's Xid catalog)",
           verdict_action_name(x ? x->action : VERDICT_ACTION_INVESTIGATE), x ? "; " : "",
           x ? x->advice : "");
  if (ev->gpu_index < 0 || ev->gpu_index >= e->s.n) return;
  pthread_mutex_lock(&e->xid_mu);
  xid_history_record(&e->xids[ev->gpu_index], (unsigned)ev->xid, ev->t_ns);
  pthread_mutex_unlock(&e->xid_mu);
  pthread_mutex_lock(&e->run_mu);
  e->wake = true; /* show it now rather than at the next tick */
  pthread_cond_broadcast(&e->run_cond);
  pthread_mutex_unlock(&e->run_mu);
}

#define EVENT_WAIT_MS 250 /* longest wait for events between checks for stop */

static void *event_main(void *arg) {
  struct exporter *e = arg;
  struct gpu_event ev[32];
  bool warned = false;
  while (!stopping(e)) {
    int64_t t0 = time_mono_ns();
    int n = gpu_wait_events(e->cfg.events, EVENT_WAIT_MS, ev, 32);
    int64_t waited = time_mono_ns() - t0;
    if (n == 0 && waited < EVENT_WAIT_MS * 500000LL) /* returned early: do not spin */
      sleep_unless_stopping(e, EVENT_WAIT_MS * 1000000LL - waited);
    if (n == ERR_UNSUPPORTED || n == ERR_NOLIB) {
      log_warn(
          "exporter: XID events are not available (%s); XIDs show only through the driver's "
          "fields",
          err_msg());
      atomic_store(&e->events_ok, false);
      return NULL;
    }
    if (n < 0) {
      if (!warned)
        log_warn("exporter: waiting for XID events failed (retrying every second): %s", err_msg());
      warned = true;
      sleep_unless_stopping(e, 1000000000LL);
      continue;
    }
    warned = false;
    for (int i = 0; i < n; i++) record_event(e, &ev[i]);
  }
  return NULL;
}

/* ---- listening socket ---- */

/* Make room for max_connections sockets (soft RLIMIT_NOFILE up to the hard limit). */
static void raise_fd_limit(int want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= (rlim_t)want) return;
  rl.rlim_cur =
      rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)want ? (rlim_t)want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- start/stop ---- */

static int init_state(struct exporter *e, const struct exporter_config *c) {
  e->cfg = *c;
  if (e->cfg.interval_ms <= 0) e->cfg.interval_ms = 1000;
  if (e->cfg.threads <= 0) e->cfg.threads = 4;
  if (e->cfg.max_connections <= 0) e->cfg.max_connections = 4096;
  if (e->cfg.timeout_s <= 0) e->cfg.timeout_s = 10;
  if (c->t)
    e->t = *c->t;
  else
    thresholds_default(&e->t);
  if (c->hostname)
    snprintf(e->hostname, sizeof e->hostname, "%s", c->hostname);
  else if (gethostname(e->hostname, sizeof e->hostname - 1) != 0)
    snprintf(e->hostname, sizeof e->hostname, "unknown");
  pthread_mutex_init(&e->snap_mu, NULL);
  pthread_mutex_init(&e->xid_mu, NULL);
  pthread_mutex_init(&e->stat_mu, NULL);
  pthread_mutex_init(&e->run_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->run_cond, &ca);
  pthread_condattr_destroy(&ca);
  prom_histogram_init(&e->scrape_hist, scrape_bounds,
                      (int)(sizeof scrape_bounds / sizeof *scrape_bounds));
  prom_histogram_init(&e->sample_hist, sample_bounds,
                      (int)(sizeof sample_bounds / sizeof *sample_bounds));
  int rc = sampler_init(&e->s, c->backend);
  if (rc < 0) return rc;
  e->xids = calloc((size_t)e->s.n, sizeof *e->xids);
  e->xid_view = calloc((size_t)e->s.n, sizeof *e->xid_view);
  if (!e->xids || !e->xid_view) return err_set(ERR_NOMEM, "out of memory for %d GPUs", e->s.n);
  atomic_store(&e->events_ok, c->events != NULL);
  return 0;
}

static int start_daemon(struct exporter *e, int fd) {
  e->daemon = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, e,
      MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)e->cfg.threads,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)e->cfg.max_connections,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)e->cfg.timeout_s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
  if (!e->daemon) {
    close(fd);
    return err_set(
        ERR_IO,
        "cannot start the HTTP server on %s (libmicrohttpd refused; run with -v for its log)",
        e->url);
  }
  return 0;
}

int exporter_start(const struct exporter_config *c, struct exporter **out) {
  *out = NULL;
  if (!c || !c->backend) return err_set(ERR_INVALID, "exporter_start needs a backend");
  struct exporter *e = calloc(1, sizeof *e);
  if (!e) return err_set(ERR_NOMEM, "out of memory starting the exporter");
  int fd = -1, rc = init_state(e, c);
  if (rc < 0) goto out;
  cycle(e); /* the first snapshot, before anyone can ask */
  if (!e->snap) {
    rc = err_set(ERR_DRIVER, "the first sample failed on every GPU: %s", err_msg());
    goto out;
  }
  if ((rc = make_static_responses(e)) < 0) goto out;
  raise_fd_limit(e->cfg.max_connections + 64);
  struct listener l;
  if ((rc = listener_open(c->listen ? c->listen : "127.0.0.1:9400", &l)) < 0) goto out;
  fd = l.fd, e->port = l.port;
  snprintf(e->url, sizeof e->url, "%s", l.url);
  if ((rc = start_daemon(e, fd)) < 0) goto out;
  if (pthread_create(&e->sampler_thread, NULL, sampler_main, e) != 0) {
    rc = err_set(ERR_INTERNAL, "cannot start the sampler thread");
    goto out;
  }
  e->sampler_started = true;
  if (c->events && pthread_create(&e->event_thread, NULL, event_main, e) == 0)
    e->event_started = true;
  else
    atomic_store(&e->events_ok, false);
out:
  if (rc < 0) {
    exporter_stop(e);
    return rc;
  }
  *out = e;
  return 0;
}

void exporter_stop(struct exporter *e) {
  if (!e) return;
  if (e->daemon) MHD_stop_daemon(e->daemon);
  pthread_mutex_lock(&e->run_mu);
  e->stopping = true;
  pthread_cond_broadcast(&e->run_cond);
  pthread_mutex_unlock(&e->run_mu);
  if (e->sampler_started) pthread_join(e->sampler_thread, NULL);
  if (e->event_started) pthread_join(e->event_thread, NULL);
  if (e->r404) MHD_destroy_response(e->r404);
  if (e->r405) MHD_destroy_response(e->r405);
  if (e->rindex) MHD_destroy_response(e->rindex);
  snapshot_release(e->snap);
  sampler_free(&e->s);
  free(e->xids);
  free(e->xid_view);
  pthread_cond_destroy(&e->run_cond);
  pthread_mutex_destroy(&e->run_mu);
  pthread_mutex_destroy(&e->stat_mu);
  pthread_mutex_destroy(&e->xid_mu);
  pthread_mutex_destroy(&e->snap_mu);
  free(e);
}

int exporter_port(const struct exporter *e) { return e->port; }

const char *exporter_url(const struct exporter *e) { return e->url; }

/* ---- statistics ---- */

void exporter_get_stats(struct exporter *e, struct exporter_stats *out) {
  out->passes = atomic_load(&e->passes);
  out->sample_errors = atomic_load(&e->sample_errors);
  out->scrapes = atomic_load(&e->scrapes);
  out->xid_events = atomic_load(&e->xid_events);
  out->events_ok = atomic_load(&e->events_ok);
}
