/*
 * cmd_load.c — `gpuops load URL`: drive an HTTP endpoint in a closed loop
 * (--concurrency N) or an open loop (--rate R, --poisson, --schedule FILE)
 * and report throughput, latency percentiles (corrected for coordinated
 * omission, and uncorrected beside them) and errors by kind; sweep a range of
 * loads (--rate-range, --concurrency-range) with a chart (--chart), or search
 * it for the highest load meeting an SLA (--sla p99=50ms). --model NAME sends
 * KServe v2 infer bodies generated from the model's metadata. The library does
 * the work (load/loadgen.h, sweep.h, sla.h, payload.h, chart.h, report.h).
 *
 * Sections: options, body and headers, payloads, the three runs, the command.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonio.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "load/chart.h"
#include "load/loadgen.h"
#include "load/payload.h"
#include "load/report.h"
#include "load/schedule.h"
#include "load/sla.h"
#include "load/sweep.h"

enum { MAX_HEADERS = 32, N_BODIES_DEFAULT = 8 };

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

/* --- payloads --- */

/* What the command holds for the run, freed in one place. */
struct load_inputs {
  char *body;
  int64_t *gaps;
  struct payload_set payload;
  char url[1024];
  const char *hdr[MAX_HEADERS + 2];
};

static void inputs_free(struct load_inputs *in) {
  free(in->body);
  free(in->gaps);
  payload_set_free(&in->payload);
}

/* --model: fetch the metadata at base, generate bodies, point c at .../infer. */
static int setup_model(struct load_config *c, struct load_inputs *in, const char *model, int batch,
                       const char *shape, bool binary, int n_bodies, int seed) {
  json_t *meta = NULL;
  struct payload_model m;
  int rc = payload_fetch(c->url, model, c->timeout_s, &meta);
  if (rc == 0) rc = payload_model_parse(meta, batch, shape, &m);
  json_decref(meta);
  if (rc == 0) rc = payload_generate(&m, n_bodies, binary, (uint64_t)seed, &in->payload);
  if (rc < 0) return rc;
  size_t bl = strlen(c->url);
  snprintf(in->url, sizeof in->url, "%.*s/v2/models/%s/infer",
           (int)(bl && c->url[bl - 1] == '/' ? bl - 1 : bl), c->url, model);
  c->url = in->url;
  c->method = "POST";
  c->bodies = in->payload.bodies, c->n_bodies = in->payload.n;
  in->hdr[c->n_headers++] = in->payload.content_type;
  if (in->payload.header[0]) in->hdr[c->n_headers++] = in->payload.header;
  return 0;
}

/* --- the three runs --- */

static FILE *open_out(const struct cli_common *common, bool *close_it) {
  return cli_output_open("load", common, close_it);
}

/* One measurement (windows or not): the report and its warnings; exit 1 when not stable. */
static int run_single(const struct load_config *c, const struct cli_common *common) {
  struct load_result r = {0};
  bool close_it = false;
  int rc = load_run(c, &r);
  if (rc == 0) rc = load_result_reachable(&r, c->url);
  FILE *out = rc == 0 ? open_out(common, &close_it) : NULL;
  if (rc == 0 && !out) rc = ERR_IO;
  if (rc == 0) {
    rc = load_report_write(out, c, &r, common->format);
    cli_output_close(out, close_it);
    load_report_warnings(stderr, c, &r);
  }
  bool stable = r.stable;
  load_result_free(&r);
  if (rc < 0) return cli_fail("load", rc);
  return stable ? EXIT_OK : EXIT_CHECK;
}

static int write_chart(const char *path, const struct load_point *pts, int n, const struct sla *s,
                       const struct load_config *c) {
  if (!path || !n) return 0;
  char title[160];
  snprintf(title, sizeof title, "%s: latency vs throughput (%s loop)", c->url,
           c->mode == LOAD_OPEN ? "open" : "closed");
  struct load_chart_series one = {"", pts, n};
  return load_chart_svg_file(path, &one, 1, s, title);
}

