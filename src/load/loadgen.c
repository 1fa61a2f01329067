/*
 * loadgen.c — the load generator's engine (loadgen.h).
 *
 * One thread, one epoll set: curl's sockets (CURLMOPT_SOCKETFUNCTION) and one
 * timerfd armed at the earliest of curl's timeout, the next scheduled send and
 * the next window boundary. Requests use a pool of easy handles (one per
 * connection slot); in the open loop a request due while every slot is busy
 * waits in a backlog, its intended time kept, so its wait counts as latency.
 *
 * Sections: configuration, results, engine state, curl callbacks, requests,
 * windows, the loop.
 */
#define _GNU_SOURCE
#include "load/loadgen.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/err.h"
#include "base/rng.h"
#include "base/timeutil.h"
#include "load/schedule.h"

/* --- configuration --- */

void load_config_defaults(struct load_config *c) {
  memset(c, 0, sizeof *c);
  c->method = "GET";
  c->concurrency = 1;
  c->connections = 64;
  c->seed = 1;
  c->duration_s = 10;
  c->percentile = 99;
  c->stability_pct = 10;
  c->timeout_s = 10;
  c->late_ns = 1000000;
}

static int check_config(const struct load_config *c) {
  if (!c->url || !*c->url) return err_set(ERR_INVALID, "load: no URL given");
  if (strcmp(c->method, "GET") && strcmp(c->method, "POST"))
    return err_set(ERR_INVALID, "load: method '%s' is not GET or POST", c->method);
  if (c->mode == LOAD_CLOSED && (c->concurrency < 1 || c->concurrency > 100000))
    return err_set(ERR_INVALID, "load: concurrency %d out of range 1..100000", c->concurrency);
  if (c->n_gaps && c->mode != LOAD_OPEN)
    return err_set(ERR_INVALID, "load: a schedule of gaps needs the open loop");
  if (c->n_bodies < 0 || (c->n_bodies && !c->bodies))
    return err_set(ERR_INVALID, "load: %d bodies given without data", c->n_bodies);
  if (c->n_bodies && strcmp(c->method, "POST"))
    return err_set(ERR_INVALID, "load: request bodies need --method POST, not %s", c->method);
  if (c->mode == LOAD_OPEN && !c->n_gaps && !(c->rate > 0 && c->rate <= 1e7))
    return err_set(ERR_INVALID, "load: rate %g out of range (0, 1e7] requests/s", c->rate);
  if (c->mode == LOAD_OPEN && (c->connections < 1 || c->connections > 100000))
    return err_set(ERR_INVALID, "load: connections %d out of range 1..100000", c->connections);
  if (!(c->duration_s > 0) || c->warmup_s < 0 || c->window_s < 0 || !(c->timeout_s > 0))
    return err_set(ERR_INVALID, "load: duration and timeout must be > 0, warm-up and window >= 0");
  if (c->window_s > 0 && c->duration_s + 1e-9 < 3 * c->window_s)
    return err_set(ERR_INVALID, "load: duration %gs holds fewer than 3 windows of %gs",
                   c->duration_s, c->window_s);
  if (!(c->percentile > 0 && c->percentile <= 100))
    return err_set(ERR_INVALID, "load: percentile %g out of range (0, 100]", c->percentile);
  return 0;
}

/* --- results --- */

const char *load_err_name(enum load_err e) {
  static const char *names[] = {"connect", "timeout", "http_4xx", "http_5xx", "other"};
  return e < LOAD_ERR_N ? names[e] : "?";
}

uint64_t load_window_errors(const struct load_window *w) {
  uint64_t n = 0;
  for (int i = 0; i < LOAD_ERR_N; i++) n += w->errors[i];
  return n;
}

int load_result_reachable(const struct load_result *r, const char *url) {
  uint64_t refused = r->sum.errors[LOAD_ERR_CONNECT];
  if (r->sum.ok || !refused || refused != load_window_errors(&r->sum)) return 0;
  return err_set(ERR_UNREACHABLE, "%s: nothing answers there (connection refused or host "
                 "unknown); start the server or check the URL", url);
}

static void window_free(struct load_window *w) {
  hist_free(w->lat);
  hist_free(w->uncorr);
  w->lat = w->uncorr = NULL;
}

static int window_init(struct load_window *w, double seconds) {
  memset(w, 0, sizeof *w);
  w->seconds = seconds;
  w->lat = hist_new();
  w->uncorr = hist_new();
  return w->lat && w->uncorr ? 0 : ERR_NOMEM;
}

