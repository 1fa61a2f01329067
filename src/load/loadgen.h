/*
 * loadgen.h — the load generator's engine: HTTP requests driven through
 * libcurl's multi interface (curl_multi_socket_action on epoll, a timerfd for
 * microsecond scheduling), in a closed loop (N requests always in flight) or
 * an open loop (a constant or Poisson arrival schedule).
 *
 * Latency: in the open loop each request is timed from its INTENDED send time
 * (the schedule), so a stalled server or a full connection pool cannot hide
 * latency (no coordinated omission); the time from the actual send is
 * recorded beside it ("uncorrected"). A request belongs to the measurement
 * window its intended send time falls in; warm-up requests are not recorded.
 *
 * Windows: without a window length the run is one window of duration_s. With
 * window_s, windows run until the last 3 finished windows agree within
 * +-stability_pct in throughput and in the chosen percentile (perf_analyzer's
 * rule), or duration_s is spent; the result merges the last 3 windows.
 *
 * Sections: configuration, results, running.
 * Threads: one call runs on the calling thread; calls share nothing.
 */
#ifndef GPUOPS_LOAD_LOADGEN_H
#define GPUOPS_LOAD_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hist.h"

/* --- configuration --- */

enum load_mode { LOAD_CLOSED = 0, LOAD_OPEN };

enum load_err {
  LOAD_ERR_CONNECT = 0, /* connection refused, unresolvable host */
  LOAD_ERR_TIMEOUT,     /* no complete answer within timeout_s */
  LOAD_ERR_HTTP4XX,
  LOAD_ERR_HTTP5XX,
  LOAD_ERR_OTHER, /* any other transfer failure, or an unexpected status */
  LOAD_ERR_N
};

/* One request body (not copied). */
struct load_body {
  const char *data;
  size_t len; /* bytes */
};

struct load_config {
  const char *url;
  const char *method;   /* "GET" (default) or "POST" */
  const char *body;     /* POST body (not copied; NULL = empty) */
  size_t body_len;      /* bytes */
  const struct load_body *bodies; /* n_bodies > 0: POST these in turn instead of body */
  int n_bodies;
  const char **headers; /* "K: V" lines, n_headers of them */
  int n_headers;
  enum load_mode mode;
  int concurrency;      /* closed loop: requests in flight (>= 1) */
  double rate;          /* open loop: requests per second (> 0) */
  bool poisson;         /* open loop: exponential gaps instead of constant */
  uint64_t seed;        /* Poisson schedule seed */
  const int64_t *gaps_ns; /* open loop: a fixed schedule of gaps, cycled (not copied); */
  size_t n_gaps;          /*   n_gaps > 0 replaces rate/poisson (rate = 1 / mean gap) */
  int connections;      /* open loop: connection limit (default 64) */
  double duration_s;    /* one window's length, or the cap with window_s */
  double warmup_s;      /* excluded from every figure */
  double window_s;      /* 0 = one window of duration_s */
  double percentile;    /* the stability rule's percentile (default 99) */
  double stability_pct; /* default 10 */
  double timeout_s;     /* per request (default 10) */
  int64_t late_ns;      /* a send this late counts as behind schedule (default 1 ms) */
};

/* Defaults for every field but url, mode and concurrency/rate. */
void load_config_defaults(struct load_config *c);

/* --- results --- */

struct load_window {
  struct hist *lat;    /* corrected: from the intended send time */
  struct hist *uncorr; /* from the actual send time */
  uint64_t ok;         /* 2xx/3xx answers */
  uint64_t errors[LOAD_ERR_N];
  double seconds; /* the window's length, stretched to its last answer when that came later */
  int64_t start_ns, last_done_ns; /* CLOCK_MONOTONIC */
};

struct load_result {
  struct load_window *windows; /* every measured window, in order */
  int n_windows;
  int n_alloc;            /* windows allocated (internal) */
  int first, last;        /* the windows the summary merges (inclusive) */
  bool windowed, stable;  /* stable: the rule held (always true when not windowed) */
  struct load_window sum; /* merge of windows first..last */
  double throughput;      /* sum.ok / sum.seconds: answers per second, so a generator
                             or server that fell behind shows below the offered rate */
  uint64_t sent, done;    /* every request, warm-up included */
  uint64_t late;          /* measured requests sent later than late_ns after their intended time */
  int64_t lag_max_ns;     /* the largest such lag */
  double offered;         /* rate (open) or concurrency (closed), for reports */
  enum load_mode mode;
};

void load_result_free(struct load_result *r);
const char *load_err_name(enum load_err e); /* "connect", "timeout", "http_4xx", ... */
uint64_t load_window_errors(const struct load_window *w);
/*
 * ERR_UNREACHABLE (message naming url) when no measured request got an answer
 * because every one failed to connect (nothing listens there, the host is
 * unknown); 0 otherwise.
 */
int load_result_reachable(const struct load_result *r, const char *url);

/* --- running --- */

/*
 * Run the load described by c and fill *r (freed with load_result_free, also
 * after a failure). Returns 0, ERR_INVALID for a bad configuration, ERR_NOMEM,
 * or ERR_IO when curl or epoll fail. Failed requests are results, not errors.
 */
int load_run(const struct load_config *c, struct load_result *r);

#endif