/* Every load of the range; exit 0 (points with errors are results, shown as such). */
static int run_sweep(const struct load_config *c, const struct load_range *range,
                     const struct cli_common *common, const char *chart) {
  struct load_sweep sw = {c, 0, stderr};
  struct load_point *pts = NULL;
  int n = 0, rc = load_sweep_run(&sw, range, &pts, &n);
  bool close_it = false;
  FILE *out = rc == 0 ? open_out(common, &close_it) : NULL;
  if (rc == 0 && !out) rc = ERR_IO;
  if (rc == 0) {
    rc = load_points_write(out, pts, n, c->mode, -1, false, common->format);
    cli_output_close(out, close_it);
  }
  if (rc == 0) rc = write_chart(chart, pts, n, NULL, c);
  free(pts);
  return rc < 0 ? cli_fail("load", rc) : EXIT_OK;
}

static int write_sla_json(FILE *out, const struct sla *s, const struct sla_result *res,
                          const struct load_config *c) {
  char txt[48];
  sla_format(s, txt, sizeof txt);
  json_t *o = json_object();
  json_object_set_new(o, "url", json_string(c->url));
  json_object_set_new(o, "mode", json_string(c->mode == LOAD_OPEN ? "open" : "closed"));
  json_object_set_new(o, "sla", json_string(txt));
  json_object_set_new(o, "met", json_boolean(res->best >= 0));
  json_object_set_new(o, "best_load", res->best >= 0 ? json_real(res->points[res->best].load)
                                                     : json_null());
  json_object_set_new(o, "best_throughput_rps",
                      res->best >= 0 ? json_real(res->points[res->best].throughput) : json_null());
  json_object_set_new(o, "points", load_points_json(res->points, res->n, c->mode, true));
  int rc = jsonio_write(out, o);
  json_decref(o);
  return rc;
}

static void print_sla_verdict(FILE *f, const struct sla *s, const struct sla_result *res,
                              const struct load_config *c) {
  char txt[48];
  sla_format(s, txt, sizeof txt);
  const char *what = c->mode == LOAD_OPEN ? "rate" : "concurrency";
  if (res->best < 0) {
    fprintf(f, "SLA %s: missed even at the lowest %s, %g\n", txt, what, res->points[0].load);
    return;
  }
  const struct load_point *b = &res->points[res->best];
  fprintf(f, "SLA %s: highest %s meeting it: %g (%.1f req/s, p%g %.3f ms; %d points tried)\n", txt,
          what, b->load, b->throughput, s->percentile, b->sla_ns / 1e6, res->n);
}

/* The SLA search over the range; exit 1 when even the lowest load misses. */
static int run_sla(const struct load_config *c, const struct load_range *range, const struct sla *s,
                   const struct cli_common *common, const char *chart) {
  struct load_sweep sw = {c, s->percentile, stderr};
  struct sla_result res;
  int rc = sla_search(s, range, load_sweep_measure, &sw, &res);
  bool close_it = false;
  FILE *out = rc == 0 ? open_out(common, &close_it) : NULL;
  if (rc == 0 && !out) rc = ERR_IO;
  if (rc == 0) {
    if (common->format == TABLE_FMT_JSON) {
      rc = write_sla_json(out, s, &res, c);
    } else {
      if (common->format == TABLE_FMT_TABLE) print_sla_verdict(out, s, &res, c);
      rc = load_points_write(out, res.points, res.n, c->mode, res.best, true, common->format);
    }
    cli_output_close(out, close_it);
    if (common->format != TABLE_FMT_TABLE || common->output) print_sla_verdict(stderr, s, &res, c);
  }
  if (rc == 0) rc = write_chart(chart, res.points, res.n, s, c);
  bool met = res.best >= 0;
  sla_result_free(&res);
  if (rc < 0) return cli_fail("load", rc);
  return met ? EXIT_OK : EXIT_CHECK;
}

/* --- the command --- */

struct load_args {
  double rate, duration, warmup, window, timeout, stability;
  int concurrency, seed, connections, batch, n_bodies;
  bool poisson, binary;
  const char *pct, *body_path, *method, *hdr_seen, *schedule, *model, *shape;
  const char *rate_range, *conc_range, *sla, *chart;
};