static void window_merge(struct load_window *dst, const struct load_window *src) {
  if (!dst->start_ns || src->start_ns < dst->start_ns) dst->start_ns = src->start_ns;
  if (src->last_done_ns > dst->last_done_ns) dst->last_done_ns = src->last_done_ns;
  hist_merge(dst->lat, src->lat);
  hist_merge(dst->uncorr, src->uncorr);
  dst->ok += src->ok;
  for (int i = 0; i < LOAD_ERR_N; i++) dst->errors[i] += src->errors[i];
  dst->seconds += src->seconds;
}

void load_result_free(struct load_result *r) {
  for (int i = 0; i < r->n_alloc; i++) window_free(&r->windows[i]);
  free(r->windows);
  window_free(&r->sum);
  memset(r, 0, sizeof *r);
}

/* --- engine state --- */

struct req {
  CURL *easy;
  int64_t intended_ns, sent_ns;
  bool busy;
};

struct engine {
  const struct load_config *c;
  struct load_result *r;
  CURLM *multi;
  struct curl_slist *headers;
  int epfd, tfd;
  int64_t curl_deadline_ns; /* -1: none */
  struct req *reqs;
  struct req **idle; /* stack of the slots not in flight */
  int n_reqs, in_flight, n_idle;
  int64_t *backlog; /* ring of intended times waiting for a free slot */
  size_t bl_cap, bl_head, bl_len;
  struct rng rng;
  int64_t t0, measure_ns, window_ns, end_ns, next_send_ns;
  int checked;      /* windows already judged by the stability rule */
  int64_t armed_ns; /* the timerfd's pending deadline, if > now */
  bool sending;
  size_t next_gap, next_body; /* positions in the schedule's gaps and the bodies */
};

/* --- curl callbacks --- */

