/*
 * test_loadgen.c — the load generator (load/loadgen.h) against a real HTTP
 * server on a loopback port (libmicrohttpd, a thread per connection, started
 * in this file): the server's request count equals the generator's; the open
 * loop's rate (a count, in a wide band); the closed loop keeps exactly N in
 * flight; errors by kind; and coordinated omission: a 1 s stall shows in the
 * corrected p99 and hides from the uncorrected one; fixed schedules from a
 * file of gaps (parsing, errors with file:line, the count they send); bodies
 * sent in turn.
 *
 * No timing assertions beyond counts and wide latency relations.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "load/loadgen.h"
#include "load/schedule.h"
#include <stdio.h>
#include <unistd.h>
#include "testutil.h"

/* --- the test server --- */

struct server {
  struct MHD_Daemon *d;
  int port;
  atomic_int requests, in_flight, max_in_flight;
  atomic_int by_first_byte[256]; /* POST bodies seen, by their first byte */
  int64_t delay_ns;       /* every request takes this long */
  int64_t stall_after_ns; /* > 0: stall once, this long after the first request */
  int64_t stall_ns;
  _Atomic int64_t first_ns, stall_until_ns;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  (void)method, (void)version, (void)upload;
  struct server *s = cls;
  if (!*state) { /* first call: headers only */
    *state = s;
    return MHD_YES;
  }
  if (*upload_size) { /* swallow a POST body, counting it by its first byte */
    if (*state == s) atomic_fetch_add(&s->by_first_byte[(unsigned char)upload[0]], 1);
    *state = (void *)upload; /* a body's later chunks are not counted again */
    *upload_size = 0;
    return MHD_YES;
  }
  int now_in = atomic_fetch_add(&s->in_flight, 1) + 1, seen = atomic_load(&s->max_in_flight);
  while (now_in > seen && !atomic_compare_exchange_weak(&s->max_in_flight, &seen, now_in)) {
  }
  atomic_fetch_add(&s->requests, 1);
  int64_t now = time_mono_ns(), zero = 0;
  atomic_compare_exchange_strong(&s->first_ns, &zero, now);
  if (s->stall_after_ns > 0 && now - atomic_load(&s->first_ns) >= s->stall_after_ns) {
    int64_t none = 0, until = now + s->stall_ns;
    atomic_compare_exchange_strong(&s->stall_until_ns, &none, until); /* the one stall */
  }
  int64_t until = atomic_load(&s->stall_until_ns);
  if (until > now) time_sleep_ns(until - now);
  if (s->delay_ns) time_sleep_ns(s->delay_ns);
  unsigned status = !strcmp(url, "/500") ? 500 : !strcmp(url, "/404") ? 404 : 200;
  struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
  enum MHD_Result rc = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  atomic_fetch_sub(&s->in_flight, 1);
  return rc;
}

static void server_start(struct server *s) {
  s->d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, answer, s,
      MHD_OPTION_SOCK_ADDR,
      &(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
      MHD_OPTION_END);
  cr_assert_not_null(s->d, "could not start the test server");
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = i->port;
  cr_assert(s->port > 0);
}

static void server_stop(struct server *s) {
  if (s->d) MHD_stop_daemon(s->d);
  s->d = NULL;
}

static void url_of(const struct server *s, const char *path, char *buf, size_t len) {
  snprintf(buf, len, "http://127.0.0.1:%d%s", s->port, path);
}

static uint64_t all_done(const struct load_result *r) {
  return r->sum.ok + load_window_errors(&r->sum);
}

/* --- tests --- */

Test(loadgen, server_count_equals_generator_count) {
  static struct server s;
  server_start(&s);
  char url[128];
  url_of(&s, "/x", url, sizeof url);
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_CLOSED, c.concurrency = 3, c.duration_s = 0.5;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  server_stop(&s);
  cr_assert_gt(r.sum.ok, 10);
  cr_assert_eq(r.sent, r.done);
  cr_assert_eq((uint64_t)atomic_load(&s.requests), r.sent, "server %d, generator %llu",
               atomic_load(&s.requests), (unsigned long long)r.sent);
  cr_assert_eq(all_done(&r), r.sent, "no warm-up: every request is measured");
  cr_assert_eq(hist_count(r.sum.lat), r.sum.ok);
  load_result_free(&r);
}

Test(loadgen, open_loop_rate_and_post_body) {
  static struct server s;
  server_start(&s);
  char url[128];
  url_of(&s, "/post", url, sizeof url);
  static const char *hdr[] = {"Content-Type: application/json"};
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_OPEN, c.rate = 200, c.duration_s = 1, c.method = "POST";
  c.body = "{\"inputs\": []}", c.body_len = strlen(c.body), c.headers = hdr, c.n_headers = 1;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  server_stop(&s);
  /* 200 scheduled; a count, so the band is wide enough for a loaded machine */
  cr_assert(r.sent >= 140 && r.sent <= 260, "sent %llu, expected ~200", (unsigned long long)r.sent);
  cr_assert_eq((uint64_t)atomic_load(&s.requests), r.sent);
  cr_assert_eq(r.sum.ok, r.sent);
  load_result_free(&r);
}