/* Checks across options that cli_parse cannot see. 0, or a usage error's exit code. */
static int check_args(const struct load_args *a) {
  int open_ways = (a->rate > 0) + (a->schedule != NULL) + (a->rate_range != NULL);
  if (open_ways > 1) return cli_usage_error("load", "give one of --rate, --rate-range, --schedule");
  if (open_ways && (a->concurrency > 0 || a->conc_range))
    return cli_usage_error("load", "give an open loop (--rate...) or a closed one (--concurrency...), not both");
  if (a->concurrency > 0 && a->conc_range)
    return cli_usage_error("load", "give --concurrency or --concurrency-range, not both");
  if (a->rate < 0 || a->concurrency < 0)
    return cli_usage_error("load", "--rate and --concurrency must be positive");
  if (a->poisson && !(a->rate > 0 || a->rate_range))
    return cli_usage_error("load", "--poisson needs --rate R or --rate-range");
  if (a->sla && !a->rate_range && !a->conc_range)
    return cli_usage_error("load", "--sla searches a range: give --rate-range a:b[:step] or "
                           "--concurrency-range a:b[:step]");
  if (a->chart && !a->rate_range && !a->conc_range)
    return cli_usage_error("load", "--chart draws a sweep: give --rate-range or --concurrency-range");
  if (a->model && a->body_path) return cli_usage_error("load", "give --model or --body, not both");
  if ((a->binary || a->shape) && !a->model)
    return cli_usage_error("load", "--binary and --shape shape the bodies of --model NAME");
  if (a->n_bodies < 1 || a->n_bodies > 1024)
    return cli_usage_error("load", "--bodies %d: give 1..1024", a->n_bodies);
  if (!(a->stability > 0 && a->stability < 100))
    return cli_usage_error("load", "--stability %g: give a percentage in (0, 100)", a->stability);
  return 0;
}

static void fill_config(const struct load_args *a, const char *url, struct load_config *c) {
  load_config_defaults(c);
  bool ranged = a->rate_range || a->conc_range;
  c->url = url;
  c->mode = a->rate > 0 || a->rate_range || a->schedule ? LOAD_OPEN : LOAD_CLOSED;
  c->rate = a->rate, c->concurrency = a->concurrency > 0 ? a->concurrency : 1;
  c->connections = a->connections, c->poisson = a->poisson, c->seed = (uint64_t)a->seed;
  c->duration_s = a->duration, c->warmup_s = a->warmup, c->timeout_s = a->timeout;
  c->window_s = a->window > 0 ? a->window : ranged ? 1 : 0; /* each point of a sweep is windowed */
  c->stability_pct = a->stability;
  c->method = a->method ? a->method : a->body_path ? "POST" : "GET";
}

/* Body, schedule and payload: what the configuration points into. */
static int load_inputs(const struct load_args *a, struct load_config *c, struct load_inputs *in) {
  int rc = 0;
  if (a->body_path && (rc = read_body(a->body_path, &in->body, &c->body_len)) < 0) return rc;
  c->body = in->body;
  if (a->schedule && (rc = load_schedule_read(a->schedule, &in->gaps, &c->n_gaps)) < 0) return rc;
  c->gaps_ns = in->gaps;
  c->headers = in->hdr;
  if (a->model)
    rc = setup_model(c, in, a->model, a->batch, a->shape, a->binary, a->n_bodies, a->seed);
  return rc;
}