static size_t discard(char *p, size_t size, size_t n, void *u) {
  (void)p, (void)u;
  return size * n;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *u, void *sockp) {
  (void)e, (void)sockp;
  struct engine *g = u;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(g->epfd, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  struct epoll_event ev = {
      .events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
      .data.fd = s};
  if (epoll_ctl(g->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
    epoll_ctl(g->epfd, EPOLL_CTL_ADD, s, &ev);
  return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *u) {
  (void)m;
  struct engine *g = u;
  g->curl_deadline_ns = timeout_ms < 0 ? -1 : time_mono_ns() + (int64_t)timeout_ms * 1000000;
  return 0;
}

/* --- requests --- */

static int setup_easy(struct engine *g, struct req *q) {
  const struct load_config *c = g->c;
  CURL *e = q->easy = curl_easy_init();
  if (!e) return err_set(ERR_NOMEM, "load: curl_easy_init failed");
  curl_easy_setopt(e, CURLOPT_URL, c->url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
  curl_easy_setopt(e, CURLOPT_PRIVATE, q);
  if (g->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->headers);
  if (!strcmp(c->method, "POST")) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
  }
  return 0;
}

static struct req *free_slot(struct engine *g) { return g->n_idle ? g->idle[--g->n_idle] : NULL; }

static int start_request(struct engine *g, int64_t intended_ns) {
  struct req *q = free_slot(g);
  if (!q) return err_set(ERR_INTERNAL, "load: no free request slot");
  q->intended_ns = intended_ns;
  q->sent_ns = time_mono_ns();
  q->busy = true;
  if (g->c->n_bodies) { /* rotate the bodies, so a server cache cannot flatter the figures */
    const struct load_body *b = &g->c->bodies[g->next_body++ % (size_t)g->c->n_bodies];
    curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, b->data);
    curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
  }
  if (curl_multi_add_handle(g->multi, q->easy) != CURLM_OK)
    return err_set(ERR_IO, "load: curl_multi_add_handle failed");
  g->in_flight++;
  g->r->sent++;
  return 0;
}

static int backlog_push(struct engine *g, int64_t t) {
  if (g->bl_len == g->bl_cap) {
    size_t cap = g->bl_cap ? 2 * g->bl_cap : 1024;
    int64_t *b = malloc(cap * sizeof *b);
    if (!b) return err_set(ERR_NOMEM, "load: backlog of %zu requests: out of memory", g->bl_len);
    for (size_t i = 0; i < g->bl_len; i++) b[i] = g->backlog[(g->bl_head + i) % g->bl_cap];
    free(g->backlog);
    g->backlog = b, g->bl_cap = cap, g->bl_head = 0;
  }
  g->backlog[(g->bl_head + g->bl_len++) % g->bl_cap] = t;
  return 0;
}

static int64_t next_gap_ns(struct engine *g) {
  if (g->c->n_gaps) {
    int64_t ns = g->c->gaps_ns[g->next_gap++ % g->c->n_gaps];
    return ns > 0 ? ns : 1;
  }
  double gap_s = g->c->poisson ? -log(1 - rng_uniform(&g->rng)) / g->c->rate : 1 / g->c->rate;
  int64_t ns = (int64_t)(gap_s * 1e9);
  return ns > 0 ? ns : 1;
}

/* The window a request belongs to by its intended time; -1 for warm-up or after the end. */
static int window_of(const struct engine *g, int64_t intended_ns) {
  if (intended_ns < g->measure_ns) return -1;
  int64_t w = (intended_ns - g->measure_ns) / g->window_ns;
  return w < g->r->n_windows ? (int)w : -1;
}

static enum load_err classify(CURLcode rc, long status, bool *ok) {
  *ok = false;
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
      rc == CURLE_COULDNT_RESOLVE_PROXY)
    return LOAD_ERR_CONNECT;
  if (rc == CURLE_OPERATION_TIMEDOUT) return LOAD_ERR_TIMEOUT;
  if (rc != CURLE_OK) return LOAD_ERR_OTHER;
  if (status >= 200 && status < 400) return *ok = true, LOAD_ERR_N;
  if (status >= 400 && status < 500) return LOAD_ERR_HTTP4XX;
  if (status >= 500 && status < 600) return LOAD_ERR_HTTP5XX;
  return LOAD_ERR_OTHER;
}

static void finish_request(struct engine *g, struct req *q, CURLcode rc) {
  int64_t now = time_mono_ns();
  long status = 0;
  curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(g->multi, q->easy);
  q->busy = false;
  g->idle[g->n_idle++] = q;
  g->in_flight--;
  g->r->done++;
  int w = window_of(g, q->intended_ns);
  if (w < 0) return;
  struct load_window *win = &g->r->windows[w];
  if (now > win->last_done_ns) win->last_done_ns = now;
  bool ok;
  enum load_err kind = classify(rc, status, &ok);
  int64_t lag = q->sent_ns - q->intended_ns;
  if (lag > g->c->late_ns) g->r->late++;
  if (lag > g->r->lag_max_ns) g->r->lag_max_ns = lag;
  if (!ok) {
    win->errors[kind]++;
    return;
  }
  win->ok++;
  hist_record(win->lat, now - q->intended_ns);
  hist_record(win->uncorr, now - q->sent_ns);
}

static int reap(struct engine *g) {
  CURLMsg *m;
  int left, rc = 0;
  while ((m = curl_multi_info_read(g->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    char *priv = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    CURLcode res = m->data.result;
    finish_request(g, (struct req *)(void *)priv, res);
    int64_t now = time_mono_ns();
    if (g->c->mode == LOAD_CLOSED && g->sending && now < g->end_ns && rc == 0)
      rc = start_request(g, now);
  }
  return rc;
}

/* Open loop: move every due send to the backlog, then send what the slots allow. */
static int schedule(struct engine *g, int64_t now) {
  if (g->c->mode != LOAD_OPEN) return 0;
  while (g->sending && g->next_send_ns <= now && g->next_send_ns < g->end_ns) {
    if (backlog_push(g, g->next_send_ns) < 0) return ERR_NOMEM;
    g->next_send_ns += next_gap_ns(g);
  }
  while (g->bl_len && g->in_flight < g->n_reqs) {
    int64_t t = g->backlog[g->bl_head];
    g->bl_head = (g->bl_head + 1) % g->bl_cap, g->bl_len--;
    int rc = start_request(g, t);
    if (rc < 0) return rc;
  }
  return 0;
}

/* --- windows --- */

static bool within(double a, double mean, double pct) {
  return mean == 0 ? a == 0 : fabs(a - mean) <= mean * pct / 100.0;
}

/* perf_analyzer's rule over windows k-2..k: throughput and percentile within +-pct of their mean.
 */
static bool stable_at(const struct engine *g, int k) {
  if (k < 2) return false;
  double tp[3], pv[3], mt = 0, mp = 0;
  for (int i = 0; i < 3; i++) {
    const struct load_window *w = &g->r->windows[k - 2 + i];
    tp[i] = w->ok / w->seconds;
    pv[i] = (double)hist_percentile(w->lat, g->c->percentile);
    mt += tp[i] / 3, mp += pv[i] / 3;
  }
  for (int i = 0; i < 3; i++)
    if (!within(tp[i], mt, g->c->stability_pct) || !within(pv[i], mp, g->c->stability_pct))
      return false;
  return true;
}

/*
 * At a window boundary: window k has just ended, so k-1 and before are (nearly)
 * complete; stop when windows k-3..k-1 are stable.
 */
static void at_boundary(struct engine *g, int64_t now) {
  if (!g->c->window_s || !g->sending) return;
  int ended = (int)((now - g->measure_ns) / g->window_ns); /* windows fully past */
  if (ended <= g->checked || ended > g->r->n_windows) return;
  g->checked = ended;
  if (ended >= 4 && stable_at(g, ended - 2)) {
    g->r->stable = true;
    g->r->first = ended - 4, g->r->last = ended - 2;
    g->end_ns = g->measure_ns + (int64_t)ended * g->window_ns;
    g->r->n_windows = ended; /* the windows after this one see no request */
  }
}

/* --- the loop --- */

static void arm(struct engine *g, int64_t now) {
  int64_t t = g->end_ns;
  if (g->sending && g->c->window_s) {
    int64_t nb = g->measure_ns + ((now - g->measure_ns) / g->window_ns + 1) * g->window_ns;
    if (now < g->measure_ns) nb = g->measure_ns;
    if (nb < t) t = nb;
  }
  if (!g->sending) t = now + 1000000000; /* draining: curl's deadline or sockets wake us */
  if (g->sending && g->c->mode == LOAD_OPEN && g->next_send_ns < t) t = g->next_send_ns;
  if (g->curl_deadline_ns >= 0 && g->curl_deadline_ns < t) t = g->curl_deadline_ns;
  if (t <= now) t = now + 1000;
  /* an earlier-armed deadline only wakes us early (we re-arm then): settime costs a syscall */
  if (g->armed_ns > now && g->armed_ns <= t) return;
  g->armed_ns = t;
  struct itimerspec its = {.it_value = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000}};
  timerfd_settime(g->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int step(struct engine *g) {
  struct epoll_event evs[64];
  int n = epoll_wait(g->epfd, evs, 64, -1), running;
  if (n < 0 && errno != EINTR) return err_set(ERR_IO, "load: epoll_wait: %s", strerror(errno));
  for (int i = 0; i < n; i++) {
    int fd = evs[i].data.fd;
    if (fd == g->tfd) {
      uint64_t ticks;
      if (read(g->tfd, &ticks, sizeof ticks) < 0) { /* spurious: nothing to do */
      }
      continue;
    }
    int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
               (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
               (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(g->multi, fd, mask, &running);
  }
  int64_t now = time_mono_ns();
  if (g->curl_deadline_ns >= 0 && now >= g->curl_deadline_ns) {
    g->curl_deadline_ns = -1;
    curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  int rc = reap(g);
  if (rc < 0) return rc;
  now = time_mono_ns();
  if (g->sending && now >= g->measure_ns) at_boundary(g, now);
  if (g->sending && now >= g->end_ns) g->sending = false;
  rc = schedule(g, now);
  if (rc < 0) return rc;
  arm(g, time_mono_ns());
  return 0;
}

static int engine_init(struct engine *g, const struct load_config *c, struct load_result *r) {
  memset(g, 0, sizeof *g);
  g->c = c, g->r = r, g->epfd = g->tfd = -1, g->curl_deadline_ns = -1;
  rng_seed(&g->rng, c->seed);
  g->epfd = epoll_create1(EPOLL_CLOEXEC);
  g->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (g->epfd < 0 || g->tfd < 0) return err_set(ERR_IO, "load: epoll/timerfd: %s", strerror(errno));
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = g->tfd};
  epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->tfd, &ev);
  for (int i = 0; i < c->n_headers; i++) {
    struct curl_slist *l = curl_slist_append(g->headers, c->headers[i]);
    if (!l) return err_set(ERR_NOMEM, "load: header list: out of memory");
    g->headers = l;
  }
  g->n_reqs = c->mode == LOAD_CLOSED ? c->concurrency : c->connections;
  g->reqs = calloc((size_t)g->n_reqs, sizeof *g->reqs);
  g->idle = calloc((size_t)g->n_reqs, sizeof *g->idle);
  g->multi = curl_multi_init();
  if (!g->reqs || !g->idle || !g->multi)
    return err_set(ERR_NOMEM, "load: out of memory for %d requests", g->n_reqs);
  for (int i = g->n_reqs - 1; i >= 0; i--) {
    if (setup_easy(g, &g->reqs[i]) < 0) return ERR_NOMEM;
    g->idle[g->n_idle++] = &g->reqs[i];
  }
  curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
  curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
  curl_multi_setopt(g->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)g->n_reqs);
  curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, (long)g->n_reqs);
  return 0;
}

static void engine_free(struct engine *g) {
  for (int i = 0; g->reqs && i < g->n_reqs; i++) {
    if (!g->reqs[i].easy) continue;
    if (g->reqs[i].busy) curl_multi_remove_handle(g->multi, g->reqs[i].easy);
    curl_easy_cleanup(g->reqs[i].easy);
  }
  if (g->multi) curl_multi_cleanup(g->multi);
  curl_slist_free_all(g->headers);
  free(g->reqs);
  free(g->idle);
  free(g->backlog);
  if (g->epfd >= 0) close(g->epfd);
  if (g->tfd >= 0) close(g->tfd);
}

static int setup_result(const struct load_config *c, struct load_result *r) {
  memset(r, 0, sizeof *r);
  r->windowed = c->window_s > 0;
  r->mode = c->mode;
  r->offered = c->mode == LOAD_OPEN ? c->rate : c->concurrency;
  if (c->mode == LOAD_OPEN && c->n_gaps) r->offered = load_schedule_rate(c->gaps_ns, c->n_gaps);
  double w = r->windowed ? c->window_s : c->duration_s;
  int n = r->windowed ? (int)floor(c->duration_s / c->window_s + 1e-9) : 1;
  r->windows = calloc((size_t)n, sizeof *r->windows);
  if (!r->windows) return err_set(ERR_NOMEM, "load: out of memory for %d windows", n);
  r->n_windows = r->n_alloc = n;
  for (int i = 0; i < n; i++)
    if (window_init(&r->windows[i], w) < 0)
      return err_set(ERR_NOMEM, "load: out of memory for windows");
  if (window_init(&r->sum, 0) < 0) return err_set(ERR_NOMEM, "load: out of memory for windows");
  r->first = r->windowed ? (n >= 3 ? n - 3 : 0) : 0;
  r->last = n - 1;
  r->stable = !r->windowed;
  return 0;
}

/* Stretch a window's length to its last answer (a request due at its end may finish later). */
static void stretch(struct load_window *w) {
  double span = (w->last_done_ns - w->start_ns) / 1e9;
  if (w->last_done_ns && span > w->seconds) w->seconds = span;
}

static void summarize(struct load_result *r) {
  for (int i = r->first; i <= r->last; i++) window_merge(&r->sum, &r->windows[i]);
  r->sum.seconds = (double)(r->last - r->first + 1) * r->windows[r->first].seconds;
  stretch(&r->sum);
  for (int i = 0; i < r->n_windows; i++) stretch(&r->windows[i]);
  r->throughput = r->sum.seconds > 0 ? r->sum.ok / r->sum.seconds : 0;
}

int load_run(const struct load_config *c, struct load_result *r) {
  struct engine g;
  int rc = setup_result(c, r);
  if (rc == 0) rc = check_config(c);
  if (rc < 0) return rc;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  rc = engine_init(&g, c, r);
  if (rc < 0) goto out;
  g.window_ns = (int64_t)((r->windowed ? c->window_s : c->duration_s) * 1e9);
  g.t0 = time_mono_ns();
  g.measure_ns = g.t0 + (int64_t)(c->warmup_s * 1e9);
  g.end_ns = g.measure_ns + (int64_t)r->n_windows * g.window_ns;
  g.next_send_ns = g.t0;
  for (int i = 0; i < r->n_windows; i++) r->windows[i].start_ns = g.measure_ns + i * g.window_ns;
  g.sending = true;
  if (c->mode == LOAD_CLOSED)
    for (int i = 0; i < c->concurrency && rc == 0; i++) rc = start_request(&g, g.t0);
  if (rc == 0) rc = schedule(&g, time_mono_ns());
  if (rc == 0) arm(&g, time_mono_ns());
  int64_t drain_until = -1;
  while (rc == 0 && (g.sending || g.in_flight)) {
    rc = step(&g);
    if (!g.sending && drain_until < 0)
      drain_until = time_mono_ns() + (int64_t)(c->timeout_s * 1e9) + 1000000000;
    if (drain_until >= 0 && time_mono_ns() > drain_until) break; /* curl's own timeout failed us */
  }
  if (rc == 0) summarize(r);
out:
  engine_free(&g);
  return rc;
}