Test(loadgen, poisson_schedule_rate) {
  static struct server s;
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_OPEN, c.rate = 300, c.poisson = true, c.seed = 7, c.duration_s = 1;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  server_stop(&s);
  cr_assert(r.sent >= 210 && r.sent <= 390, "sent %llu, expected ~300", (unsigned long long)r.sent);
  cr_assert_eq((uint64_t)atomic_load(&s.requests), r.sent);
  load_result_free(&r);
}

Test(loadgen, closed_loop_keeps_exactly_n_in_flight) {
  static struct server s;
  s.delay_ns = 20000000; /* 20 ms each, so the N requests overlap */
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_CLOSED, c.concurrency = 5, c.duration_s = 0.6;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  server_stop(&s);
  cr_assert_eq(atomic_load(&s.max_in_flight), 5, "server saw at most %d at once",
               atomic_load(&s.max_in_flight));
  cr_assert_gt(r.sum.ok, 5);
  load_result_free(&r);
}

Test(loadgen, errors_by_kind) {
  static struct server s;
  server_start(&s);
  char url[128];
  struct load_config c;
  struct load_result r;
  load_config_defaults(&c);
  c.mode = LOAD_CLOSED, c.concurrency = 2, c.duration_s = 0.3, c.url = url;
  url_of(&s, "/500", url, sizeof url);
  cr_assert_eq(load_run(&c, &r), 0);
  cr_assert_gt(r.sum.errors[LOAD_ERR_HTTP5XX], 0);
  cr_assert_eq(r.sum.ok, 0);
  cr_assert_eq(r.sum.errors[LOAD_ERR_HTTP5XX], r.sent);
  cr_assert_eq(hist_count(r.sum.lat), 0, "failed requests are not latency samples");
  load_result_free(&r);
  url_of(&s, "/404", url, sizeof url);
  cr_assert_eq(load_run(&c, &r), 0);
  cr_assert_eq(r.sum.errors[LOAD_ERR_HTTP4XX], r.sent);
  load_result_free(&r);
  int port = s.port;
  server_stop(&s); /* now nothing listens there */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
  c.mode = LOAD_OPEN, c.rate = 50;
  cr_assert_eq(load_run(&c, &r), 0);
  cr_assert_gt(r.sum.errors[LOAD_ERR_CONNECT], 0);
  cr_assert_eq(r.sum.errors[LOAD_ERR_CONNECT], r.sent);
  load_result_free(&r);
}

Test(loadgen, timeout_is_its_own_kind) {
  static struct server s;
  s.delay_ns = 800000000; /* slower than the timeout */
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_CLOSED, c.concurrency = 1, c.duration_s = 0.2, c.timeout_s = 0.2;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  cr_assert_gt(r.sum.errors[LOAD_ERR_TIMEOUT], 0);
  cr_assert_eq(r.sum.ok, 0);
  load_result_free(&r);
  server_stop(&s);
}

Test(loadgen, bad_config_is_rejected) {
  struct load_config c;
  struct load_result r;
  load_config_defaults(&c);
  c.url = "http://127.0.0.1:1/", c.mode = LOAD_OPEN, c.rate = 0;
  cr_assert_eq(load_run(&c, &r), ERR_INVALID);
  load_result_free(&r);
  c.rate = 10, c.window_s = 1, c.duration_s = 2;
  cr_assert_eq(load_run(&c, &r), ERR_INVALID, "fewer than 3 windows");
  load_result_free(&r);
  c.window_s = 0, c.method = "DELETE";
  cr_assert_eq(load_run(&c, &r), ERR_INVALID);
  load_result_free(&r);
}

Test(loadgen, windows_reach_stability_on_a_steady_server) {
  static struct server s;
  s.delay_ns = 2000000; /* a steady 2 ms service time */
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_OPEN, c.rate = 100, c.window_s = 0.3, c.duration_s = 3;
  c.percentile = 50, c.stability_pct = 50; /* generous: this checks the rule's plumbing */
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  server_stop(&s);
  cr_assert(r.windowed);
  cr_assert(r.stable, "a steady server should give stable windows");
  cr_assert_eq(r.last - r.first, 2);
  cr_assert_lt(r.n_windows, 10, "stopped once stable");
  cr_assert(r.sum.seconds >= 0.9 - 1e-9 && r.sum.seconds < 1.2, "3 windows of 0.3 s: %g s",
            r.sum.seconds);
  load_result_free(&r);
}

/*
 * Coordinated omission: 200 req/s for 3 s over 2 connections; 1 s after the
 * first request the server stalls once for 1 s. About a third of the requests
 * were due during the stall: timed from their intended send they wait up to
 * 1 s (corrected p99 near 1 s), timed from the actual send only the two in
 * flight saw it (uncorrected p99 small).
 */