int cmd_load(int argc, char **argv) {
  struct load_inputs in = {0};
  int n_hdr = 0;
  argc = take_headers(argc, argv, in.hdr, &n_hdr);
  if (argc < 0) return cli_usage_error("load", "%s", err_msg());
  struct load_args a = {.duration = 10, .timeout = 10, .stability = 10, .seed = 1,
                        .connections = 64, .batch = 1, .n_bodies = N_BODIES_DEFAULT, .pct = "p99"};
  const struct cli_option opts[] = {
      {"duration", 0, CLI_ARG_DOUBLE, &a.duration, "S",
       "measure S seconds (with windows: at most S per point; default 10)"},
      {"rate", 0, CLI_ARG_DOUBLE, &a.rate, "R", "open loop: R requests per second"},
      {"rate-range", 0, CLI_ARG_STRING, &a.rate_range, "A:B[:STEP]", "open loop: sweep the rate"},
      {"schedule", 0, CLI_ARG_STRING, &a.schedule, "FILE",
       "open loop: gaps between sends, one per line (us, or with unit us/ms/s), cycled"},
      {"concurrency", 0, CLI_ARG_INT, &a.concurrency, "N",
       "closed loop: N requests in flight (default 1)"},
      {"concurrency-range", 0, CLI_ARG_STRING, &a.conc_range, "A:B[:STEP]",
       "closed loop: sweep the concurrency"},
      {"sla", 0, CLI_ARG_STRING, &a.sla, "pP=LAT",
       "search the range for the highest load meeting e.g. p99=50ms (exit 1: none does)"},
      {"chart", 0, CLI_ARG_STRING, &a.chart, "FILE.svg", "latency vs throughput chart of a sweep"},
      {"connections", 0, CLI_ARG_INT, &a.connections, "N",
       "open loop: at most N connections (default 64)"},
      {"poisson", 0, CLI_ARG_FLAG, &a.poisson, NULL,
       "open loop: Poisson arrivals (default: constant gaps)"},
      {"seed", 0, CLI_ARG_INT, &a.seed, "S", "seed of the Poisson schedule and bodies (default 1)"},
      {"warmup", 0, CLI_ARG_DOUBLE, &a.warmup, "S", "seconds of load before measuring (default 0)"},
      {"window", 0, CLI_ARG_DOUBLE, &a.window, "S",
       "measurement windows of S seconds until 3 agree (default 1 s in sweeps)"},
      {"stability", 0, CLI_ARG_DOUBLE, &a.stability, "PCT",
       "windows agree within +-PCT% (default 10)"},
      {"percentile", 0, CLI_ARG_STRING, &a.pct, "pP",
       "percentile of the stability rule (default p99, or the SLA's)"},
      {"timeout", 0, CLI_ARG_DOUBLE, &a.timeout, "S", "per-request timeout (default 10)"},
      {"body", 0, CLI_ARG_STRING, &a.body_path, "FILE", "request body (implies POST)"},
      {"model", 0, CLI_ARG_STRING, &a.model, "NAME",
       "KServe v2: URL is the server; POST random infer bodies shaped by GET /v2/models/NAME"},
      {"batch", 0, CLI_ARG_INT, &a.batch, "N", "--model: the size of a leading -1 dimension (default 1)"},
      {"shape", 0, CLI_ARG_STRING, &a.shape, "D,D|IN=D,D;..",
       "--model: shapes for inputs with other -1 dimensions"},
      {"binary", 0, CLI_ARG_FLAG, &a.binary, NULL,
       "--model: binary tensor data extension instead of JSON tensors"},
      {"bodies", 0, CLI_ARG_INT, &a.n_bodies, "N",
       "--model: N different bodies sent in turn (default 8)"},
      {"method", 0, CLI_ARG_STRING, &a.method, "M", "GET or POST (default GET, POST with --body)"},
      {"header", 0, CLI_ARG_STRING, &a.hdr_seen, "\"K: V\"", "extra request header (repeatable)"},
      {0}};
  const struct cli_spec spec = {
      "load",
      "URL [--rate R [--poisson] | --concurrency N | --rate-range A:B:S | --concurrency-range "
      "A:B:S [--sla p99=50ms] [--chart F.svg]] [--model NAME [--binary]] [--body FILE]",
      "HTTP load generator. Open-loop latency is timed from each request's intended send time, so "
      "a stalled server cannot hide behind a waiting client (coordinated omission); the "
      "uncorrected figure is shown beside it. Exit: 0 done, 1 not stable / SLA missed, 2 bad "
      "input, 3 server unreachable.",
      CLI_FORMAT | CLI_OUTPUT,
      opts,
      1,
      1};
  struct cli_common common;
  int npos, rc = cli_parse(&spec, argc, argv, &common, &npos);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = check_args(&a))) return rc;
  struct load_config c;
  struct load_range range;
  struct sla sla;
  fill_config(&a, argv[1], &c);
  c.n_headers = n_hdr;
  if (parse_percentile(a.pct, &c.percentile) < 0) return cli_usage_error("load", "%s", err_msg());
  if (a.sla && sla_parse(a.sla, &sla) < 0) return cli_usage_error("load", "%s", err_msg());
  if (a.sla) c.percentile = sla.percentile; /* windows agree on the percentile the SLA judges */
  if (a.rate_range && load_range_parse(a.rate_range, false, 1e7, "--rate-range", &range) < 0)
    return cli_usage_error("load", "%s", err_msg());
  if (a.conc_range &&
      load_range_parse(a.conc_range, true, 100000, "--concurrency-range", &range) < 0)
    return cli_usage_error("load", "%s", err_msg());
  if ((rc = load_inputs(&a, &c, &in)) < 0) {
    rc = cli_fail("load", rc);
  } else if (a.sla) {
    rc = run_sla(&c, &range, &sla, &common, a.chart);
  } else if (a.rate_range || a.conc_range) {
    rc = run_sweep(&c, &range, &common, a.chart);
  } else {
    rc = run_single(&c, &common);
  }
  inputs_free(&in);
  return rc;
}
