/*
 * cmd_load.c — `gpuops load URL`: drive an HTTP endpoint in a closed loop
 * (--concurrency N) or an open loop (--rate R, --poisson) and report
 * throughput, latency percentiles (corrected for coordinated omission, and
 * uncorrected beside them) and errors by kind (load/loadgen.h, load/report.h).
 *
 * Sections: options, body and headers, the command.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "load/loadgen.h"
#include "load/report.h"

enum { MAX_HEADERS = 32 };

/* --- options --- */

/* "p99", "99", "p99.9" -> 99 / 99.9; ERR_INVALID otherwise. */
static int parse_percentile(const char *s, double *out) {
  const char *p = s[0] == 'p' || s[0] == 'P' ? s + 1 : s;
  char *end;
  double v = strtod(p, &end);
  if (!*p || *end || !(v > 0 && v <= 100))
    return err_set(ERR_INVALID, "--percentile '%s' is not p1..p100 (e.g. p99, p99.9)", s);
  *out = v;
  return 0;
}

/*
 * Pull every "--header V" / "--header=V" out of argv (cli_parse takes each
 * option once) into hdr[]; returns the new argc or a negative code.
 */
static int take_headers(int argc, char **argv, const char **hdr, int *n) {
  int out = 0;
  *n = 0;
  for (int i = 0; i < argc; i++) {
    const char *v = NULL;
    if (!strcmp(argv[i], "--")) {
      while (i < argc) argv[out++] = argv[i++];
      break;
    }
    if (!strcmp(argv[i], "--header") && i + 1 < argc)
      v = argv[++i];
    else if (!strncmp(argv[i], "--header=", 9))
      v = argv[i] + 9;
    if (!v) {
      argv[out++] = argv[i];
      continue;
    }
    if (*n == MAX_HEADERS)
      return err_set(ERR_INVALID, "more than %d --header options", MAX_HEADERS);
    if (!strchr(v, ':')) return err_set(ERR_INVALID, "--header '%s' is not \"Name: value\"", v);
    hdr[(*n)++] = v;
  }
  return out;
}

/* --- body and headers --- */

/* Read FILE whole into *buf (malloc'ed, caller frees). */
static int read_body(const char *path, char **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(ERR_IO, "--body %s: cannot open (check the path)", path);
  int rc = 0;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  while (b) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    char *nb = cap > (SIZE_MAX >> 2) ? NULL : realloc(b, cap *= 2);
    if (!nb) free(b);
    b = nb;
  }
  if (!b)
    rc = err_set(ERR_NOMEM, "--body %s: out of memory", path);
  else if (ferror(f))
    rc = err_set(ERR_IO, "--body %s: read error", path);
  fclose(f);
  if (rc < 0) {
    free(b);
    return rc;
  }
  *buf = b, *len = n;
  return 0;
}

/* --- the command --- */

int cmd_load(int argc, char **argv) {
  const char *hdr[MAX_HEADERS];
  int n_hdr = 0;
  argc = take_headers(argc, argv, hdr, &n_hdr);
  if (argc < 0) return cli_usage_error("load", "%s", err_msg());
  struct load_config c;
  load_config_defaults(&c);
  double rate = 0, duration = 10, warmup = 0, window = 0, timeout = 10;
  int concurrency = 0, seed = 1, connections = 64;
  bool poisson = false;
  const char *pct = "p99", *body_path = NULL, *method = NULL, *hdr_seen = NULL;
  const struct cli_option opts[] = {
      {"duration", 0, CLI_ARG_DOUBLE, &duration, "S",
       "measure S seconds (with --window: at most S; default 10)"},
      {"rate", 0, CLI_ARG_DOUBLE, &rate, "R", "open loop: R requests per second"},
      {"concurrency", 0, CLI_ARG_INT, &concurrency, "N",
       "closed loop: N requests in flight (default 1)"},
      {"connections", 0, CLI_ARG_INT, &connections, "N",
       "open loop: at most N connections (default 64)"},
      {"poisson", 0, CLI_ARG_FLAG, &poisson, NULL,
       "open loop: Poisson arrivals (default: constant gaps)"},
      {"seed", 0, CLI_ARG_INT, &seed, "S", "seed of the Poisson schedule (default 1)"},
      {"warmup", 0, CLI_ARG_DOUBLE, &warmup, "S", "seconds of load before measuring (default 0)"},
      {"window", 0, CLI_ARG_DOUBLE, &window, "S",
       "measurement windows of S seconds until 3 agree within 10%"},
      {"percentile", 0, CLI_ARG_STRING, &pct, "pP",
       "percentile of the stability rule (default p99)"},
      {"timeout", 0, CLI_ARG_DOUBLE, &timeout, "S", "per-request timeout (default 10)"},
      {"body", 0, CLI_ARG_STRING, &body_path, "FILE", "request body (implies POST)"},
      {"method", 0, CLI_ARG_STRING, &method, "M", "GET or POST (default GET, POST with --body)"},
      {"header", 0, CLI_ARG_STRING, &hdr_seen, "\"K: V\"", "extra request header (repeatable)"},
      {0}};
  const struct cli_spec spec = {
      "load",
      "URL [--duration S] [--rate R [--poisson] | --concurrency N] [--window S] [--body FILE]",
      "HTTP load generator. Open-loop latency is timed from each request's intended send time, so "
      "a stalled server cannot hide behind a waiting client (coordinated omission); the "
      "uncorrected figure is shown beside it.",
      CLI_FORMAT | CLI_OUTPUT,
      opts,
      1,
      1};
  struct cli_common common;
  int npos, rc = cli_parse(&spec, argc, argv, &common, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if (rate > 0 && concurrency > 0)
    return cli_usage_error("load", "give --rate or --concurrency, not both");
  if (rate < 0 || concurrency < 0)
    return cli_usage_error("load", "--rate and --concurrency must be positive");
  if (poisson && !(rate > 0)) return cli_usage_error("load", "--poisson needs --rate R");
  if (parse_percentile(pct, &c.percentile) < 0) return cli_usage_error("load", "%s", err_msg());
  c.url = argv[1];
  c.mode = rate > 0 ? LOAD_OPEN : LOAD_CLOSED;
  c.rate = rate, c.concurrency = concurrency > 0 ? concurrency : 1, c.connections = connections;
  c.poisson = poisson, c.seed = (uint64_t)seed, c.duration_s = duration, c.warmup_s = warmup;
  c.window_s = window, c.timeout_s = timeout, c.headers = hdr, c.n_headers = n_hdr;
  c.method = method ? method : body_path ? "POST" : "GET";

  char *body = NULL;
  struct load_result r = {0};
  bool close_it = false;
  FILE *out = NULL;
  if (body_path && (rc = read_body(body_path, &body, &c.body_len)) < 0) goto out;
  c.body = body;
  if ((rc = load_run(&c, &r)) < 0) goto out;
  out = cli_output_open("load", &common, &close_it);
  if (!out) {
    rc = ERR_IO;
    goto out;
  }
  rc = load_report_write(out, &c, &r, common.format);
  cli_output_close(out, close_it);
  load_report_warnings(stderr, &c, &r);
out:;
  bool stable = r.stable;
  load_result_free(&r);
  free(body);
  if (rc < 0) return cli_fail("load", rc);
  return stable ? EXIT_OK : EXIT_CHECK;
}