Test(loadgen, coordinated_omission) {
  static struct server s;
  s.stall_after_ns = 1000000000, s.stall_ns = 1000000000;
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_OPEN, c.rate = 200, c.duration_s = 3, c.connections = 2;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0);
  server_stop(&s);
  cr_assert_neq(atomic_load(&s.stall_until_ns), 0, "the server did stall");
  int64_t p99 = hist_percentile(r.sum.lat, 99), raw = hist_percentile(r.sum.uncorr, 99);
  cr_assert_geq(p99, 500000000, "corrected p99 %.1f ms should show the 1 s stall", p99 / 1e6);
  cr_assert_lt(raw, 250000000, "uncorrected p99 %.1f ms should hide it", raw / 1e6);
  cr_assert_gt(p99, 3 * raw);
  cr_assert_gt(r.late, 50, "the generator reports it fell behind");
  cr_assert_geq(r.lag_max_ns, 500000000);
  cr_assert_eq(r.sum.ok, r.sent);
  load_result_free(&r);
}

/* --- schedules and bodies --- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

Test(schedule, reads_gaps_with_units_and_comments) {
  char path[] = "/tmp/gpuops-sched-XXXXXX";
  close(mkstemp(path));
  write_file(path, "# gaps\n1000\n\n2.5ms\n  0.5 s # a long one\n250us\n0\n");
  int64_t *g;
  size_t n;
  cr_assert_eq(load_schedule_read(path, &g, &n), 0, "%s", err_msg());
  cr_assert_eq(n, 5);
  cr_assert_eq(g[0], 1000000);
  cr_assert_eq(g[1], 2500000);
  cr_assert_eq(g[2], 500000000);
  cr_assert_eq(g[3], 250000);
  cr_assert_eq(g[4], 0);
  cr_assert_float_eq(load_schedule_rate(g, n), 5 / 0.50375, 1e-9);
  free(g);
  unlink(path);
}

Test(schedule, bad_lines_name_file_and_line) {
  static const char *bad[][2] = {{"100\nabc\n", ":2:"}, {"100\n200\n-5\n", ":3:"},
                                 {"10 parsecs\n", ":1:"}, {"5 ms 6\n", ":1:"},
                                 {"# nothing\n\n", "no gaps"}, {"0\n0\n", "every gap is 0"}};
  char path[] = "/tmp/gpuops-sched-XXXXXX";
  close(mkstemp(path));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    write_file(path, bad[i][0]);
    int64_t *g;
    size_t n;
    cr_assert_eq(load_schedule_read(path, &g, &n), ERR_PARSE, "accepted %s", bad[i][0]);
    cr_assert_not_null(strstr(err_msg(), bad[i][1]), "'%s': %s", bad[i][0], err_msg());
    cr_assert_not_null(strstr(err_msg(), path), "%s", err_msg());
  }
  unlink(path);
  int64_t *g;
  size_t n;
  cr_assert_eq(load_schedule_read("/nonexistent/gaps", &g, &n), ERR_IO);
}

/* Gaps 2 ms, 8 ms cycled: 10 ms per 2 requests, so 1 s sends about 200. */
Test(schedule, a_fixed_schedule_sends_its_count) {
  static struct server s;
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  static const int64_t gaps[] = {2000000, 8000000};
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_OPEN, c.gaps_ns = gaps, c.n_gaps = 2, c.duration_s = 1;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0, "%s", err_msg());
  server_stop(&s);
  cr_assert_float_eq(r.offered, 200, 1e-9);
  cr_assert(r.sent >= 190 && r.sent <= 201, "sent %llu, the schedule holds 200",
            (unsigned long long)r.sent);
  cr_assert_eq((uint64_t)atomic_load(&s.requests), r.sent);
  load_result_free(&r);
  c.mode = LOAD_CLOSED;
  cr_assert_eq(load_run(&c, &r), ERR_INVALID, "a schedule in the closed loop");
  load_result_free(&r);
}

Test(loadgen, bodies_are_sent_in_turn) {
  static struct server s;
  server_start(&s);
  char url[128];
  url_of(&s, "/", url, sizeof url);
  static const struct load_body bodies[] = {{"a-body", 6}, {"b-body", 6}, {"c-body", 6}};
  struct load_config c;
  load_config_defaults(&c);
  c.url = url, c.mode = LOAD_CLOSED, c.concurrency = 2, c.duration_s = 0.4, c.method = "POST";
  c.bodies = bodies, c.n_bodies = 3;
  struct load_result r;
  cr_assert_eq(load_run(&c, &r), 0, "%s", err_msg());
  server_stop(&s);
  int a = atomic_load(&s.by_first_byte['a']), b = atomic_load(&s.by_first_byte['b']),
      cc = atomic_load(&s.by_first_byte['c']);
  cr_assert_eq((uint64_t)(a + b + cc), r.sent, "every request carried one of the bodies");
  cr_assert(abs(a - b) <= 1 && abs(b - cc) <= 1, "rotated evenly: %d %d %d", a, b, cc);
  load_result_free(&r);
  c.method = "GET";
  cr_assert_eq(load_run(&c, &r), ERR_INVALID, "bodies need POST");
  load_result_free(&r);
}
